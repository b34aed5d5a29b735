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

`layouts: every_task` redraws instead until *every* task of the set is solvable. A model that is
never told its task picks one from the layout and the history; under `task` it cannot know that
the one it picked may be walled off. That is rare on 7×7 (91% of layouts solvable for one
pretraining task are solvable for all 16) and common on 5×5 (29%; on average 8.1 of the 16 tasks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from irl.envs.grid_paths import UNREACHABLE, cells_to_bits, cost_to_go, distance_maps, neighbor_table
from irl.envs.tasks import TaskSet

EMPTY = -1
LAYOUTS = ("task", "every_task")  # a layout is kept when its episode's task / every task of the set is solvable


@dataclass(frozen=True)
class GridConfig:
    """Gridworld-pinpad geometry; the paper's is 7×7, 8 colors, 4 walls, T = 100."""

    size: int = 7
    n_colors: int = 8
    n_walls: int = 4
    horizon: int = 100
    layouts: str = "task"

    def __post_init__(self) -> None:
        if self.layouts not in LAYOUTS:
            raise ValueError(f"env.layouts={self.layouts!r}: expected one of {LAYOUTS}")
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

    def to_dict(self) -> dict[str, int | str]:
        return asdict(self)


class GridPinpadBatch:
    """N gridworld-pinpad episodes stepped together.

    State (all NumPy, leading axis N): `colors` (N, n_colors) cell of each color, `walls`
    (N, n_walls), `cell_map` (N, G²) content of each cell (EMPTY, color c, or n_colors + wall i),
    `pos` (N,) agent cell, `task` (N, K) colors padded with -1, `task_len`, `task_id`, `progress`
    (colors visited so far), `t` (steps taken), `done`, `success`, and `distances()` (N, n_colors,
    G²): BFS distance of each cell to each color through empty cells (UNREACHABLE = 255), built
    lazily because only the expert needs it.
    Finished episodes ignore `step` until `reset` redraws them.
    """

    def __init__(
        self,
        config: GridConfig,
        task_set: TaskSet,
        num_envs: int,
        seed: int | np.random.Generator | None = None,
        max_redraws: int = 200,
        pool_size: int | None = None,
        any_task: bool = False,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: must be >= 1")
        for task in task_set.tasks:
            if max(task) >= config.n_colors:
                raise ValueError(f"task set {task_set.name!r} uses color {max(task)} but the grid has {config.n_colors}")
        self.config = config
        self.task_set = task_set
        self.num_envs = num_envs
        # any_task: an episode succeeds by completing *any* task of the set (a model that never sees
        # the task is scored this way) and fails on a color that continues none of them. The layout
        # is still drawn solvable for one task of the set, which `target`/`subgoal` describe.
        self.any_task = any_task
        self.max_redraws = max_redraws
        self.pool_size = pool_size or max(64, min(4096, 4 * num_envs))
        self.rng = np.random.default_rng(seed)
        self._pool: tuple[np.ndarray, ...] | None = None
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
        self.candidates = np.ones((n, len(task_set.tasks)), dtype=bool)  # tasks still consistent (any_task)
        self.dist = np.full((n, c, g2), UNREACHABLE, dtype=np.uint8)
        self._dist_stale = np.ones(n, dtype=bool)  # distance maps are built on first use (the expert)
        self._layout_obs = np.zeros((n, g2, config.n_channels), dtype=np.int8)
        self._rows = np.arange(n)

    # ------------------------------------------------------------------ reset
    def seed(self, seed: int | np.random.Generator | None) -> None:
        """Reseed layout sampling; layouts drawn ahead under the old seed are dropped."""
        self.rng = np.random.default_rng(seed)
        self._pool = None

    def reset(self, mask: np.ndarray | None = None) -> None:
        """Redraw layout, task and start for the masked episodes (all when mask is None)."""
        idx = self._rows if mask is None else np.flatnonzero(mask)
        if idx.size:
            self._place(idx, *self._take(idx.size))

    def _take(self, k: int) -> tuple[np.ndarray, ...]:
        """The next k solvable layouts (colors, walls, start, task_id), i.i.d. in sampling order.

        Layouts are drawn ahead in batches of `pool_size` so that resetting a few episodes per
        step costs an array slice, not a BFS call (random-action rollouts reset ~7% per step).
        """
        parts, have = [], 0
        while have < k:
            if self._pool is None or self._pool[0].shape[0] == 0:
                self._pool = self._draw_pool(max(self.pool_size, k - have))
            take = min(k - have, self._pool[0].shape[0])
            parts.append(tuple(a[:take] for a in self._pool))
            self._pool = tuple(a[take:] for a in self._pool)
            have += take
        return tuple(np.concatenate(cols) for cols in zip(*parts))

    def _draw_pool(self, n: int) -> tuple[np.ndarray, ...]:
        cfg = self.config
        c, w = cfg.n_colors, cfg.n_walls
        kept: list[tuple[np.ndarray, ...]] = []
        have = 0
        for _ in range(self.max_redraws):
            cells = np.argsort(self.rng.random((n, cfg.n_cells)), axis=1)[:, : c + w + 1]
            colors, walls, start = cells[:, :c], cells[:, c : c + w], cells[:, -1]
            task_id = self.rng.integers(len(self.task_set.tasks), size=n)
            ok = self._solvable(colors, walls, start, task_id)
            kept.append((colors[ok], walls[ok], start[ok], task_id[ok]))
            have += int(ok.sum())
            if have >= n:
                return tuple(np.concatenate(cols) for cols in zip(*kept))
        raise RuntimeError(
            f"drew {self.max_redraws}×{n} layouts and only {have} could solve their task: task set "
            f"{self.task_set.name!r} is (almost) never solvable within horizon {cfg.horizon} on a "
            f"{cfg.size}x{cfg.size} grid with {cfg.n_walls} walls"
        )

    def _solvable(self, colors: np.ndarray, walls: np.ndarray, start: np.ndarray, task_id: np.ndarray) -> np.ndarray:
        if self.config.layouts == "every_task":
            return self.solvable_for_every_task(colors, walls, start)
        length = self.solution_length(colors, walls, start, self._task_table[task_id], self._task_lens[task_id], self.config.size)
        return length <= self.config.horizon

    def solvable_for_every_task(self, colors: np.ndarray, walls: np.ndarray, start: np.ndarray) -> np.ndarray:
        """(k,) whether every task of the set can be solved within the horizon from `start`. Tasks
        share legs (start → first color, color → next color): one BFS per distinct leg."""
        size, horizon = self.config.size, self.config.horizon
        free = ~cells_to_bits(np.concatenate([colors, walls], axis=1))
        legs: dict[tuple[int, int], np.ndarray] = {}
        ok = np.ones(colors.shape[0], dtype=bool)
        for task in self.task_set.tasks:
            total = np.zeros(colors.shape[0], dtype=np.int64)
            for i, color in enumerate(task):
                key = (-1 if i == 0 else task[i - 1], color)
                if key not in legs:
                    source = start if i == 0 else colors[:, task[i - 1]]
                    legs[key] = cost_to_go(free, colors[:, color], source, size)
                total += legs[key]
            ok &= total <= horizon
        return ok

    def load_layouts(self, colors: np.ndarray, walls: np.ndarray, start: np.ndarray, task_id: np.ndarray,
                     mask: np.ndarray | None = None) -> None:
        """Start the masked episodes on given layouts (replaying a dataset, comparing policies on the
        same layouts). Raises ValueError if a layout overlaps itself or its task is unsolvable."""
        idx = self._rows if mask is None else np.flatnonzero(mask)
        colors, walls = np.asarray(colors, np.int64).reshape(idx.size, -1), np.asarray(walls, np.int64).reshape(idx.size, -1)
        start, task_id = np.asarray(start, np.int64).reshape(idx.size), np.asarray(task_id, np.int64).reshape(idx.size)
        cfg = self.config
        if colors.shape[1] != cfg.n_colors or walls.shape[1] != cfg.n_walls:
            raise ValueError(f"layouts: expected {cfg.n_colors} colors and {cfg.n_walls} walls per episode")
        cells = np.concatenate([colors, walls, start[:, None]], axis=1)
        if cells.min() < 0 or cells.max() >= cfg.n_cells:
            raise ValueError(f"layouts: cells must be in 0..{cfg.n_cells - 1}")
        if (np.diff(np.sort(cells, axis=1), axis=1) == 0).any():
            raise ValueError("layouts: colors, walls and the start cell must all be distinct")
        if task_id.min() < 0 or task_id.max() >= len(self.task_set.tasks):
            raise ValueError(f"layouts: task_id must be in 0..{len(self.task_set.tasks) - 1}")
        ok = self._solvable(colors, walls, start, task_id)
        if not ok.all():
            raise ValueError(f"layouts: {int((~ok).sum())} layout(s) cannot solve their task within the horizon")
        self._place(idx, colors, walls, start, task_id)

    def _place(self, idx: np.ndarray, colors: np.ndarray, walls: np.ndarray, start: np.ndarray, task_id: np.ndarray) -> None:
        """Start episodes `idx` on the given (already checked) layouts."""
        cfg = self.config
        c, w = cfg.n_colors, cfg.n_walls
        rows = np.arange(idx.size)[:, None]
        self.colors[idx] = colors
        self.walls[idx] = walls
        cell_map = np.full((idx.size, cfg.n_cells), EMPTY, dtype=np.int64)
        cell_map[rows, colors] = np.arange(c)
        cell_map[rows, walls] = c + np.arange(w)
        self.cell_map[idx] = cell_map
        layout_obs = np.zeros((idx.size, cfg.n_cells, cfg.n_channels), dtype=np.int8)
        layout_obs[rows, colors, np.arange(c)] = 1
        layout_obs[rows, walls, c + np.arange(w)] = 1
        self._layout_obs[idx] = layout_obs
        self._dist_stale[idx] = True
        self.pos[idx] = start
        self.task_id[idx] = task_id
        self.task[idx] = self._task_table[task_id]
        self.task_len[idx] = self._task_lens[task_id]
        self.progress[idx] = 0
        self.t[idx] = 0
        self.done[idx] = False
        self.success[idx] = False
        self.candidates[idx] = True

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

    @staticmethod
    def solution_length(colors: np.ndarray, walls: np.ndarray, start: np.ndarray, task: np.ndarray,
                        task_len: np.ndarray, size: int) -> np.ndarray:
        """(k,) length of the shortest path visiting the task's colors in order, never entering
        another color or a wall; at least NO_PATH when impossible. One BFS per leg."""
        k, m = task.shape
        rows = np.arange(k)
        legs = np.arange(m)[None, :] < task_len[:, None]  # (k, m)
        target = np.where(legs, task, 0)
        target_cell = colors[rows[:, None], target]  # (k, m)
        from_cell = np.concatenate([start[:, None], target_cell[:, :-1]], axis=1)
        free = ~cells_to_bits(np.concatenate([colors, walls], axis=1))  # (k,)
        r, i = np.nonzero(legs)
        lengths = np.zeros((k, m), dtype=np.int64)
        lengths[r, i] = cost_to_go(free[r], target_cell[r, i], from_cell[r, i], size)
        return lengths.sum(axis=1)

    def keep(self, mask: np.ndarray) -> None:
        """Drop the unmasked episodes from the batch (rows keep their order), so a tail of long
        episodes does not pay for the finished ones."""
        for name in ("colors", "walls", "cell_map", "pos", "task_id", "task", "task_len", "progress", "t",
                     "done", "success", "candidates", "dist", "_dist_stale", "_layout_obs"):
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
        if self.any_task:
            table, lens = self._task_table, self._task_lens
            col = np.minimum(self.progress, table.shape[1] - 1)
            continues = (table[:, col].T == content[:, None]) & (lens[None, :] > self.progress[:, None])
            still = self.candidates & continues  # (N, n_tasks)
            correct = entered & still.any(axis=1)
            self.candidates = np.where(correct[:, None], still, self.candidates)
            completed = correct & (still & (lens[None, :] == self.progress[:, None] + 1)).any(axis=1)
        else:
            correct = entered & (content == self.target)
            completed = correct & (self.progress + 1 == self.task_len)
        wrong = entered & ~correct
        self.pos = np.where(live, new, self.pos)
        self.progress += correct
        self.t += live
        terminated = wrong | completed
        truncated = live & ~terminated & (self.t >= self.config.horizon)
        self.success |= completed
        self.done |= terminated | truncated
        return completed.astype(np.float32), terminated, truncated

    # ------------------------------------------------------------------ views
    def observation(self) -> np.ndarray:
        """(N, G²·(n_colors + n_walls + 1)) int8 one-hot: each cell's content and the agent."""
        cfg = self.config
        obs = self._layout_obs.copy()
        obs[self._rows, self.pos, cfg.n_channels - 1] = 1
        return obs.reshape(self.num_envs, cfg.obs_dim)

    def distances(self) -> np.ndarray:
        """(N, n_colors, G²) BFS distance of every cell to each color (built for new layouts now)."""
        if self._dist_stale.any():
            idx = np.flatnonzero(self._dist_stale)
            self.dist[idx] = self.layout_distances(self.colors[idx], self.walls[idx], self.config.size)
            self._dist_stale[idx] = False
        return self.dist

    def distance_after(self, actions: np.ndarray | None = None) -> np.ndarray:
        """(N, 4) distance to the current target from the cell each action leads to (255: fail/stuck)."""
        cells = self.neighbors[self.pos]  # (N, 4)
        blocked = self.cell_map[self._rows[:, None], cells] >= self.config.n_colors
        cells = np.where(blocked, self.pos[:, None], cells)
        tgt = np.maximum(self.target, 0)
        return self.distances()[self._rows[:, None], tgt[:, None], cells]
