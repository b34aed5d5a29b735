"""Linear probes on the residual stream (DESIGN.md §1 evidence (a)).

A multinomial logistic regression per layer, fitted by L-BFGS on training episodes and scored on
held-out episodes (split by episode, never by step, so a probe cannot memorise an episode).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from irl.models.hawk import HawkModel
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches


@torch.no_grad()
def residuals(model: PinpadTransformer | HawkModel, batches: EpisodeBatches, episodes: np.ndarray, chunk: int = 256) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Residual streams at every layer for the given episodes' steps: (L+1 × (S, d), labels (S,))."""
    per_layer: list[list[torch.Tensor]] = [[] for _ in range(model.cfg.n_layers + 1)]
    labels = []
    for start in range(0, len(episodes), chunk):
        b = batches.gather(episodes[start : start + chunk])
        out = model.forward_batch(b, return_resid=True)
        m = b["mask"]
        for layer, r in enumerate(out["resid"]):
            per_layer[layer].append(r[m].float().cpu())
        labels.append(b["subgoal"][m].cpu())
    return [torch.cat(x) for x in per_layer], torch.cat(labels)


def fit_probe(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
              n_classes: int, l2: float = 1e-4, max_iter: int = 200) -> float:
    """Test accuracy of a standardised multinomial logistic regression."""
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    xtr, xte = (x_train - mu) / sd, (x_test - mu) / sd
    w = torch.zeros(xtr.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xtr @ w + b, y_train) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float(((xte @ w + b).argmax(-1) == y_test).float().mean())


def probe_by_layer(model: PinpadTransformer | HawkModel, batches: EpisodeBatches, n_episodes: int, seed: int,
                   n_classes: int, layers: list[int] | None = None) -> list[float]:
    """Held-out subgoal-probe accuracy for each layer (0 = embedding, L = last block)."""
    rng = np.random.default_rng(seed)
    episodes = rng.permutation(batches.lengths.size)[:n_episodes]
    split = int(0.7 * len(episodes))
    train_r, train_y = residuals(model, batches, episodes[:split])
    test_r, test_y = residuals(model, batches, episodes[split:])
    layers = list(range(model.cfg.n_layers + 1)) if layers is None else layers
    return [fit_probe(train_r[l], train_y, test_r[l], test_y, n_classes) for l in layers]
