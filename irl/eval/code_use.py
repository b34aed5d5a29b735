"""When a discovered code pays: the action NLL it saves over the base alone, by steps since the
metacontroller's own last switch (issue 4). Label-free: it separates the two three-switch
segmentations of D* that score the same on the training objective — a code that names the next
subgoal pays at once (the first moves after a boundary head for the next pair), one switched at the
mid-pair event pays only later, when the pair already begun is finished
(README, "Controller discovery").
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from irl.models.metacontroller import Metacontroller, sequence_edit
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches


def steps_since_switch(beta: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(B, T) β → (B, T) steps since the last switch the run chose (β_t > threshold at t ≥ 1); −1
    before its first. The code drawn at t = 0 is not counted: every run draws it, and a run that
    never switches again (one code per episode, read off the whole sequence) would otherwise score
    that code's saving at the start of every episode as "paying at once"."""
    b, t = beta.shape
    steps = np.broadcast_to(np.arange(t), (b, t))
    switch = beta > threshold
    switch[:, 0] = False
    last = np.maximum.accumulate(np.where(switch, steps, -1), axis=1)
    return np.where(last >= 0, steps - last, -1)


def saving_by_lag(saved: np.ndarray, beta: np.ndarray, mask: np.ndarray, lags: int = 8,
                  threshold: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Sums and counts of per-step `saved` (B, T) over real steps after a run's first switch, by
    steps since its last switch; the last bucket pools every lag ≥ lags − 1."""
    if lags < 1:
        raise ValueError(f"lags={lags}: must be >= 1")
    lag = np.minimum(steps_since_switch(beta, threshold), lags - 1)
    m = np.asarray(mask, dtype=bool) & (lag >= 0)
    return (np.bincount(lag[m], weights=saved[m], minlength=lags),
            np.bincount(lag[m], minlength=lags).astype(np.float64))


@torch.no_grad()
def code_saving(base: PinpadTransformer, mc: Metacontroller, batch: dict[str, torch.Tensor]) -> tuple[np.ndarray, np.ndarray]:
    """Per step of a D* batch: NLL(base alone) − NLL(with the mean code), and β."""
    held: dict[str, torch.Tensor] = {}
    m = batch["mask"]
    edit = sequence_edit(mc, m, held, sample=False)

    def nll(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1), batch["action"].flatten(), reduction="none").view(m.shape)

    controlled = nll(base.forward_batch(batch, edit_layer=mc.cfg.layer, edit=edit)["action_logits"])
    alone = nll(base.forward_batch(batch)["action_logits"])
    return (alone - controlled).float().cpu().numpy(), held["beta"].float().cpu().numpy()


def saving_profile(base: PinpadTransformer, mc: Metacontroller, batches: EpisodeBatches, episodes: np.ndarray,
                   lags: int = 8, chunk: int = 250) -> np.ndarray:
    """(lags,) mean NLL the mean code saves (nats/step) over `episodes` of D*, by steps since the
    metacontroller's last switch (the last entry pools lags ≥ lags − 1)."""
    if len(episodes) == 0:
        raise ValueError("saving_profile: no episodes")
    sums, counts = np.zeros(lags), np.zeros(lags)
    for start in range(0, len(episodes), chunk):
        b = batches.gather(episodes[start : start + chunk])
        saved, beta = code_saving(base, mc, b)
        part = saving_by_lag(saved, beta, b["mask"].cpu().numpy(), lags)
        sums, counts = sums + part[0], counts + part[1]
    return sums / np.maximum(counts, 1)


def early_saving(profile: np.ndarray) -> float:
    """What a code saves in the first two steps after its switch (lags 0 and 1): high when each
    code names the subgoal about to be pursued, not one already under way; 0 for a run that never
    switches after t = 0."""
    return float(profile[0] + profile[1])
