"""Pictures of a gridworld-pinpad layout: an RGB array and a text view."""

from __future__ import annotations

import numpy as np

# Colors 0..7 as in the paper's figures: distinct hues, readable on a light floor.
PALETTE = np.array(
    [
        (230, 25, 75), (245, 130, 48), (255, 225, 25), (60, 180, 75),
        (70, 240, 240), (0, 130, 200), (145, 30, 180), (240, 50, 230),
    ],
    dtype=np.uint8,
)
FLOOR, WALL, AGENT, GRIDLINE = (235, 235, 228), (60, 60, 60), (20, 20, 20), (200, 200, 192)


def color_rgb(c: int) -> tuple[int, int, int]:
    """RGB of color c (cycles past 8 colors)."""
    return tuple(int(v) for v in PALETTE[c % len(PALETTE)])  # type: ignore[return-value]


def render_rgb(colors: np.ndarray, walls: np.ndarray, pos: int, size: int, cell_px: int = 32) -> np.ndarray:
    """(size·cell_px, size·cell_px, 3) uint8 image: floor, colored cells, walls, the agent as a dot."""
    img = np.empty((size * cell_px, size * cell_px, 3), dtype=np.uint8)
    img[:] = FLOOR

    def fill(cell: int, rgb: tuple[int, int, int], margin: int = 1) -> None:
        r, c = divmod(int(cell), size)
        img[r * cell_px + margin : (r + 1) * cell_px - margin, c * cell_px + margin : (c + 1) * cell_px - margin] = rgb

    for i in range(size + 1):
        img[min(i * cell_px, size * cell_px - 1), :] = GRIDLINE
        img[:, min(i * cell_px, size * cell_px - 1)] = GRIDLINE
    for c, cell in enumerate(colors):
        fill(cell, color_rgb(c))
    for cell in walls:
        fill(cell, WALL, margin=0)
    r, c = divmod(int(pos), size)
    yy, xx = np.mgrid[0:cell_px, 0:cell_px]
    centre = (cell_px - 1) / 2
    disc = (yy - centre) ** 2 + (xx - centre) ** 2 <= (cell_px * 0.28) ** 2
    block = img[r * cell_px : (r + 1) * cell_px, c * cell_px : (c + 1) * cell_px]
    block[disc] = AGENT
    return img


def render_text(colors: np.ndarray, walls: np.ndarray, pos: int, size: int, header: str = "") -> str:
    """A text view: digits are colors, '#' walls, '.' floor; the agent's cell is bracketed."""
    cells = ["." for _ in range(size * size)]
    for c, cell in enumerate(colors):
        cells[int(cell)] = str(c)
    for cell in walls:
        cells[int(cell)] = "#"
    lines = [header] if header else []
    for r in range(size):
        row = []
        for c in range(size):
            i = r * size + c
            row.append(f"[{cells[i]}]" if i == pos else f" {cells[i]} ")
        lines.append("".join(row))
    return "\n".join(lines) + "\n"
