"""Does predicting where the ant will be make the base encode where it is going? (outside the
pipeline; nothing written)

    python bench/diagnostics/ant_future_xy.py WEIGHT [STEPS] [HORIZON] [beta=B] [privileged=1] [KEY=VALUE ...]

The default profile's model_ant and pretrain_ant on data/ant/D, with the pretraining loss plus
WEIGHT × the squared error of a linear head on the mid-layer residual predicting the torso's xy
displacement over the next HORIZON steps (default 25; standardised; to the episode's last position
where the episode ends sooner) — a self-supervised loss on observations alone, no labels. WEIGHT 0
is the pipeline's objective. Every 100 steps: a linear probe of the true target trained online on
the *detached* mid-layer residual (it never shapes the model), scored on held-out D* episodes, and
the held-out action NLL. Compare the probe with ant_target_supervised.py (the ceiling, ~0.54) and
the displacement rule of ant_target_in_history.py (0.55–0.575).

beta=B (default 0, the plain Gaussian NLL): β-NLL (Seitzer et al. 2022) — each step's torque NLL
weighted by the detached σ^(2B), so a confident prediction (σ ≈ 0.02–0.1 here) does not scale its
gradient by 1/σ² and swamp every other signal in AdamW's second moments; B = 1 gives the mean the
gradient of a squared error.

privileged=1: the true target color is appended to every observation (one-hot) — not the method,
a measure of how much the pretraining loss rewards knowing the target: compare its held-out torque
NLL step for step with the same run without it.
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

XY = slice(27, 29)  # AntPinpadEnv._obs: symlog(qpos[2:]) 13, symlog(qvel) 14, then xy / half
weight = float(sys.argv[1])
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
horizon = int(sys.argv[3]) if len(sys.argv) > 3 else 25
overrides = parse_overrides(sys.argv[4:])
nll_beta = float(overrides.pop("beta", 0.0))
privileged = bool(overrides.pop("privileged", 0))
_, data, heldout, model_cfg, cfg = ant_base_setup(overrides, target_input=privileged)
n_colors = int(heldout["layout_colors"].shape[1])
torch.manual_seed(cfg.seed)
model = HawkModel(model_cfg)
future_head = torch.nn.Linear(model_cfg.d_model, 2)
probe = torch.nn.Linear(model_cfg.d_model, n_colors)
opt = torch.optim.AdamW([*model.parameters(), *future_head.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
probe_opt = torch.optim.Adam(probe.parameters(), lr=3e-3)
batches = EpisodeBatches(data, cfg.batch_size, cfg.seed)
held = EpisodeBatches(heldout, 64, cfg.seed)
eval_eps = np.random.default_rng(cfg.seed).permutation(heldout.num_episodes)[:128]
mid = model_cfg.mid_layer
scale = None


def displacement(batch: dict) -> torch.Tensor:
    """(B, T, 2): xy at min(t + horizon, last step) − xy at t."""
    xy, lengths = batch["obs"][..., XY], batch["mask"].sum(1)
    t = torch.arange(xy.shape[1])
    later = torch.minimum(t[None] + horizon, lengths[:, None] - 1)
    return torch.gather(xy, 1, later[..., None].expand(-1, -1, 2)) - xy


def forward(batch: dict) -> dict:
    obs = batch["obs"]
    if privileged:
        obs = torch.cat([obs, F.one_hot(batch["subgoal"].clamp(min=0), n_colors).float()], -1)
    return model(obs, return_resid=True)


def step_losses(batch: dict) -> dict[str, torch.Tensor]:
    global scale
    out = forward(batch)
    m = batch["mask"]
    a_nll, next_obs = pretraining_terms(out, batch, nll_beta)
    d = displacement(batch)[m]
    if scale is None:
        scale = d.std(0).clamp(min=1e-6)
    future = ((future_head(out["resid"][mid][m]) - d / scale) ** 2).sum(-1).mean()
    probe_ce = F.cross_entropy(probe(out["resid"][mid][m].detach()), batch["subgoal"][m])
    return {"action_nll": a_nll, "next_obs": next_obs, "future": future, "probe_ce": probe_ce}


@torch.no_grad()
def held_out() -> dict[str, float]:
    hits = n = 0
    nll = 0.0
    for s in range(0, len(eval_eps), 64):
        b = held.gather(eval_eps[s : s + 64])
        out = forward(b)
        m = b["mask"]
        hits += int((probe(out["resid"][mid][m]).argmax(-1) == b["subgoal"][m]).sum())
        k = int(m.sum())
        nll += float(pretraining_terms(out, b)[0]) * k
        n += k
    return {"probe_heldout": round(hits / n, 3), "action_nll_heldout": round(nll / n, 3)}


t0, step, epoch = time.time(), 0, 0
while step < steps:
    for i in range(batches.batches_per_epoch):
        for g in opt.param_groups:  # the pipeline's schedule (train_loop: no gradient clipping)
            g["lr"] = cfg.lr_at(step)
        parts = step_losses(batches.batch(epoch, i))
        loss = parts["action_nll"] + cfg.lambda_next_obs * parts["next_obs"] + weight * parts["future"]
        opt.zero_grad()
        probe_opt.zero_grad()
        (loss + parts["probe_ce"]).backward()  # the probe's input is detached: its loss trains the probe only
        opt.step()
        probe_opt.step()
        step += 1
        if step % 100 == 0 or step == steps:
            print(json.dumps({"step": step, **{k: round(float(v.detach()), 3) for k, v in parts.items()},
                              **held_out(), "s": round(time.time() - t0)}), flush=True)
        if step >= steps:
            break
    epoch += 1
