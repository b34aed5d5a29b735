"""When does a discovered code start to pay? (irl/eval/code_use.py) Per run, on its held-out D*
episodes: the action NLL the mean code saves over the base alone (nats/step), by steps since the
run's own last switch (t ≥ 1), and "early" = the saving at lags 0 + 1. Label-free; the labels give
only the F1 printed beside it.

    python bench/diagnostics/code_use_lag.py MC_DIR[:SEED] [MC_DIR[:SEED] ...]
"""
import sys
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.eval.code_use import early_saving, saving_profile
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import evaluate_discovery, split_episodes

torch.set_num_threads(1)
LAGS = 8
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
base, _ = load_model("models/grid/base")
data = load_dataset("data/grid/D_star")
batches = EpisodeBatches(data, 256, 0)
print(f"{'metacontroller':48s} {'F1':>5s} {'early':>6s}  NLL saved (nats/step) at 0..{LAGS - 1}+ steps after a switch")
for arg in sys.argv[1:]:
    path, _, seed = arg.partition(":")
    mc, _ = load_model(path)
    _, held = split_episodes(data, sec["heldout_episodes"], int(seed or 0))
    per_lag = saving_profile(base, mc, batches, held, LAGS)
    f1 = evaluate_discovery(base, mc, batches, held)["boundary_f1"]
    print(f"{path[-48:]:48s} {f1:5.3f} {early_saving(per_lag):6.3f}  " + " ".join(f"{x:6.3f}" for x in per_lag), flush=True)
