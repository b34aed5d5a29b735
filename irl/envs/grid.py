"""Gridworld-pinpad as a batched NumPy core (paper App. A.1, DESIGN.md §2).

N episodes step at once; every rule is an array operation. Rules:
- a G×G grid holds `n_colors` colored cells and `n_walls` walls, placed uniformly at random each
  episode, and the agent on a random empty cell;
- 4 moves; a move into a wall or off the grid leaves the agent where it is;
- a color is *visited* when the agent enters its cell from another cell; entering the next color of
  the task advances it, entering any other color ends the episode as a failure;
- reward 1 only when the last color is visited; after `horizon` steps the episode is truncated.

Layouts are drawn by rejection: a uniform layout is kept only if the episode's task can be solved
within the horizon by a path that avoids walls and every non-target color (exact BFS on
bitboards, `grid_paths`), and redrawn otherwise. This is the uniform distribution conditioned on
solvability; about 14% of uniform 7×7 layouts are redrawn for a pretraining task.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from irl.envs.grid_paths import UNREACHABLE, cells_to_bits, distance_maps, neighbor_table
from irl.envs.tasks import TaskSet

EMPTY = -1


@dataclass(frozen=True)
class GridConfig:
    """Gridworld-pinpad geometry; the paper's is 7×7, 8 colors, 4 walls, T = 100."""

    size: int = 7
    n_colors: int = 8
    n_walls: int = 4
    horizon: int = 100

    def __post_init__(self) -> None:
        if not 2 <= self.size <= 8:
            raise ValueError(f"env.size={self.size}: must be in 2..8 (a grid is one 64-bit bitboard)")
        if self.n_colors < 1 or self.n_walls < 0:
            raise ValueError(f"env.n_colors={self.n_colors}, env.n_walls={self.n_walls}: need >= 1 color, >= 0 walls")
        if self.n_colors + self.n_walls + 1 > self.size * self.size:
            raise ValueError(
                f"env: {self.n_colors} colors + {self.n_walls} walls + the agent do not fit on a "
                f"{self.size}x{self.size} grid"
            )
        if self.horizon < 1:
            raise ValueError(f"env.horizon={self.horizon}: must be >= 1")

    @property
    def n_cells(self) -> int:
        return self.size * self.size

    @property
    def n_channels(self) -> int:
        """Per-cell one-hot channels: one per color, one per wall, one for the agent (W + O + 1)."""
        return self.n_colors + self.n_walls + 1

    @property
    def obs_dim(self) -> int:
        return self.n_cells * self.n_channels  # G²(W+O+1) = 637 for the paper's grid

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class GridPinpadBatch:
    """N gridworld-pinpad episodes stepped together.

    State (all NumPy, leading axis N): `colors` (N, n_colors) cell of each color, `walls`
    (N, n_walls), `cell_map` (N, G²) content of each cell (EMPTY, color c, or n_colors + wall i),
    `pos` (N,) agent cell, `task` (N, K) colors padded with -1, `task_len`, `task_id`, `progress`
    (colors visited so far), `t` (steps taken), `done`, `success`, and `dist` (N, n_colors, G²):
    BFS distance of each cell to each color through empty cells (UNREACHABLE = 255).
    Finished episodes ignore `step` until `reset` redraws them.
    """

    def __init__(
        self,
        config: GridConfig,
        task_set: TaskSet,
        num_envs: int,
        seed: int | np.random.Generator | None = None,
        max_redraws: int = 200,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: must be >= 1")
        for task in task_set.tasks:
            if max(task) >= config.n_colors:
                raise ValueError(f"task set {task_set.name!r} uses color {max(task)} but the grid has {config.n_colors}")
        self.config = config
        self.task_set = task_set
        self.num_envs = num_envs
        self.max_redraws = max_redraws
        self.rng = np.random.default_rng(seed)
        self.neighbors = neighbor_table(config.size)  # (G², 4)
        tasks = np.full((len(task_set.tasks), task_set.max_len), -1, dtype=np.int64)
        for i, task in enumerate(task_set.tasks):
            tasks[i, : len(task)] = task
        self._task_table = tasks
        self._task_lens = np.array([len(t) for t in task_set.tasks], dtype=np.int64)

        n, c, g2 = num_envs, config.n_colors, config.n_cells
        self.colors = np.zeros((n, c), dtype=np.int64)
        self.walls = np.zeros((n, config.n_walls), dtype=np.int64)
        self.cell_map = np.full((n, g2), EMPTY, dtype=np.int64)
        self.pos = np.zeros(n, dtype=np.int64)
        self.task_id = np.zeros(n, dtype=np.int64)
        self.task = np.full((n, task_set.max_len), -1, dtype=np.int64)
        self.task_len = np.zeros(n, dtype=np.int64)
        self.progress = np.zeros(n, dtype=np.int64)
        self.t = np.zeros(n, dtype=np.int64)
        self.done = np.ones(n, dtype=bool)
        self.success = np.zeros(n, dtype=bool)
        self.dist = np.full((n, c, g2), UNREACHABLE, dtype=np.uint8)
        self._rows = np.arange(n)

    # ------------------------------------------------------------------ reset
    def reset(self, mask: np.ndarray | None = None) -> None:
        """Redraw layout, task and start for the masked episodes (all when mask is None)."""
        idx = self._rows if mask is None else np.flatnonzero(mask)
        todo = idx
        for _ in range(self.max_redraws):
            if todo.size == 0:
                return
            ok = self._draw(todo)
            todo = todo[~ok]
        raise RuntimeError(
            f"could not draw solvable layouts for {todo.size} episodes in {self.max_redraws} tries: "
            f"task set {self.task_set.name!r} is (almost) never solvable within horizon "
            f"{self.config.horizon} on a {self.config.size}x{self.config.size} grid with "
            f"{self.config.n_walls} walls"
        )

    def _draw(self, idx: np.ndarray) -> np.ndarray:
        cfg = self.config
        k = idx.size
        c, w = cfg.n_colors, cfg.n_walls
        cells = np.argsort(self.rng.random((k, cfg.n_cells)), axis=1)[:, : c + w + 1]
        colors, walls, start = cells[:, :c], cells[:, c : c + w], cells[:, -1]
        task_id = self.rng.integers(len(self.task_set.tasks), size=k)
        dist = self.layout_distances(colors, walls, cfg.size)
        length = self._solution_length(dist, colors, start, self._task_table[task_id], self._task_lens[task_id])
        ok = length <= cfg.horizon
        sel, j = idx[ok], np.flatnonzero(ok)
        self.colors[sel] = colors[j]
        self.walls[sel] = walls[j]
        cell_map = np.full((j.size, cfg.n_cells), EMPTY, dtype=np.int64)
        rows = np.arange(j.size)[:, None]
        cell_map[rows, colors[j]] = np.arange(c)
        cell_map[rows, walls[j]] = c + np.arange(w)
        self.cell_map[sel] = cell_map
        self.pos[sel] = start[j]
        self.task_id[sel] = task_id[j]
        self.task[sel] = self._task_table[task_id[j]]
        self.task_len[sel] = self._task_lens[task_id[j]]
        self.dist[sel] = dist[j]
        self.progress[sel] = 0
        self.t[sel] = 0
        self.done[sel] = False
        self.success[sel] = False
        return ok

    @staticmethod
    def layout_distances(colors: np.ndarray, walls: np.ndarray, size: int) -> np.ndarray:
        """(k, n_colors, G²) distance of every cell to each color, walking only on empty cells.

        The walkable set excludes walls and all colored cells: the path to color c may end on c but
        must not enter any other color (that would fail the episode) — the expert's constraint.
        """
        k, n_colors = colors.shape
        occupied = cells_to_bits(np.concatenate([colors, walls], axis=1))
        free = ~occupied
        sources = colors.reshape(-1)
        dist = distance_maps(np.repeat(free, n_colors), sources, size)
        return dist.reshape(k, n_colors, size * size)

    def _cost_to_go(self, dist: np.ndarray, pos: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Steps from `pos` to color `target`: 1 + min over moves of the distance of the cell reached.

        Works where `pos` itself is not walkable (the agent stands on the color it just visited).
        """
        rows = np.arange(dist.shape[0])[:, None]
        d = dist[rows, target[:, None], self.neighbors[pos]].astype(np.int64)  # (k, 4)
        best = d.min(axis=1)
        return np.where(best >= UNREACHABLE, np.iinfo(np.int32).max, best + 1)

    def _solution_length(
        self, dist: np.ndarray, colors: np.ndarray, start: np.ndarray, task: np.ndarray, task_len: np.ndarray
    ) -> np.ndarray:
        """Length of the shortest path that visits the task's colors in order, never entering another."""
        k, m = task.shape
        rows = np.arange(k)
        total = np.zeros(k, dtype=np.int64)
        here = start
        for i in range(m):
            live = i < task_len
            target = np.where(live, task[:, i], 0)
            leg = self._cost_to_go(dist, here, target)
            total += np.where(live, leg, 0)
            here = np.where(live, colors[rows, target], here)
        return total

    def keep(self, mask: np.ndarray) -> None:
        """Drop the unmasked episodes from the batch (rows keep their order), so a tail of long
        episodes does not pay for the finished ones."""
        for name in ("colors", "walls", "cell_map", "pos", "task_id", "task", "task_len", "progress", "t", "done", "success", "dist"):
            setattr(self, name, getattr(self, name)[mask])
        self.num_envs = int(self.pos.shape[0])
        self._rows = np.arange(self.num_envs)

    # ------------------------------------------------------------------ step
    @property
    def target(self) -> np.ndarray:
        """(N,) the color to visit next; -1 once the task is complete."""
        prog = np.minimum(self.progress, self.task.shape[1] - 1)
        tgt = self.task[self._rows, prog]
        return np.where(self.progress < self.task_len, tgt, -1)

    @property
    def subgoal(self) -> np.ndarray:
        """(N,) ground-truth subgoal: the color group of the next target (a pair in the grid)."""
        tgt = self.target
        return np.where(tgt >= 0, tgt // self.task_set.colors_per_subgoal, -1)

    def next_cells(self, actions: np.ndarray) -> np.ndarray:
        """(N,) cell each episode's action leads to; walls and edges leave the agent in place."""
        new = self.neighbors[self.pos, actions]
        blocked = self.cell_map[self._rows, new] >= self.config.n_colors
        return np.where(blocked, self.pos, new)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply one action per episode → (reward, terminated, truncated), each (N,)."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions: expected shape ({self.num_envs},), got {actions.shape}")
        if actions.size and (actions.min() < 0 or actions.max() > 3):
            raise ValueError("actions: expected integers in 0..3 (up, right, down, left)")
        live = ~self.done
        new = self.next_cells(actions)
        moved = live & (new != self.pos)
        content = np.where(moved, self.cell_map[self._rows, new], EMPTY)
        entered = content >= 0  # walls never entered, so content >= 0 is a color
        correct = entered & (content == self.target)
        wrong = entered & ~correct
        self.pos = np.where(live, new, self.pos)
        self.progress += correct
        completed = correct & (self.progress == self.task_len)
        self.t += live
        terminated = wrong | completed
        truncated = live & ~terminated & (self.t >= self.config.horizon)
        self.success |= completed
        self.done |= terminated | truncated
        return completed.astype(np.float32), terminated, truncated

    # ------------------------------------------------------------------ views
    def observation(self) -> np.ndarray:
        """(N, G²·(n_colors + n_walls + 1)) uint8 one-hot: each cell's content and the agent."""
        cfg = self.config
        obs = np.zeros((self.num_envs, cfg.n_cells, cfg.n_channels), dtype=np.uint8)
        rows = self._rows[:, None]
        obs[rows, self.colors, np.arange(cfg.n_colors)] = 1
        obs[rows, self.walls, cfg.n_colors + np.arange(cfg.n_walls)] = 1
        obs[self._rows, self.pos, cfg.n_channels - 1] = 1
        return obs.reshape(self.num_envs, cfg.obs_dim)

    def distance_after(self, actions: np.ndarray | None = None) -> np.ndarray:
        """(N, 4) distance to the current target from the cell each action leads to (255: fail/stuck)."""
        cells = self.neighbors[self.pos]  # (N, 4)
        blocked = self.cell_map[self._rows[:, None], cells] >= self.config.n_colors
        cells = np.where(blocked, self.pos[:, None], cells)
        tgt = np.maximum(self.target, 0)
        return self.dist[self._rows[:, None], tgt[:, None], cells]
