"""When does a discovered code start to pay? A label-free statistic for telling the two
three-switch segmentations apart: per held-out D* step, the action NLL the mean code saves over
the base alone (nats), bucketed by steps since the metacontroller's last switch (β > 0.5). A code
that names the next subgoal should pay at once (the first moves after a boundary head for the
next pair); one that switches at the mid-pair event has its next moves fixed by the pair already
begun and should pay only later. Labels are used only for the F1 printed beside it.

    python bench/diagnostics/code_use_lag.py MC_DIR[:SEED] [MC_DIR[:SEED] ...]
"""
import sys
import numpy as np
import torch
import torch.nn.functional as F
import yaml
from irl.data.dataset import load_dataset
from irl.eval.switching import switch_alignment
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import split_episodes

torch.set_num_threads(1)
LAGS = 8
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
base, _ = load_model("models/grid/base")
base.eval()
data = load_dataset("data/grid/D_star")
batches = EpisodeBatches(data, 256, 0)
print(f"{'metacontroller':48s} {'F1':>5s} {'early':>6s}  NLL saved (nats/step) at 0..{LAGS - 1}+ steps after a switch"
      "  (early = saved at lags 0 + 1)")
for arg in sys.argv[1:]:
    path, _, seed = arg.partition(":")
    mc, _ = load_model(path)
    mc.eval()
    _, held = split_episodes(data, sec["heldout_episodes"], int(seed or 0))
    saved, count = np.zeros(LAGS), np.zeros(LAGS)
    betas, subgoals = [], []
    with torch.no_grad():
        for s in range(0, len(held), 250):
            b = batches.gather(held[s:s + 250])
            m = b["mask"]
            keep = {}

            def edit(x):
                out = mc(x, m, sample=False)
                keep.update(out)
                return mc.apply_edit(x, out["A"].to(x.dtype), out["B"].to(x.dtype))

            ctrl = base.forward_batch(b, edit_layer=mc.cfg.layer, edit=edit)["action_logits"]
            alone = base.forward_batch(b)["action_logits"]
            gain = (F.cross_entropy(alone.flatten(0, 1), b["action"].flatten(), reduction="none")
                    - F.cross_entropy(ctrl.flatten(0, 1), b["action"].flatten(), reduction="none")).view(m.shape).numpy()
            beta, mask = keep["beta"].float().numpy(), m.numpy()
            for i in range(beta.shape[0]):
                T = int(mask[i].sum())
                lag = 0
                for t in range(T):
                    lag = 0 if (t == 0 or beta[i, t] > 0.5) else lag + 1
                    k = min(lag, LAGS - 1)
                    saved[k] += gain[i, t]
                    count[k] += 1
                betas.append(beta[i, :T])
                subgoals.append(b["subgoal"][i, :T].numpy())
    f1 = switch_alignment(betas, subgoals)["boundary_f1"]
    per_lag = saved / np.maximum(count, 1)
    print(f"{path[-48:]:48s} {f1:5.3f} {per_lag[0] + per_lag[1]:6.3f}  " + " ".join(f"{x:6.3f}" for x in per_lag), flush=True)
