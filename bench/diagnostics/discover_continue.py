"""Can a curriculum phase added to a finished run prune the switches the subgoals do not need?
Continues a default discover_grid run (its checkpoint directory, seed SEED) to STEPS with the
KEY=VALUE DiscoverConfig changes — a phase that starts at the checkpoint's step, e.g.
`late_alpha=0.25 late_alpha_from=5000` or `switch_cost=0.2 switch_cost_from=5000` — in its own
temporary workdir (the checkpoint is copied there: the phase resumes the run it repeats), then
reports the held-out switch alignment, where the switches (t ≥ 1) fall — on a true boundary, on a
mid-pair event (the pair's first color visited), elsewhere — and the label-free selection score
(irl/training/select.py). --root: another clone's base and D*. CKPT_DIR `-`: from scratch.

    python bench/diagnostics/discover_continue.py CKPT_DIR SEED STEPS [--root CLONE] KEY=VALUE ...
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
import yaml
import irl.training.discover as D
from irl.data.dataset import load_dataset
from irl.eval.code_use import early_saving, saving_profile
from irl.models.io import load_model, save_model
from irl.training.batches import EpisodeBatches

torch.set_num_threads(1)
args = sys.argv[1:]
root = Path(args.pop(args.index("--root") + 1)) if "--root" in args else Path(".")
args = [a for a in args if a != "--root"]
src, seed, steps = (None if args[0] == "-" else Path(args[0])), int(args[1]), int(args[2])
overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args[3:])}
sec = yaml.safe_load(open(Path(__file__).parents[2] / "params.yaml"))["profiles"]["default"]["discover_grid"]
cfg = D.DiscoverConfig(**{**sec, **overrides, "seed": seed, "steps": steps, "device": "cpu", "candidates": 1})
base, _ = load_model(root / "models/grid/base")
data = load_dataset(root / "data/grid/D_star")
origin = f"{src.resolve().parent.name}-{src.name[-6:]}" if src else f"scratch-{root.resolve().name}"
tag = "_".join([origin, f"seed-{seed}"] + [f"{k}-{v}" for k, v in sorted(overrides.items())])
work = Path(tempfile.gettempdir()) / f"irl-continue_{tag}"
if src and not (work / src.name).exists():
    shutil.copytree(src, work / src.name)
t = time.time()


def log(step, m):
    if step % 500 == 0:
        print(time.strftime("%H:%M:%S"), step, {k: round(v, 4) for k, v in m.items()}, flush=True)


mc, _, res = D.discover(base, data, cfg, work, log=log)
save_model(work / "model", mc)
train_eps, held = D.split_episodes(data, cfg.heldout_episodes, seed)
score = early_saving(saving_profile(base, mc, EpisodeBatches(data, 256, seed), train_eps[: cfg.select_episodes], lags=4))
# where the switches fall, on the held-out episodes
batches = EpisodeBatches(data, 256, 0)
on_boundary = on_mid = n_switch = 0
with torch.no_grad():
    for s in range(0, len(held), 250):
        b = batches.gather(held[s:s + 250])
        _, _, out = D.discovery_losses(base, mc, b, sample=False)
        beta, sg, tg, mask = out["beta"].float().numpy(), b["subgoal"].numpy(), b["target"].numpy(), b["mask"].numpy()
        for i in range(beta.shape[0]):
            T = int(mask[i].sum())
            sw = np.flatnonzero(beta[i, 1:T] > 0.5) + 1
            bd = np.flatnonzero(sg[i, 1:T] != sg[i, :T - 1]) + 1
            mid = np.setdiff1d(np.flatnonzero(tg[i, 1:T] != tg[i, :T - 1]) + 1, bd)
            on_boundary += np.isin(sw, bd).sum()
            on_mid += np.isin(sw, mid).sum()
            n_switch += sw.size
print(json.dumps({"checkpoint": str(src or "-"), "root": str(root), "seed": seed, **overrides,
                  **{k: res[k] for k in ("steps", "resumed_from_step", "boundary_f1", "switches_per_episode",
                                         "beta_nonbinary_fraction", "nll", "kl")},
                  "switches_on_boundary": on_boundary / max(n_switch, 1), "switches_on_mid_pair": on_mid / max(n_switch, 1),
                  "early_saving": score, "s": round(time.time() - t)}), flush=True)
print("model saved to", work / "model")
