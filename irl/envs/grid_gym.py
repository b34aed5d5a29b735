"""Gymnasium faces of the batched grid core: `irl/GridPinpad-v0` and a vector env.

    import gymnasium as gym, irl.envs
    env = gym.make("irl/GridPinpad-v0", task="0-1-2-3")          # or task="pretrain" / "post"
    venv = gym.make_vec("irl/GridPinpad-v0", num_envs=1024, vectorization_mode="vector_entry_point")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.grid_render import render_rgb, render_text
from irl.envs.tasks import format_task, resolve_tasks

RENDER_MODES = ["rgb_array", "ansi"]


def _make_core(task: str, size: int, n_colors: int, n_walls: int, horizon: int, num_envs: int) -> GridPinpadBatch:
    config = GridConfig(size=size, n_colors=n_colors, n_walls=n_walls, horizon=horizon)
    return GridPinpadBatch(config, resolve_tasks(task, "grid", n_colors), num_envs)


def _infos(core: GridPinpadBatch) -> dict[str, np.ndarray]:
    return {
        "target": core.target.copy(),
        "subgoal": core.subgoal.copy(),
        "progress": core.progress.copy(),
        "task_id": core.task_id.copy(),
        "success": core.success.copy(),
    }


class GridPinpadEnv(gym.Env):
    """One gridworld-pinpad episode at a time; the task is drawn from `task` at every reset."""

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}

    def __init__(
        self,
        task: str = "pretrain",
        size: int = 7,
        n_colors: int = 8,
        n_walls: int = 4,
        horizon: int = 100,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None and render_mode not in RENDER_MODES:
            raise ValueError(f"render_mode={render_mode!r}: expected one of {RENDER_MODES} or None")
        self._core = _make_core(task, size, n_colors, n_walls, horizon, 1)
        self.config = self._core.config
        self.render_mode = render_mode
        self._seeded = False
        self.observation_space = spaces.MultiBinary(self.config.obs_dim)
        self.action_space = spaces.Discrete(4)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None or not self._seeded:
            self._core.seed(self.np_random)
            self._seeded = True
        self._core.reset()
        return self._obs(), self._info()

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._core.done[0]:
            raise RuntimeError("step() called on a finished episode: call reset() first")
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r}: expected an integer in 0..3 (up, right, down, left)")
        reward, terminated, truncated = self._core.step(np.array([int(action)]))
        return self._obs(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), self._info()

    def _obs(self) -> np.ndarray:
        return self._core.observation()[0]

    def _info(self) -> dict[str, Any]:
        core = self._core
        return {
            "task": format_task(tuple(int(c) for c in core.task[0, : core.task_len[0]])),
            "target": int(core.target[0]),
            "subgoal": int(core.subgoal[0]),
            "progress": int(core.progress[0]),
            "success": bool(core.success[0]),
        }

    def render(self) -> np.ndarray | str | None:
        core = self._core
        if self.render_mode == "rgb_array":
            return render_rgb(core.colors[0], core.walls[0], int(core.pos[0]), self.config.size)
        if self.render_mode == "ansi":
            info = self._info()
            header = f"task {info['task']}  next {info['target']}  step {int(core.t[0])}/{self.config.horizon}"
            return render_text(core.colors[0], core.walls[0], int(core.pos[0]), self.config.size, header)
        return None


class GridPinpadVectorEnv(VectorEnv):
    """`num_envs` episodes on one batched core; finished episodes reset on the next step (NEXT_STEP)."""

    metadata = {"render_modes": RENDER_MODES, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int,
        task: str = "pretrain",
        size: int = 7,
        n_colors: int = 8,
        n_walls: int = 4,
        horizon: int = 100,
        render_mode: str | None = None,
    ) -> None:
        self.core = _make_core(task, size, n_colors, n_walls, horizon, num_envs)
        self.num_envs = num_envs
        self.render_mode = render_mode
        self.single_observation_space = spaces.MultiBinary(self.core.config.obs_dim)
        self.single_action_space = spaces.Discrete(4)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        if isinstance(seed, list):
            seed = seed[0] if seed else None
        if seed is not None:
            self.core.seed(seed)
        self.core.reset()
        self._autoreset[:] = False
        return self.core.observation(), _infos(self.core)

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        # Episodes that ended on the previous call start afresh now; their action is ignored.
        restart = self._autoreset.copy()
        reward, terminated, truncated = self.core.step(np.asarray(actions, dtype=np.int64))
        if restart.any():
            self.core.reset(restart)
        self._autoreset = terminated | truncated
        return self.core.observation(), reward, terminated, truncated, _infos(self.core)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode != "rgb_array":
            return None
        c = self.core
        return tuple(render_rgb(c.colors[i], c.walls[i], int(c.pos[i]), c.config.size) for i in range(self.num_envs))
