"""PPO-clip without a critic (DESIGN.md §1 stage 4): one return per episode, advantages
normalised over the batch, A = (R − mean R) / (std R + 1e-3), shared by every decision of the
episode."""

from __future__ import annotations

import torch
from torch import Tensor


def batch_advantages(returns: Tensor, eps: float = 1e-3) -> Tensor:
    """(N,) episode returns → (N,) normalised advantages (all zero when every return is equal)."""
    return (returns - returns.mean()) / (returns.std(unbiased=False) + eps)


def ppo_clip_loss(logp_new: Tensor, logp_old: Tensor, advantages: Tensor, mask: Tensor, clip: float) -> tuple[Tensor, dict[str, float]]:
    """Clipped surrogate over the decisions in `mask`; logp_* and mask (K, N), advantages (N,)."""
    ratio = torch.exp(logp_new - logp_old)
    adv = advantages[None].expand_as(ratio)
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    m = mask.float()
    loss = -(surrogate * m).sum() / m.sum().clamp(min=1)
    with torch.no_grad():
        approx_kl = (((ratio - 1) - (logp_new - logp_old)) * m).sum() / m.sum().clamp(min=1)
        clipfrac = (((ratio - 1).abs() > clip).float() * m).sum() / m.sum().clamp(min=1)
    return loss, {"losses/approx_kl": float(approx_kl), "losses/clipfrac": float(clipfrac)}
