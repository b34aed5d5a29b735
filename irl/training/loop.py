"""The sequence-model training loop shared by the grid transformer and the ant's Hawk.

AdamW with the config's lr schedule, a fixed batch order per (seed, epoch), periodic evaluation,
and atomic checkpoints (weights, optimizer, data position, history) keyed by a fingerprint of
everything that decides the trajectory — a run killed at any point and started again with the
same config resumes from its last checkpoint and sees the same batches, so the loss curve
continues as if never stopped. What differs per model is passed in: the batches, the loss and
the evaluation.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from irl.training.blocks import batch_tokens
from irl.training.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint

Logger = Callable[[int, dict[str, float]], None]
Batch = dict[str, Tensor]
# loss(model, batch) → (total loss, scalar parts logged as losses/<name>)
LossFn = Callable[[nn.Module, Batch], tuple[Tensor, dict[str, Tensor]]]


class Schedule(Protocol):
    steps: int
    lr: float
    weight_decay: float
    eval_every: int
    checkpoint_every: int
    log_every: int

    def lr_at(self, step: int) -> float: ...


class BatchSource(Protocol):
    batches_per_epoch: int

    def batch(self, epoch: int, index: int) -> Batch: ...


def train_loop(model: nn.Module, cfg: Schedule, batches: BatchSource, loss_fn: LossFn,
               evaluate: Callable[[dict[str, Any]], dict[str, float]], workdir: Path, fingerprint: str,
               device: torch.device, log: Logger | None = None, progress: bool = False,
               desc: str = "train") -> dict[str, Any]:
    """Train `model` in place (or resume it) to `cfg.steps`; return the loop state (step, tokens,
    train_s, history of evaluations). `evaluate(state)` runs in eval mode every `eval_every` steps."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt = checkpoint_dir(workdir, fingerprint)
    state: dict[str, Any] = {"step": 0, "epoch": 0, "index": 0, "tokens": 0, "train_s": 0.0, "history": []}
    if (ckpt / "state.json").is_file():
        state = load_checkpoint(ckpt, model, opt, device)
    resumed_from = state["step"]
    state["fingerprint"] = fingerprint
    log = log or (lambda step, metrics: None)
    bar = tqdm(total=cfg.steps, initial=state["step"], desc=desc, disable=not progress)
    model.train()
    window_tokens, window_t0 = 0, time.perf_counter()
    while state["step"] < cfg.steps:
        t0 = time.perf_counter()
        batch = batches.batch(state["epoch"], state["index"])
        lr = cfg.lr_at(state["step"])
        for group in opt.param_groups:
            group["lr"] = lr
        loss, parts = loss_fn(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens = batch_tokens(batch)
        state["tokens"] += tokens
        window_tokens += tokens
        state["train_s"] += time.perf_counter() - t0
        state["step"] += 1
        state["index"] += 1
        if state["index"] >= batches.batches_per_epoch:
            state["epoch"], state["index"] = state["epoch"] + 1, 0
        bar.update(1)
        if state["step"] % cfg.log_every == 0:
            now = time.perf_counter()
            metrics = {**{f"losses/{k}": v.item() for k, v in parts.items()}, "losses/total": loss.item(),
                       "perf/tokens_per_s": window_tokens / (now - window_t0), "charts/tokens": state["tokens"],
                       "charts/lr": lr}
            window_tokens, window_t0 = 0, now
            bar.set_postfix(loss=f"{loss.item():.3f}")
            log(state["step"], metrics)
        if state["step"] % cfg.eval_every == 0 or state["step"] == cfg.steps:
            model.eval()
            ev = evaluate(state)
            model.train()
            state["history"].append({"step": state["step"], "tokens": state["tokens"], "train_s": state["train_s"], **ev})
            log(state["step"], {f"eval/{k}": v for k, v in ev.items()})
            window_t0 = time.perf_counter()
        if state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.steps:
            save_checkpoint(ckpt, model, opt, state)
    bar.close()
    model.eval()
    # this call's first step (0: a fresh run): a run resumed after a kill reports its wall time
    # from here, its train_s (pure step time) over every call
    state["resumed_from_step"] = resumed_from
    return state
