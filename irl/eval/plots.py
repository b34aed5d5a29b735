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


def beta_traces_png(traces: list[dict], path: str | Path, title: str) -> None:
    """β_t over time for sample episodes, true subgoal boundaries as dashed lines."""
    n = max(1, len(traces))
    fig, axes = plt.subplots(n, 1, figsize=(6, 1.1 * n + 0.6), sharex=True, squeeze=False)
    for ax, tr in zip(axes[:, 0], traces, strict=False):
        beta, sub = tr["beta"], tr["subgoal"]
        ax.step(range(len(beta)), beta, where="mid", color="C0", lw=1.3)
        for t in range(1, len(sub)):
            if sub[t] != sub[t - 1]:
                ax.axvline(t, color="C3", ls="--", lw=1)
        ax.set_ylim(-0.05, 1.05)
        ax.set_yticks([0, 1])
        ax.set_ylabel("β", rotation=0, labelpad=8)
    axes[-1, 0].set_xlabel("step (dashed: true subgoal boundary)")
    axes[0, 0].set_title(title)
    _save(fig, path)


def rate_distortion_png(rows: list[dict], path: str | Path, title: str) -> None:
    """KL (rate) vs action NLL (distortion) per α, one line per mode, F1 written at each point."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for mode in sorted({r["mode"] for r in rows}):
        pts = sorted((r["kl"], r["nll"], r["alpha"], r["boundary_f1"]) for r in rows if r["mode"] == mode)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=mode)
        for kl, nll, alpha, f1 in pts:
            ax.annotate(f"α={alpha:g}\nF1={f1:.2f}", (kl, nll), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("rate: KL per step (nats)")
    ax.set_ylabel("distortion: action NLL")
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, path)
