"""Can a label-free criterion pick, among discovery seeds, the runs whose switches align with the
subgoals? Scores metacontrollers on the same fresh D*-distribution episodes (ε = 0 expert, a seed
no stage uses): the training objective's terms — action NLL with codes sampled as in training,
KL, their sum at the stage's α (the negative ELBO) — next to the label-based F1, switches per
episode, and the NLL with the mean code (what the stage reports).

    python bench/diagnostics/discover_select.py MC_DIR [MC_DIR ...]
"""
import sys, tempfile
import numpy as np
import torch
import yaml
from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import load_dataset, save_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses, evaluate_discovery

torch.set_num_threads(1)
EPISODES, DRAWS = 2000, 4
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
alpha = prof["discover_grid"]["alpha"]
base, _ = load_model("models/grid/base")
base.eval()
env = GridConfig(**prof["grid_env"])
r = collect_grid(env, resolve_tasks("pretrain", "grid", env.n_colors), CollectConfig(EPISODES, 0.0, seed=20261205))
path = tempfile.mkdtemp() + "/D_star_select"
save_dataset(path, r.arrays, r.meta)
data = load_dataset(path)
episodes = np.arange(data.num_episodes)
batches = EpisodeBatches(data, 256, 0)
print(f"{EPISODES} fresh episodes, α = {alpha}, {DRAWS} code draws")
print(f"{'metacontroller':60s} {'NLL(sampled)':>12s} {'KL':>6s} {'-ELBO':>7s} {'NLL(mean)':>9s} {'F1':>5s} {'switches':>8s}")
for d in sys.argv[1:]:
    mc, _ = load_model(d)
    mc.eval()
    gen = torch.Generator().manual_seed(0)
    nll_s = kl_s = n = 0.0
    with torch.no_grad():
        for s in range(0, len(episodes), 250):
            b = batches.gather(episodes[s:s + 250])
            steps = float(b["mask"].sum())
            for _ in range(DRAWS):
                nll, kl, _ = discovery_losses(base, mc, b, sample=True, generator=gen, switch_noise=False)
                nll_s += float(nll) * steps / DRAWS
                kl_s += float(kl) * steps / DRAWS
            n += steps
        res = evaluate_discovery(base, mc, batches, episodes)
    print(f"{d[-60:]:60s} {nll_s / n:12.4f} {kl_s / n:6.3f} {(nll_s + alpha * kl_s) / n:7.4f} {res['nll']:9.4f} "
          f"{res['boundary_f1']:5.3f} {res['switches_per_episode']:8.2f}", flush=True)
