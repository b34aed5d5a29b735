"""Does the discovered code space contain a solution of the post-training task? The ε = 0 expert
solves N fresh post-task layouts (0-1-2-3-4-5-6-7-0-1-2-3: 6 pairs); the metacontroller reads each
solution non-causally and sets one code per pair (z at the step of highest β within a step of the
pair's start). The base model then runs closed-loop on the *same* layouts with that code sequence:
the code of pair k while k pairs are done — the decision sequence internal RL would have to find,
with the switch at the true boundaries. `held`: the code held constant over the pair; `replayed`:
the expert pass's own z over the pair, indexed by steps since the pair began (the soft gate decays
z between switches). Also: the base alone, and the codes of another layout's solution (same task).

    python bench/diagnostics/oracle_code_sequence.py [N_EPISODES] [METACONTROLLER_DIR]
"""
import json, sys
import numpy as np
import torch
import yaml
from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.rollout import rollout
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env_cfg = GridConfig(**sec["grid_env"])
post = resolve_tasks("post", "grid", env_cfg.n_colors)
base, _ = load_model("models/grid/base"); base.eval()
mc, _ = load_model(sys.argv[2] if len(sys.argv) > 2 else "models/grid/metacontroller"); mc.eval()
sol = collect_grid(env_cfg, post, CollectConfig(episodes=n, epsilon=0.0, seed=777, task_set="post"))
data = PinpadDataset(None, {"arrays": {}}, sol.arrays)
eps = np.flatnonzero(data["success"])
b = EpisodeBatches(data, 256, 0).gather(eps)
with torch.no_grad():
    _, _, out = discovery_losses(base, mc, b, sample=False)
z, beta, sg, mask = out["z"].float(), out["beta"].float(), b["subgoal"], b["mask"]
n_pairs = len(post.tasks[0]) // post.colors_per_subgoal
T = mask.shape[1]
codes = torch.zeros(len(eps), n_pairs, mc.cfg.n_z)       # one code per pair
traces = torch.zeros(len(eps), n_pairs, T, mc.cfg.n_z)   # z over each pair, from its start
switch_hits = 0
for i in range(len(eps)):
    steps = int(mask[i].sum())
    starts = [0] + [t for t in range(1, steps) if sg[i, t] != sg[i, t - 1]]
    ends = starts[1:] + [steps]
    for k, (s, e) in enumerate(zip(starts[:n_pairs], ends[:n_pairs])):
        w = s + int(beta[i, s:min(s + 2, e)].argmax())
        codes[i, k] = z[i, w]
        traces[i, k, : e - s] = z[i, s:e]
        traces[i, k, e - s:] = z[i, e - 1]
        switch_hits += int(beta[i, s] > 0.5 or (s + 1 < e and beta[i, s + 1] > 0.5) or s == 0)
layout = dict(colors=data["layout_colors"][eps].astype(np.int64), walls=data["layout_walls"][eps].astype(np.int64),
              start=data["pos"][data.episode_offsets[eps]].astype(np.int64), task_id=data["task_id"][eps].astype(np.int64))


def run(mode: str | None, source: torch.Tensor | None = None) -> dict[str, float]:
    env = GridPinpadBatch(env_cfg, post, len(eps), seed=0)
    env.load_layouts(**layout)
    began = np.zeros(len(eps), np.int64)  # step at which the current pair began
    last_k = np.zeros(len(eps), np.int64)

    def ctrl(e: GridPinpadBatch):
        k = np.minimum(e.progress // post.colors_per_subgoal, n_pairs - 1)
        began[k != last_k] = e.t[k != last_k]
        last_k[:] = k
        rows = torch.arange(len(eps))
        if mode == "held":
            zz = source[rows, torch.from_numpy(k)]
        else:
            zz = source[rows, torch.from_numpy(k), torch.from_numpy(np.minimum(e.t - began, T - 1))]
        a, bb = mc.decode(zz)
        return mc.edit(a[:, None], bb[:, None])
    with torch.no_grad():
        rollout(base, env, controller=None if mode is None else ctrl, edit_layer=mc.cfg.layer, seed=0)
    return {"success": round(float(env.success.mean()), 3),
            "pairs_done": round(float((env.progress // post.colors_per_subgoal).mean()), 2),
            "pairs_done_hist": np.bincount(env.progress // post.colors_per_subgoal, minlength=n_pairs + 1).tolist()}


other = torch.roll(torch.arange(len(eps)), 1)
res = {"episodes": len(eps), "expert_success": float(data["success"].mean()),
       "switch_at_pair_starts": round(switch_hits / (len(eps) * n_pairs), 3),
       "base": run(None), "held": run("held", codes), "replayed": run("replayed", traces),
       "held_other_layout": run("held", codes[other]), "replayed_other_layout": run("replayed", traces[other])}
print(json.dumps(res))
