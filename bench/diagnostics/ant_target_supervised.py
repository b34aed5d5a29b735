"""Can the ant's Hawk base represent the target at all, given the target as a training signal?
(outside the pipeline; nothing written but checkpoints/ant/supervised_W*)

    python bench/diagnostics/ant_target_supervised.py [WEIGHT] [STEPS] [KEY=VALUE ...]

The default profile's model_ant and pretrain_ant on data/ant/D, with the pretraining loss plus
WEIGHT × cross-entropy of a linear head on the mid-layer residual against the true target color
(default 1.0; 0 = the pipeline's objective; `only` = the cross-entropy alone, no pretraining loss). Every 100 steps prints the head's accuracy on held-out
D* episodes. If the supervised head stays near the majority class, the observation window or the
architecture is the bottleneck; if it climbs well above the displacement rule
(bench/diagnostics/ant_target_in_history.py: 0.55–0.575), the unsupervised objective is.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ant_base_common import ant_base_setup, parse_overrides, pretraining_terms
from irl.models.hawk import HawkModel
from irl.training.batches import EpisodeBatches

only = len(sys.argv) > 1 and sys.argv[1] == "only"
weight = 1.0 if only or len(sys.argv) < 2 else float(sys.argv[1])
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
overrides = parse_overrides(sys.argv[3:])
_, data, heldout, model_cfg, cfg = ant_base_setup(overrides)
n_colors = int(heldout["layout_colors"].shape[1])
torch.manual_seed(cfg.seed)
model = HawkModel(model_cfg)
head = torch.nn.Linear(model_cfg.d_model, n_colors)
opt = torch.optim.AdamW([*model.parameters(), *head.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
batches = EpisodeBatches(data, cfg.batch_size, cfg.seed)
held = EpisodeBatches(heldout, 64, cfg.seed)
eval_eps = np.random.default_rng(cfg.seed).permutation(heldout.num_episodes)[:128]
mid = model_cfg.mid_layer


def losses(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(torque NLL, next-obs error, target cross-entropy, target accuracy) from one forward pass."""
    out = model.forward_batch(batch, return_resid=True)
    m = batch["mask"]
    logits = head(out["resid"][mid][m])
    y = batch["subgoal"][m]
    return (*pretraining_terms(out, batch), F.cross_entropy(logits, y), (logits.argmax(-1) == y).float().mean().detach())


@torch.no_grad()
def held_accuracy() -> float:
    hits = n = 0
    for s in range(0, len(eval_eps), 64):
        b = held.gather(eval_eps[s : s + 64])
        acc = losses(b)[3]
        k = int(b["mask"].sum())
        hits, n = hits + float(acc) * k, n + k
    return hits / n


t0, step, epoch = time.time(), 0, 0
while step < steps:
    for i in range(batches.batches_per_epoch):
        b = batches.batch(epoch, i)
        action_nll, next_obs, ce, acc = losses(b)
        loss = weight * ce if only else action_nll + cfg.lambda_next_obs * next_obs + weight * ce
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 100 == 0 or step == steps:
            print(json.dumps({"step": step, "action_nll": round(float(action_nll.detach()), 3), "ce": round(float(ce.detach()), 3),
                              "train_acc": round(float(acc), 3), "heldout_acc": round(held_accuracy(), 3),
                              "s": round(time.time() - t0)}), flush=True)
        if step >= steps:
            break
    epoch += 1
