"""Pretraining the grid base model on D: −log p(a_t | o_≤t) − λ·log p(o_t+1 | o_≤t) (DESIGN.md §1).

Checkpoints (weights, AdamW state, data position, RNG) are safetensors + JSON written atomically;
a run restarted with the same config resumes from the last one and sees the same batches, so the
loss curve continues as if never stopped. Periodic evaluation logs closed-loop success and the
mid-layer subgoal probe, so a run shows *when* the abstraction forms.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import TaskSet
from irl.eval.probe import probe_by_layer
from irl.eval.rollout import fresh_env, rollout
from irl.experts.grid_expert import optimal_moves
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.training.batches import EpisodeBatches
from irl.training.blocks import split_parts
from irl.training.loop import Logger, train_loop
from irl.training.on_policy import OnPolicyBatches, OnPolicyConfig


@dataclass(frozen=True)
class PretrainConfig:
    """AdamW on D; the paper: 256k steps × 1024, lr 3e-4, wd 0.03, constant lr."""

    steps: int
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.03
    lambda_next_obs: float = 0.1
    warmup_steps: int = 100
    eval_every: int = 500
    eval_episodes: int = 512
    final_eval_episodes: int = 1024
    probe_episodes: int = 1500
    checkpoint_every: int = 250
    log_every: int = 25
    seed: int = 0
    device: str = "auto"
    # "executed": imitate the action D recorded (the paper); "optimal": DART-style, a uniform target
    # over the expert's shortest moves at that step, so its ε-noise detours are seen as states to
    # recover from but never imitated as actions.
    action_target: str = "executed"
    # "constant" after warmup (the paper), or "cosine" down to lr · min_lr_ratio at `steps`.
    lr_schedule: str = "constant"
    min_lr_ratio: float = 0.05
    # On-policy expert relabelling (DAgger, irl/training/on_policy.py): from step on_policy_start,
    # every on_policy_every steps the model rolls itself out on on_policy_episodes fresh layouts, and
    # each batch of D gains on_policy_batch_episodes of those episodes labelled with the expert's
    # moves. 0 = off (the paper's pure behaviour cloning).
    on_policy_batch_episodes: int = 0
    on_policy_every: int = 50
    on_policy_episodes: int = 1024
    on_policy_start: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.action_target not in ACTION_TARGETS:
            raise ValueError(f"action_target={self.action_target!r}: expected one of {ACTION_TARGETS}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule={self.lr_schedule!r}: expected one of {LR_SCHEDULES}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio={self.min_lr_ratio}: must be in [0, 1]")
        on_policy = self.on_policy  # validates the on_policy_* fields
        if on_policy.enabled and (self.checkpoint_every % on_policy.every or on_policy.start % on_policy.every):
            raise ValueError(f"checkpoint_every={self.checkpoint_every} and on_policy_start={on_policy.start} must be "
                             f"multiples of on_policy_every={on_policy.every}, so a resumed run rebuilds the same buffer")

    @property
    def on_policy(self) -> OnPolicyConfig:
        return OnPolicyConfig(batch_episodes=self.on_policy_batch_episodes, every=self.on_policy_every,
                              episodes=self.on_policy_episodes, start=self.on_policy_start)

    def lr_at(self, step: int) -> float:
        """Learning rate of 0-based `step`: linear warmup, then constant or cosine decay."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.lr_schedule == "constant":
            return self.lr
        frac = min(1.0, (step - self.warmup_steps) / max(self.steps - self.warmup_steps, 1))
        return self.lr * (self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


ACTION_TARGETS = ("executed", "optimal")
LR_SCHEDULES = ("constant", "cosine")


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def sequence_losses(model: PinpadTransformer, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean action NLL and next-cell NLL over the real (unpadded) steps of all the batch's blocks.

    With `batch["optimal"]` (B, T, 4) the action term is the cross-entropy to the uniform
    distribution over those moves (steps with none fall back to the recorded action). A batch with
    on-policy rows (`op_*` keys, irl.training.on_policy) runs them as a second padded block; the
    means are over the real steps of both, as if they were one batch.
    """
    parts = split_parts(batch)
    if len(parts) == 1:  # D alone: the means directly (bit-identical to runs before on-policy rows existed)
        action_nll, _, next_nll, _ = _block_losses(model, parts[0], "mean")
        return action_nll, next_nll
    sums = [_block_losses(model, part, "sum") for part in parts]
    action_sum, n_action, next_sum, n_next = (sum(s[i] for s in sums) for i in range(4))
    return action_sum / n_action, next_sum / n_next


def _block_losses(model: PinpadTransformer, batch: dict[str, torch.Tensor],
                  reduction: str) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """Action NLL and next-cell NLL of one padded block (mean or sum), with their step counts."""
    out = model(batch["colors"], batch["walls"], batch["pos"])
    m = batch["mask"]
    logits = out["action_logits"][m]
    if "optimal" in batch:
        target = F.one_hot(batch["action"][m], logits.shape[-1]).to(logits.dtype)
        opt = batch["optimal"][m].to(logits.dtype)
        n_opt = opt.sum(-1, keepdim=True)
        target = torch.where(n_opt > 0, opt / n_opt.clamp(min=1), target)
        per_step = -(target * F.log_softmax(logits, -1)).sum(-1)
        action = per_step.mean() if reduction == "mean" else per_step.sum()
    else:
        action = F.cross_entropy(logits, batch["action"][m], reduction=reduction)
    nm = batch.get("next_mask", m) & m  # on-policy rows: the model's own next cell is no target
    next_ = F.cross_entropy(out["next_cell_logits"][nm], batch["next_pos"][nm], reduction=reduction)
    return action, int(m.sum()), next_, int(nm.sum())


def _fingerprint(model_cfg: TransformerConfig, cfg: PretrainConfig, data: PinpadDataset) -> str:
    train_keys = {k: v for k, v in asdict(cfg).items() if k not in ("device",)}
    if not cfg.on_policy.enabled:  # runs without it keep the fingerprint (and checkpoints) they had
        train_keys = {k: v for k, v in train_keys.items() if not k.startswith("on_policy_")}
    blob = json.dumps({"model": model_cfg.to_dict(), "train": train_keys,
                       "data": {k: v["sha256"] for k, v in data.manifest["arrays"].items()}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@torch.no_grad()
def teacher_forced_metrics(model: PinpadTransformer, batches: EpisodeBatches, episodes: np.ndarray, size: int) -> dict[str, float]:
    """On held-out D* steps: action NLL and the optimal-action rate.

    optimal_action_rate: the model's most likely action is a shortest move toward the true next
    color. The first color of a pair is partly a guess (the task is never an input: after a pair,
    several pairs may follow), so the rate is also reported on the determined steps alone — those
    heading for the second color of a pair, which the visited first color fixes.
    """
    nll, hits, hits_det, n, n_det = 0.0, 0, 0, 0, 0
    for start in range(0, len(episodes), 256):
        b = batches.gather(episodes[start : start + 256])
        out = model(b["colors"], b["walls"], b["pos"])
        m = b["mask"]
        logits = out["action_logits"][m].float()
        nll += float(F.cross_entropy(logits, b["action"][m], reduction="sum"))
        steps_per_ep = m.sum(1).cpu().numpy()
        ep_rows = np.repeat(np.arange(m.shape[0]), steps_per_ep)
        colors, walls = b["colors"].cpu().numpy()[ep_rows], b["walls"].cpu().numpy()[ep_rows]
        pos = b["pos"][m].cpu().numpy()
        target = b["target"][m].cpu().numpy()
        ok = optimal_moves(colors, walls, pos, target, size)[np.arange(pos.size), logits.argmax(-1).cpu().numpy()]
        determined = target % 2 == 1
        hits += int(ok.sum()); n += ok.size
        hits_det += int(ok[determined].sum()); n_det += int(determined.sum())
    return {"action_nll": nll / n, "optimal_action_rate": hits / n, "optimal_action_rate_determined": hits_det / max(n_det, 1)}


def pretrain(
    model_cfg: TransformerConfig,
    cfg: PretrainConfig,
    data: PinpadDataset,
    heldout: PinpadDataset,
    env_cfg: GridConfig,
    task_set: TaskSet,
    workdir: Path,
    log: Logger | None = None,
    progress: bool = False,
) -> tuple[PinpadTransformer, dict[str, Any]]:
    """Train (or resume) the base model; return it with final metrics and the eval history."""
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = PinpadTransformer(model_cfg).to(device)
    batches: EpisodeBatches | OnPolicyBatches = EpisodeBatches(data, cfg.batch_size, cfg.seed, device,
                                                               optimal=cfg.action_target == "optimal")
    if cfg.on_policy.enabled:
        batches = OnPolicyBatches(batches, model, cfg.on_policy, env_cfg, task_set, cfg.seed)
    probe_batches = EpisodeBatches(heldout, 256, cfg.seed, device)
    n_classes = 4 if task_set.colors_per_subgoal == 2 else env_cfg.n_colors

    def loss_fn(m: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        action_nll, next_nll = sequence_losses(m, batch)
        return action_nll + cfg.lambda_next_obs * next_nll, {"action_nll": action_nll, "next_obs_nll": next_nll}

    def evaluate(state: dict[str, Any]) -> dict[str, float]:
        env = fresh_env(env_cfg, task_set, cfg.eval_episodes, seed=cfg.seed + 17 + state["step"], any_task=True)
        success = rollout(model, env, seed=cfg.seed).success_rate
        probe = probe_by_layer(model, probe_batches, cfg.probe_episodes, seed=cfg.seed, n_classes=n_classes, layers=[model_cfg.mid_layer])[0]
        ev = {"rollout_success": success, "probe_mid_layer": probe}
        if isinstance(batches, OnPolicyBatches) and batches.last_success is not None:
            ev["on_policy_success"] = batches.last_success  # sampled success of the latest on-policy collection
        return ev

    state = train_loop(model, cfg, batches, loss_fn, evaluate, workdir, _fingerprint(model_cfg, cfg, data), device,
                       log=log, progress=progress, desc="pretrain")

    model.eval()
    env = fresh_env(env_cfg, task_set, cfg.final_eval_episodes, seed=cfg.seed + 99991, any_task=True)
    final = {"rollout_success": rollout(model, env, seed=cfg.seed + 1).success_rate,
             "rollout_episodes": cfg.final_eval_episodes}
    rng = np.random.default_rng(cfg.seed)
    final.update(teacher_forced_metrics(model, probe_batches, rng.permutation(heldout.num_episodes)[:2000], env_cfg.size))
    final.update(tokens=state["tokens"], train_s=state["train_s"], tokens_per_s=state["tokens"] / max(state["train_s"], 1e-9),
                 steps=state["step"], resumed_from_step=state["resumed_from_step"], history=state["history"])
    return model, final
