"""Score every candidate a discovery run trained (one checkpoint per seed), not only the one the
stage selected: held-out boundary F1, precision, switches per episode, graded β and action NLL on
seed 0's and seed 1's held-out splits of D*, from each checkpoint's metacontroller weights. The
seed of a checkpoint is found by recomputing the stage's fingerprint for each candidate seed.

    python bench/diagnostics/discover_candidates.py [CHECKPOINT_ROOT]   # default checkpoints/grid/metacontroller
"""
import glob, json, sys
import torch
from safetensors.torch import load_file
from irl.config import load_profile
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.models.metacontroller import Metacontroller
from irl.training.batches import EpisodeBatches
from irl.training.discover import (DiscoverConfig, _fingerprint, effective_config, evaluate_discovery,
                                   metacontroller_config, split_episodes)

torch.set_num_threads(1)
root = sys.argv[1] if len(sys.argv) > 1 else "checkpoints/grid/metacontroller"
_, sections = load_profile("params.yaml", "default")
base, _ = load_model("models/grid/base")
base.eval()
data = load_dataset("data/grid/D_star")
seeds = range(sections["discover_grid"]["seed"], sections["discover_grid"]["seed"] + sections["discover_grid"]["candidates"])
cfgs = {s: effective_config(DiscoverConfig(**{**sections["discover_grid"], "seed": s})) for s in seeds}
seed_of = {_fingerprint(base, metacontroller_config(base, c), c, data): s for s, c in cfgs.items()}
for d in sorted(glob.glob(root + "/checkpoint-*")):
    state = json.load(open(d + "/state.json"))
    weights = load_file(d + "/model.safetensors")
    mc = Metacontroller(metacontroller_config(base, next(iter(cfgs.values()))))
    mc.load_state_dict({k.removeprefix("metacontroller."): v for k, v in weights.items() if k.startswith("metacontroller.")})
    mc.eval()
    scores = {}
    for split in (0, 1):
        _, held = split_episodes(data, sections["discover_grid"]["heldout_episodes"], split)
        r = evaluate_discovery(base, mc, EpisodeBatches(data, 256, split, "cpu"), held)
        scores[f"split {split}"] = {k: round(r[k], 4) for k in ("boundary_f1", "boundary_precision", "switches_per_episode",
                                                                 "beta_nonbinary_fraction", "nll")}
    print(json.dumps({"checkpoint": d.rsplit("/", 1)[-1], "seed": seed_of.get(d.rsplit("-", 1)[-1]), "step": state["step"],
                      **scores}))
