"""Discovery on the default base and D* at a given α with `rate: switch` (the KL weighted by β_t;
or RATE=step, the stage's own), scored on the held-out episodes like discover_grid.

    python bench/diagnostics/discover_rate.py STEPS ALPHA [RATE [SEED [SWITCH_NOISE [HARD]]]]   # e.g. 6000 0.13 step 1 1.0

HARD 1: `hard_switch` (integrate with the thresholded gate, gradient straight through).
"""
import json, sys, tempfile, time
from pathlib import Path
import torch, yaml
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.training.discover import DiscoverConfig, discover
torch.set_num_threads(1)
steps, alpha = int(sys.argv[1]), float(sys.argv[2])
rate = sys.argv[3] if len(sys.argv) > 3 else "switch"
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else sec["seed"]
noise = float(sys.argv[5]) if len(sys.argv) > 5 else sec.get("switch_noise", 0.0)
hard = bool(int(sys.argv[6])) if len(sys.argv) > 6 else sec.get("hard_switch", False)
cfg = DiscoverConfig(**{**sec, "steps": steps, "alpha": alpha, "rate": rate, "seed": seed, "switch_noise": noise, "device": "cpu",
                        **({"hard_switch": True} if hard else {})})
base, _ = load_model("models/grid/base")
data = load_dataset("data/grid/D_star")
def log(step, m):
    if step % 500 == 0:
        print(time.strftime("%H:%M:%S"), step, {k: round(v, 4) for k, v in m.items()}, flush=True)
t = time.time()
mc, _, res = discover(base, data, cfg, Path(tempfile.gettempdir()) / (f"irl-discover-{rate}-{alpha}-{seed}-{noise}" + ("-hard" if hard else "")), log=log)
print(json.dumps({k: res[k] for k in ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                                       "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl", "steps")}), time.time() - t, flush=True)
