"""Figures written by the stages (PNG, matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from irl.io import atomic_write_bytes  # noqa: E402


def _save(fig: plt.Figure, path: str | Path) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def probe_by_layer_png(accuracy: list[float], chance: float, path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(range(len(accuracy)), accuracy, "o-", label="linear probe (held-out episodes)")
    ax.axhline(chance, color="gray", ls="--", label=f"chance {chance:.2f}")
    ax.set_xticks(range(len(accuracy)))
    ax.set_xlabel("layer (0 = embedding)")
    ax.set_ylabel("subgoal accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    _save(fig, path)


def layer_sweep_png(rows: list[dict], uncontrolled: float, path: str | Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for rank in sorted({str(r["rank"]) for r in rows}):
        pts = sorted((r["layer"], r["ood_success"]) for r in rows if str(r["rank"]) == rank)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"controlled, rank {rank}")
    ax.axhline(uncontrolled, color="gray", ls="--", label="uncontrolled")
    ax.set_xticks(sorted({r["layer"] for r in rows}))
    ax.set_xlabel("controlled layer")
    ax.set_ylabel("post-training task success")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
