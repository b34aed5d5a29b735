"""Are the discovered codes layout-specific? Held-out D* episodes: the code the metacontroller sets
at t = 0 (β_0 = 1, z_0 = μ_0) for the episode's first pair g. Fresh rollouts of the base model on
the *same* layout and start (any_task mode), the code held for the whole episode; an episode is
steered when the first pair it completes is g. Compared with: no code (the base rate); the code of
another held-out episode with the same first pair but another layout; the mean code of g over all
held-out episodes (what the steering check in `irl/eval/steering.py` injects).

    python bench/diagnostics/steer_same_layout.py [N_EPISODES] [METACONTROLLER_DIR]
"""
import json, sys
import numpy as np
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.code_oracle import replay_layouts
from irl.eval.rollout import rollout
from irl.eval.steering import first_pair
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses, split_episodes

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env_cfg = GridConfig(**sec["grid_env"])
base, _ = load_model("models/grid/base"); base.eval()
mc, _ = load_model(sys.argv[2] if len(sys.argv) > 2 else "models/grid/metacontroller"); mc.eval()
data = load_dataset("data/grid/D_star")
_, held = split_episodes(data, sec["discover_grid"]["heldout_episodes"], sec["discover_grid"]["seed"])
held = held[:n]
batches = EpisodeBatches(data, 256, 0)
codes, first = [], []
with torch.no_grad():
    for s in range(0, len(held), 250):
        b = batches.gather(held[s:s + 250])
        _, _, out = discovery_losses(base, mc, b, sample=False)
        codes.append(out["z"][:, 0].float()); first.append(b["subgoal"][:, 0])
codes, first = torch.cat(codes), torch.cat(first).numpy()
layout = replay_layouts(data, held)
rng = np.random.default_rng(0)
other = np.empty(len(held), np.int64)  # another episode with the same first pair
for g in np.unique(first):
    idx = np.flatnonzero(first == g)
    other[idx] = idx[(np.arange(idx.size) + 1 + rng.integers(idx.size - 1, size=idx.size)) % idx.size]
mean = torch.stack([codes[torch.from_numpy(first == g)].mean(0) for g in range(int(first.max()) + 1)])
ts = resolve_tasks("pretrain", "grid", env_cfg.n_colors)


def reach(z: torch.Tensor | None, seed: int = 0) -> float:
    env = GridPinpadBatch(env_cfg, ts, len(held), seed=seed, any_task=True)
    env.load_layouts(**layout)
    ctrl = None
    if z is not None:
        a, b = mc.decode(z)
        edit = mc.edit(a[:, None], b[:, None])
        ctrl = lambda e: edit
    with torch.no_grad():
        rollout(base, env, controller=ctrl, edit_layer=mc.cfg.layer, seed=seed)
    return round(float((first_pair(env) == first).mean()), 3)


res = {"episodes": len(held), "base": reach(None), "own_code": reach(codes),
       "same_pair_other_layout": reach(codes[torch.from_numpy(other)]), "mean_code": reach(mean[torch.from_numpy(first)])}
print(json.dumps(res))
