"""A training batch of several padded blocks: D's rows, plus on-policy rows under `op_` keys.

Each block is padded to its own length, so blocks of very different lengths cost no padding;
losses average over the real steps of all blocks (irl.training.pretrain.sequence_losses).
"""

from __future__ import annotations

import torch


ON_POLICY_PREFIX = "op_"  # keys of the second block: on-policy rows (irl.training.on_policy)


def split_parts(batch: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The blocks of a batch: D's rows, and the on-policy rows when it has them."""
    d = {k: v for k, v in batch.items() if not k.startswith(ON_POLICY_PREFIX)}
    op = {k[len(ON_POLICY_PREFIX):]: v for k, v in batch.items() if k.startswith(ON_POLICY_PREFIX)}
    return [d, op] if op else [d]


def batch_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Real (unpadded) steps in a batch, over all its blocks."""
    return sum(int(part["mask"].sum()) for part in split_parts(batch))
