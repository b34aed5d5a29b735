"""Learning curves over seeds: median and 25–75% band of success vs episodes."""

from __future__ import annotations

import numpy as np


def band(curves: list[list[dict[str, float]]], points: int = 50) -> list[dict[str, float]]:
    """Resample each seed's (episodes, success_rate) curve on a common grid; median and quartiles.

    A seed's success at an episode count is its latest batch rate at or before that count.
    """
    if not curves or not all(curves):
        return []
    last = min(c[-1]["episodes"] for c in curves)
    first = max(c[0]["episodes"] for c in curves)
    grid = np.unique(np.linspace(first, last, points).round().astype(np.int64))
    rows = []
    for c in curves:
        ep = np.array([p["episodes"] for p in c])
        rate = np.array([p["success_rate"] for p in c])
        rows.append(rate[np.searchsorted(ep, grid, side="right") - 1])
    arr = np.stack(rows)
    q25, med, q75 = np.percentile(arr, [25, 50, 75], axis=0)
    return [{"episodes": int(g), "median": float(m), "q25": float(a), "q75": float(b)} for g, m, a, b in zip(grid, med, q25, q75, strict=True)]


def smoothed_first(curve: list[dict[str, float]], level: float, window: int = 5) -> int | None:
    """Episodes when the running mean of the last `window` batch rates first reaches `level`."""
    rates = [p["success_rate"] for p in curve]
    for i in range(len(rates)):
        if np.mean(rates[max(0, i - window + 1) : i + 1]) >= level:
            return int(curve[i]["episodes"])
    return None
