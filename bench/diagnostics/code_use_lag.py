"""When does a discovered code start to pay? (irl/eval/code_use.py) Per run, on its held-out D*
episodes: the action NLL the mean code saves over the base alone (nats/step), by steps since the
run's own last switch, and "early" = the saving at lags 0 + 1. Label-free; the labels give only the
F1 printed beside it.

    python bench/diagnostics/code_use_lag.py MC_DIR[:SEED] [MC_DIR[:SEED] ...]
"""
import sys
import numpy as np
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.eval.code_use import code_saving, saving_by_lag
from irl.eval.switching import switch_alignment
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import split_episodes

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
    sums, counts = np.zeros(LAGS), np.zeros(LAGS)
    betas, subgoals = [], []
    for s in range(0, len(held), 250):
        b = batches.gather(held[s:s + 250])
        saved, beta = code_saving(base, mc, b)
        mask = b["mask"].numpy()
        part = saving_by_lag(saved, beta, mask, LAGS)
        sums, counts = sums + part[0], counts + part[1]
        lengths = mask.sum(1)
        betas += [beta[i, :n] for i, n in enumerate(lengths)]
        subgoals += [b["subgoal"][i, :n].numpy() for i, n in enumerate(lengths)]
    per_lag = sums / np.maximum(counts, 1)
    f1 = switch_alignment(betas, subgoals)["boundary_f1"]
    print(f"{path[-48:]:48s} {f1:5.3f} {per_lag[0] + per_lag[1]:6.3f}  " + " ".join(f"{x:6.3f}" for x in per_lag), flush=True)
