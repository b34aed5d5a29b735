"""Where does the switch fire? For a discovered metacontroller, the offsets of its switches
(β > 0.5, t ≥ 1) from the nearest true subgoal boundary (a pair completed) and from the nearest
mid-pair event (the pair's first color visited, where the target changes inside a pair), on the
stage's held-out D* episodes. A switch that aligns with neither is placed elsewhere.

    python bench/diagnostics/switch_timing.py [MC_DIR] [SEED]
"""
import collections, sys
import numpy as np
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses, split_episodes

torch.set_num_threads(1)
mc_dir = sys.argv[1] if len(sys.argv) > 1 else "models/grid/metacontroller"
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
base, _ = load_model("models/grid/base")
mc, _ = load_model(mc_dir)
base.eval(); mc.eval()
data = load_dataset("data/grid/D_star")
_, held = split_episodes(data, sec["heldout_episodes"], seed)
batches = EpisodeBatches(data, 256, 0)
to_boundary, to_mid = collections.Counter(), collections.Counter()
n_switch = n_episodes = 0
with torch.no_grad():
    for s in range(0, len(held), 250):
        b = batches.gather(held[s:s + 250])
        _, _, out = discovery_losses(base, mc, b, sample=False)
        beta, sg, tg, mask = out["beta"].float().numpy(), b["subgoal"].numpy(), b["target"].numpy(), b["mask"].numpy()
        for i in range(beta.shape[0]):
            T = int(mask[i].sum())
            sw = np.flatnonzero(beta[i, 1:T] > 0.5) + 1
            bd = np.flatnonzero(sg[i, 1:T] != sg[i, :T - 1]) + 1
            tc = np.flatnonzero(tg[i, 1:T] != tg[i, :T - 1]) + 1
            mid = np.setdiff1d(tc, bd)
            for t in sw:
                d_b = (t - bd)[np.argmin(np.abs(t - bd))] if bd.size else 99
                d_m = (t - mid)[np.argmin(np.abs(t - mid))] if mid.size else 99
                to_boundary[int(np.clip(d_b, -6, 6))] += 1
                to_mid[int(np.clip(d_m, -6, 6))] += 1
            n_switch += sw.size
            n_episodes += 1
print(f"{mc_dir}: {n_episodes} held-out episodes, {n_switch / n_episodes:.2f} switches (t >= 1) per episode")
for name, c in (("offset from nearest true boundary", to_boundary), ("offset from nearest mid-pair event", to_mid)):
    tot = sum(c.values())
    print(name + ":", {k: round(c[k] / tot, 3) for k in sorted(c, key=lambda x: (isinstance(x, str), x)) if c[k]})
