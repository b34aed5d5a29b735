"""Shortest paths on pinpad grids as bitboards: one uint64 per grid, BFS layers by bit shifts.

Distance maps for thousands of layouts come from one vectorised BFS, with no Python per cell:
a grid of G*G <= 64 cells is one machine word; a BFS layer is `shift(frontier) & free & ~seen`.
"""

from __future__ import annotations

import functools

import numpy as np

UNREACHABLE = np.uint8(255)  # in uint8 distance maps
NO_PATH = 1 << 40  # in int64 path lengths: exceeds any horizon, even summed over a task's legs

# Actions: 0 up (row-1), 1 right (col+1), 2 down (row+1), 3 left (col-1).
ACTION_DELTAS = np.array([(-1, 0), (0, 1), (1, 0), (0, -1)], dtype=np.int64)


def neighbor_table(size: int) -> np.ndarray:
    """(G*G, 4) cell reached by each action on an empty grid; moving off the edge stays put."""
    cells = np.arange(size * size)
    rows, cols = cells // size, cells % size
    r = np.clip(rows[:, None] + ACTION_DELTAS[None, :, 0], 0, size - 1)
    c = np.clip(cols[:, None] + ACTION_DELTAS[None, :, 1], 0, size - 1)
    return (r * size + c).astype(np.int64)


@functools.cache
def _shift_masks(size: int) -> tuple[np.uint64, np.uint64, np.uint64]:
    cells = np.arange(size * size)
    full = np.uint64(sum(1 << int(i) for i in cells))
    not_first_col = np.uint64(sum(1 << int(i) for i in cells if i % size != 0))
    not_last_col = np.uint64(sum(1 << int(i) for i in cells if i % size != size - 1))
    return full, not_first_col, not_last_col


def cells_to_bits(cells: np.ndarray) -> np.ndarray:
    """(..., k) cell indices → (...) uint64 bitboards with those cells set; -1 entries ignored."""
    cells = np.asarray(cells, dtype=np.int64)
    bits = np.where(cells >= 0, np.left_shift(np.uint64(1), np.maximum(cells, 0).astype(np.uint64)), np.uint64(0))
    return np.bitwise_or.reduce(bits, axis=-1) if bits.ndim else bits


def distance_maps(free: np.ndarray, sources: np.ndarray, size: int) -> np.ndarray:
    """BFS distance from every cell to a source cell, moving only through `free` cells.

    free:    (M,) uint64 bitboard of cells one may walk through.
    sources: (M,) int cell index of each map's source (need not be in `free`).
    returns  (M, G*G) uint8 distances; UNREACHABLE where no path exists.
    """
    full, not_first_col, not_last_col = _shift_masks(size)
    one, g = np.uint64(1), np.uint64(size)
    m = free.shape[0]
    n_cells = size * size
    dist = np.full((m, n_cells), UNREACHABLE, dtype=np.uint8)
    rows = np.arange(m)
    dist[rows, sources] = 0
    seen = np.left_shift(one, sources.astype(np.uint64))
    frontier = seen.copy()
    free = free & full
    depth = 0
    while True:
        depth += 1
        # Cells adjacent to the frontier: a cell left of a frontier cell is frontier >> 1, kept only
        # where it did not wrap across a row boundary.
        grown = (
            ((frontier >> one) & not_last_col)
            | ((frontier << one) & not_first_col)
            | (frontier >> g)
            | ((frontier << g) & full)
        )
        frontier = grown & free & ~seen
        if not frontier.any():
            return dist
        seen |= frontier
        # Each cell joins one frontier at most: lower its 255 to `depth` by subtracting.
        hit = np.unpackbits(frontier.astype("<u8", copy=False).view(np.uint8).reshape(m, 8), axis=1, bitorder="little")[:, :n_cells]
        dist -= hit * np.uint8(UNREACHABLE - depth)


def cost_to_go(free: np.ndarray, sources: np.ndarray, queries: np.ndarray, size: int) -> np.ndarray:
    """Fewest moves from each query cell to its source cell, entering only `free` cells on the way.

    The query cell itself need not be free (the agent may stand on the color it just visited):
    the answer is the BFS depth at which the source's wavefront first touches the query cell.
    free (M,) uint64, sources (M,) and queries (M,) cell indices → (M,) int64; NO_PATH where the
    source cannot be reached. One BFS per row, no distance map materialised.
    """
    full, not_first_col, not_last_col = _shift_masks(size)
    one, g = np.uint64(1), np.uint64(size)
    out = np.full(free.shape[0], NO_PATH, dtype=np.int64)
    seen = np.left_shift(one, sources.astype(np.uint64))
    frontier = seen.copy()
    query = np.left_shift(one, queries.astype(np.uint64))
    free = free & full
    pending = np.ones(free.shape[0], dtype=bool)
    depth = 0
    while True:
        depth += 1
        grown = (
            ((frontier >> one) & not_last_col)
            | ((frontier << one) & not_first_col)
            | (frontier >> g)
            | ((frontier << g) & full)
        )
        hit = pending & ((grown & query) != 0)
        out[hit] = depth
        pending &= ~hit
        frontier = grown & free & ~seen
        if not (frontier.any() and pending.any()):
            return out
        seen |= frontier
