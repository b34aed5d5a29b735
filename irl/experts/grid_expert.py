"""The grid expert: exact shortest path to the next target color (DESIGN.md §2).

Among the moves that reduce the BFS distance to the next target — through empty cells only, so
walls and every non-target color are avoided — it picks one uniformly (random tie-break). With
probability ε it instead takes a uniformly random *safe* move: one after which the target is still
reachable without entering another color. A noisy step never fails the episode; it only detours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irl.envs.grid import GridPinpadBatch
from irl.envs.grid_paths import UNREACHABLE


@dataclass(frozen=True)
class ExpertConfig:
    """Shortest-path expert; ε = 0 for D*, ε > 0 for the pretraining data D."""

    epsilon: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"expert epsilon={self.epsilon}: must be in [0, 1]")


def optimal_action_mask(env: GridPinpadBatch) -> np.ndarray:
    """(N, 4) bool: the actions on a shortest path to the current target (all False when stuck)."""
    d = env.distance_after().astype(np.int64)
    best = d.min(axis=1, keepdims=True)
    return (d == best) & (best < UNREACHABLE)


def safe_action_mask(env: GridPinpadBatch) -> np.ndarray:
    """(N, 4) bool: actions after which the current target remains reachable."""
    return env.distance_after() < UNREACHABLE


class ShortestPathExpert:
    """Batched ε-shortest-path expert over a GridPinpadBatch."""

    name = "grid-shortest-path"

    def __init__(self, config: ExpertConfig, seed: int | None = None) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)

    def _pick(self, mask: np.ndarray) -> np.ndarray:
        scores = np.where(mask, self.rng.random(mask.shape), -1.0)
        return scores.argmax(axis=1)

    def act(self, env: GridPinpadBatch) -> np.ndarray:
        """(N,) actions; finished or stuck episodes get action 0 (ignored by the env)."""
        actions = self._pick(optimal_action_mask(env))
        if self.config.epsilon > 0:
            noisy = self.rng.random(env.num_envs) < self.config.epsilon
            if noisy.any():
                actions = np.where(noisy, self._pick(safe_action_mask(env)), actions)
        return actions


def optimal_moves(colors: np.ndarray, walls: np.ndarray, pos: np.ndarray, target: np.ndarray, size: int) -> np.ndarray:
    """(S, 4) bool: shortest moves toward `target` from `pos` on each step's layout.

    colors (S, n_colors), walls (S, n_walls), pos (S,), target (S,) color. Used to score a
    model's actions along dataset trajectories (teacher forcing) without stepping an env.
    """
    from irl.envs.grid import GridPinpadBatch
    from irl.envs.grid_paths import neighbor_table

    rows = np.arange(pos.shape[0])
    dist = GridPinpadBatch.layout_distances(colors.astype(np.int64), walls.astype(np.int64), size)
    cells = neighbor_table(size)[pos]  # (S, 4)
    blocked = (cells[:, :, None] == walls[:, None, :]).any(-1)
    cells = np.where(blocked, pos[:, None], cells)
    d = dist[rows[:, None], target[:, None], cells].astype(np.int64)
    best = d.min(axis=1, keepdims=True)
    return (d == best) & (best < UNREACHABLE)
