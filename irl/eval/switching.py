"""How well a switch gate β_t lines up with the true subgoal boundaries (issue 4, paper Fig. 5).

Conventions (the same for predicted and true switches, so the counts compare like for like):
- a *true boundary* is a step t ≥ 1 whose subgoal differs from step t − 1's: the first step
  spent on a new subgoal;
- a *predicted boundary* is a step t ≥ 1 with β_t > threshold (β_0 is 1 by construction: the
  first code is always drawn, and is not scored);
- boundaries match one to one within ±`tolerance` steps (each true boundary takes the nearest
  unmatched prediction); precision, recall and F1 are pooled over all episodes;
- switches per episode = 1 + predicted boundaries, true subgoals per episode = 1 + true
  boundaries (both count the code drawn at t = 0);
- β is "non-binary" in [0.1, 0.9], counted over steps t ≥ 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def true_boundaries(subgoal: np.ndarray) -> np.ndarray:
    """Steps t ≥ 1 where the subgoal changes, for one episode's (T,) labels."""
    subgoal = np.asarray(subgoal)
    return np.flatnonzero(subgoal[1:] != subgoal[:-1]) + 1


def match_boundaries(predicted: np.ndarray, true: np.ndarray, tolerance: int = 1) -> int:
    """Number of one-to-one matches |p − t| ≤ tolerance (true boundaries in order, nearest first)."""
    free = list(np.sort(np.asarray(predicted)))
    hits = 0
    for t in np.sort(np.asarray(true)):
        best = None
        for i, p in enumerate(free):
            if abs(int(p) - int(t)) <= tolerance and (best is None or abs(int(p) - int(t)) < abs(int(free[best]) - int(t))):
                best = i
        if best is not None:
            free.pop(best)
            hits += 1
    return hits


def switch_alignment(betas: Sequence[np.ndarray], subgoals: Sequence[np.ndarray], threshold: float = 0.5,
                     tolerance: int = 1) -> dict[str, float]:
    """Boundary precision/recall/F1, switches vs true subgoals per episode, β non-binary fraction."""
    if len(betas) != len(subgoals) or not betas:
        raise ValueError(f"switch_alignment: {len(betas)} β traces for {len(subgoals)} label sequences")
    n_pred = n_true = hits = 0
    nonbinary = scored = 0
    for beta, sub in zip(betas, subgoals, strict=True):
        beta, sub = np.asarray(beta, dtype=np.float64), np.asarray(sub)
        if beta.shape != sub.shape:
            raise ValueError(f"switch_alignment: β of shape {beta.shape} for labels of shape {sub.shape}")
        pred = np.flatnonzero(beta[1:] > threshold) + 1
        true = true_boundaries(sub)
        n_pred, n_true = n_pred + pred.size, n_true + true.size
        hits += match_boundaries(pred, true, tolerance)
        nonbinary += int(((beta[1:] >= 0.1) & (beta[1:] <= 0.9)).sum())
        scored += beta.size - 1
    precision = hits / n_pred if n_pred else 0.0
    recall = hits / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    n = len(betas)
    return {"boundary_precision": precision, "boundary_recall": recall, "boundary_f1": f1,
            "switches_per_episode": 1 + n_pred / n, "true_subgoals_per_episode": 1 + n_true / n,
            "beta_nonbinary_fraction": nonbinary / max(scored, 1), "episodes": n}
