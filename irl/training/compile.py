"""Training the CompILE baseline on D* through the frozen base model (irl.models.compile).

Loss = action NLL under the decoded edits + α·(Σ_k KL(z_k) per step) + the switch's BCE to
CompILE's own boundaries. Same data split, batches, checkpoints and held-out switch metrics as
the metacontroller's discovery (irl.training.discover).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from irl.data.dataset import PinpadDataset
from irl.eval.switching import switch_alignment
from irl.models.compile import CompILEConfig, CompILEControl
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches
from irl.training.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint
from irl.training.discover import DiscoverConfig, discovery_losses, split_episodes
from irl.training.pretrain import resolve_device
from irl.training.seeding import seeded


def train_compile(base: PinpadTransformer, data: PinpadDataset, cfg: DiscoverConfig, n_segments: int = 4,
                  workdir: Path | None = None) -> tuple[CompILEControl, dict[str, Any]]:
    """Train (or resume) CompILE + its causal switch with the base frozen; held-out metrics."""
    device = resolve_device(cfg.device)
    base = base.to(device).eval()
    for p in base.parameters():
        p.requires_grad_(False)
    with seeded(cfg.seed):  # baselines train in parallel threads (irl/training/seeding.py)
        model = CompILEControl(CompILEConfig(d_model=base.cfg.d_model, layer=base.cfg.mid_layer, n_segments=n_segments)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_eps, held_eps = split_episodes(data, cfg.heldout_episodes, cfg.seed)
    batches = EpisodeBatches(data, cfg.batch_size, cfg.seed, device, episodes=train_eps)
    state: dict[str, Any] = {"step": 0, "epoch": 0, "index": 0, "train_s": 0.0}
    ckpt = checkpoint_dir(workdir, f"compile-{cfg.seed}-{cfg.alpha:g}-{cfg.lr:g}-{cfg.batch_size}") if workdir else None
    if ckpt is not None and (ckpt / "state.json").is_file():
        state = load_checkpoint(ckpt, model, opt, device)
    gen = torch.Generator(device="cpu")
    while state["step"] < cfg.steps:
        t0 = time.perf_counter()
        gen.manual_seed(cfg.seed * 1_000_003 + state["step"])
        nll, kl, out = discovery_losses(base, model, batches.batch(state["epoch"], state["index"]), generator=gen)
        loss = nll + cfg.alpha * kl + out["switch_loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["train_s"] += time.perf_counter() - t0
        state["step"] += 1
        state["index"] += 1
        if state["index"] >= batches.batches_per_epoch:
            state["epoch"], state["index"] = state["epoch"] + 1, 0
        if ckpt is not None and (state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.steps):
            save_checkpoint(ckpt, model, opt, state)
    model.eval()
    betas, subgoals, nll_sum, n = [], [], 0.0, 0
    held = EpisodeBatches(data, 256, cfg.seed, device)
    with torch.no_grad():
        for start in range(0, len(held_eps), 256):
            b = held.gather(held_eps[start : start + 256])
            nll, _, out = discovery_losses(base, model, b, sample=False)
            steps = int(b["mask"].sum())
            nll_sum, n = nll_sum + float(nll) * steps, n + steps
            # the causal switch is what internal RL uses: score it
            beta, sub = out["beta"].cpu().numpy(), b["subgoal"].cpu().numpy()
            for i, length in enumerate(b["mask"].sum(1).cpu().numpy()):
                betas.append(beta[i, :length])
                subgoals.append(sub[i, :length])
    return model, {"nll": nll_sum / max(n, 1), **switch_alignment(betas, subgoals), "train_s": state["train_s"],
                   "steps": state["step"], "heldout_mean_length": float(np.mean([len(s) for s in subgoals]))}
