"""Learning-curve figure for internal RL and its baselines (PNG, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from irl.eval.plots import _save  # noqa: E402


def learning_curves_png(curves: dict[str, list[dict[str, float]]], path: str | Path, title: str) -> None:
    """Success vs episodes per method: median line, 25–75% band over seeds."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for i, (method, curve) in enumerate(curves.items()):
        if not curve:
            continue
        x = [p["episodes"] for p in curve]
        ax.plot(x, [p["median"] for p in curve], color=f"C{i}", label=method)
        ax.fill_between(x, [p["q25"] for p in curve], [p["q75"] for p in curve], color=f"C{i}", alpha=0.2, lw=0)
    ax.set_xlabel("episodes")
    ax.set_ylabel("success (median, 25–75% over seeds)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
