"""Independent reference implementations for checking the grid core."""

from __future__ import annotations

from collections import deque

import numpy as np

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks

MOVES = [(-1, 0), (0, 1), (1, 0), (0, -1)]


def bfs_distance(size: int, blocked: set[int], src: int, dst: int) -> float:
    """Plain breadth-first search from src to dst; `blocked` cells may not be entered (dst may)."""
    seen = {src}
    queue = deque([(src, 0)])
    while queue:
        cell, d = queue.popleft()
        if cell == dst:
            return d
        r, c = divmod(cell, size)
        for dr, dc in MOVES:
            rr, cc = r + dr, c + dc
            if 0 <= rr < size and 0 <= cc < size:
                nxt = rr * size + cc
                if nxt not in seen and (nxt == dst or nxt not in blocked):
                    seen.add(nxt)
                    queue.append((nxt, d + 1))
    return float("inf")


def single_env(task: str, colors: list[int], walls: list[int], start: int, **cfg: int) -> GridPinpadBatch:
    """A one-episode batch on a hand-made layout."""
    config = GridConfig(**cfg)
    env = GridPinpadBatch(config, resolve_tasks(task, "grid", config.n_colors), 1, seed=0)
    env.load_layouts(np.array([colors]), np.array([walls]), np.array([start]), np.array([0]))
    return env


def cell(r: int, c: int, size: int = 7) -> int:
    return r * size + c
