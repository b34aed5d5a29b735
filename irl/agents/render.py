"""Frames of a grid trajectory as PNG or GIF bytes (Pillow), for the API and reports."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from irl.agents.trace import Trajectory

PALETTE = ["#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
           "#bfef45", "#fabed4", "#469990", "#dcbeff"]
CELL = 32


def frame(traj: Trajectory, t: int) -> Image.Image:
    """The grid after t steps: colored cells (numbered), walls (dark), the agent (black ring)."""
    g = traj.size
    img = Image.new("RGB", (g * CELL, g * CELL), "white")
    d = ImageDraw.Draw(img)
    for i in range(g + 1):
        d.line([(i * CELL, 0), (i * CELL, g * CELL)], fill="#cccccc")
        d.line([(0, i * CELL), (g * CELL, i * CELL)], fill="#cccccc")
    for c, cell in enumerate(traj.colors):
        r, k = divmod(cell, g)
        d.rectangle([k * CELL + 1, r * CELL + 1, (k + 1) * CELL - 1, (r + 1) * CELL - 1], fill=PALETTE[c % len(PALETTE)])
        d.text((k * CELL + 4, r * CELL + 3), str(c), fill="black")
    for cell in traj.walls:
        r, k = divmod(cell, g)
        d.rectangle([k * CELL + 1, r * CELL + 1, (k + 1) * CELL - 1, (r + 1) * CELL - 1], fill="#333333")
    r, k = divmod(traj.positions[min(t, len(traj.positions) - 1)], g)
    d.ellipse([k * CELL + 8, r * CELL + 8, (k + 1) * CELL - 8, (r + 1) * CELL - 8], outline="black", width=4)
    return img


def png_frames(traj: Trajectory) -> list[bytes]:
    out = []
    for t in range(len(traj.positions)):
        buf = io.BytesIO()
        frame(traj, t).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def gif(traj: Trajectory, ms_per_step: int = 200) -> bytes:
    frames = [frame(traj, t) for t in range(len(traj.positions))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_step, loop=0)
    return buf.getvalue()
