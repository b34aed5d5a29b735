"""Can a discovery run be judged early? Trains the default discover_grid config (seed SEED, its
noise-free first phase) in a temporary workdir, and at each of STEPS... reports the label-free
early saving (irl/eval/code_use.py: NLL the mean code saves at lags 0 + 1 after its own switch) on
500 of its training episodes beside the held-out switch alignment the labels give. Resumes: each
STEPS point continues the last one (steps are not part of a run's fingerprint).

    python bench/diagnostics/discover_early_select.py SEED 500 1000 1500 2000
    python bench/diagnostics/discover_early_select.py SEED 5000 --root /tmp/fresh   # another clone's base and D*

Measured (seeds 0–5, two processes at a time, ~93 s per 500 steps and scoring): it cannot. At step
2000 early saving is 0.64 / 0.48 / 0.60 / 0.60 / 0.61 / 0.61 for seeds that end aligned / mid-pair /
aligned / mid-pair / over-segmenting / over-segmenting; at 3000 seed 0 (F1 already 0.85) scores
0.47 and seed 3 (mid-pair) 0.50 — while β is still graded the 0.5 threshold does not find the
run's own switches. So the stage selects at the last step (select_at: 0). (These figures counted
the code drawn at t = 0 as a switch, as code_use did until session 18's fix.) Rescored with the fix
at each run's last checkpoint: seed 0 (aligned) 0.31 at step 3000, seed 3 (mid-pair) 0.10 at 3000,
seed 1 (mid-pair) 0.08 at 2750, seed 4 (over-segmenting) 0.45 at 2750, seeds 2 / 5 0.09 / 0.32 at
2000: the mid-pair runs now score low early, but an over-segmenting run scores above the aligned one,
so selecting at 3000 would still pick the wrong kind of run.
"""
import json, sys, tempfile, time
from pathlib import Path
import torch
import yaml
import irl.training.discover as D
from irl.data.dataset import load_dataset
from irl.eval.code_use import early_saving, saving_profile
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches

torch.set_num_threads(1)
args = sys.argv[1:]
root = Path(args.pop(args.index("--root") + 1)) if "--root" in args else Path(".")
args = [a for a in args if a != "--root"]
seed, points = int(args[0]), [int(a) for a in args[1:]]
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
base, _ = load_model(root / "models/grid/base")
data = load_dataset(root / "data/grid/D_star")
work = Path(tempfile.gettempdir()) / f"irl-early-select-seed-{seed}"
train, _ = D.split_episodes(data, sec["heldout_episodes"], seed)
probe = train[:500]
batches = EpisodeBatches(data, 256, 0)
for steps in points:
    t = time.time()
    cfg = D.DiscoverConfig(**{**sec, "seed": seed, "steps": steps, "device": "cpu"})
    mc, _, res = D.discover(base, data, cfg, work)
    profile = saving_profile(base, mc, batches, probe, lags=4)
    print(json.dumps({"seed": seed, "steps": steps, "early": round(early_saving(profile), 4),
                      "profile": profile.round(3).tolist(),
                      **{k: round(res[k], 4) for k in ("boundary_f1", "switches_per_episode", "beta_nonbinary_fraction", "nll")}}),
          f"{time.time() - t:.0f}s", flush=True)
