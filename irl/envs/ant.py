"""Ant-pinpad (paper App. A.2, DESIGN.md §2): a MuJoCo ant visits colored floor cells in order.

A 4×4 grid of square cells (side `cell_size`) lies on the floor; each episode places `n_colors`
colored cells, `n_walls` wall cells, the ant's start cell and its yaw at random (the layout is
redrawn until the task is solvable on the cell grid avoiding walls and other colors). Rules:
- a color is *visited* when the torso centre enters its cell from another cell; the next color of
  the task advances it, any other color ends the episode as a failure;
- entering a wall cell, leaving the grid, or the torso height leaving [0.2, 1.0] ends it too;
- reward 1 only on completing the task; truncation after `horizon` steps (500).
Observation (float32): symlog of the proprioception (qpos without x, y; qvel), the torso xy
normalised to [−1, 1], each pad's and wall's cell centre relative to the torso (normalised), and
the torso's position within its current cell in [0, 1]². Actions: the 8 torques in [−1, 1].

The ant is Gymnasium's ant.xml (its package file; official `mujoco` bindings, no mujoco-py); the
tiles are visual-only box geoms whose colors change with the layout; an overhead camera renders it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium import spaces

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import format_task, resolve_tasks

PAD_RGBA = [(0.90, 0.10, 0.29, 1), (0.24, 0.71, 0.29, 1), (1.00, 0.88, 0.10, 1), (0.26, 0.39, 0.85, 1),
            (0.96, 0.51, 0.19, 1), (0.57, 0.12, 0.71, 1), (0.26, 0.83, 0.96, 1), (0.94, 0.20, 0.90, 1)]
WALL_RGBA, FLOOR_RGBA = (0.15, 0.15, 0.15, 1), (0.85, 0.85, 0.82, 1)
FRAME_SKIP = 5  # as Ant-v5: 5 × 0.01 s per step
_PHYSICS = mujoco.mjtState.mjSTATE_INTEGRATION  # what a snapshot keeps of MuJoCo's data (exact continuation)


@dataclass(frozen=True)
class AntConfig:
    size: int = 4
    n_colors: int = 4
    n_walls: int = 1
    horizon: int = 500
    cell_size: float = 2.0

    def __post_init__(self) -> None:
        if self.n_colors + self.n_walls + 1 > self.size * self.size:
            raise ValueError(f"ant env: {self.n_colors} colors + {self.n_walls} walls + start do not fit on {self.size}x{self.size}")
        if self.horizon < 1 or self.cell_size <= 0:
            raise ValueError(f"ant env: horizon={self.horizon}, cell_size={self.cell_size} must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def symlog(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def ant_xml(cfg: AntConfig) -> str:
    """Gymnasium's ant.xml plus the tile grid and an overhead camera."""
    path = Path(gym.__file__).parent / "envs" / "mujoco" / "assets" / "ant.xml"
    root = ET.parse(path).getroot()
    world = root.find("worldbody")
    half = cfg.size * cfg.cell_size / 2
    for geom in world.findall("geom"):
        if geom.get("name") == "floor":
            geom.set("size", f"{half + 4} {half + 4} 40")
    for r in range(cfg.size):
        for c in range(cfg.size):
            x, y = (c + 0.5) * cfg.cell_size - half, half - (r + 0.5) * cfg.cell_size
            ET.SubElement(world, "geom", name=f"tile_{r * cfg.size + c}", type="box", pos=f"{x} {y} 0.002",
                          size=f"{cfg.cell_size / 2 * 0.97} {cfg.cell_size / 2 * 0.97} 0.002",
                          contype="0", conaffinity="0", rgba="0.85 0.85 0.82 1")
    ET.SubElement(world, "camera", name="overhead", pos=f"0 0 {half * 2.6}", xyaxes="1 0 0 0 1 0")
    return ET.tostring(root, encoding="unicode")


class AntPinpadEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}

    def __init__(self, task: str = "pretrain", render_mode: str | None = None, width: int = 320, height: int = 320,
                 **config: Any) -> None:
        self.cfg = AntConfig(**config)
        self.tasks = resolve_tasks(task, "ant", self.cfg.n_colors)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode={render_mode!r}: expected one of {self.metadata['render_modes']}")
        self.render_mode, self.width, self.height = render_mode, width, height
        self.model = mujoco.MjModel.from_xml_string(ant_xml(self.cfg))
        self.data = mujoco.MjData(self.model)
        self.tile0 = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "tile_0")
        self.init_qpos = self.model.key_qpos[0].copy() if self.model.nkey else self.data.qpos.copy()
        self.init_qpos[:7] = [0, 0, 0.75, 1, 0, 0, 0]
        self.init_qpos[7:] = [0.0, 1.0, 0.0, -1.0, 0.0, -1.0, 0.0, 1.0]
        n_obs = (self.model.nq - 2) + self.model.nv + 2 + 2 * (self.cfg.n_colors + self.cfg.n_walls) + 2
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n_obs,), dtype=np.float32)
        low, high = self.model.actuator_ctrlrange.T
        self.action_space = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)
        # layouts are drawn (solvable) on the cell grid; one sampler, reseeded from np_random each reset
        self._layouts = GridPinpadBatch(_grid_config(self.cfg), self.tasks, 1)
        self._renderer: mujoco.Renderer | None = None
        self._half = self.cfg.size * self.cfg.cell_size / 2
        self.colors = np.zeros(self.cfg.n_colors, dtype=np.int64)
        self.walls = np.zeros(self.cfg.n_walls, dtype=np.int64)
        self.task: tuple[int, ...] = ()
        self.progress = self.t = 0
        self.cell = -1

    # ------------------------------------------------------------------ geometry
    def cell_of(self, xy: np.ndarray) -> int:
        """Cell index (row * size + col, row 0 at +y) of a point, or −1 off the grid."""
        c = int(np.floor((xy[0] + self._half) / self.cfg.cell_size))
        r = int(np.floor((self._half - xy[1]) / self.cfg.cell_size))
        return r * self.cfg.size + c if 0 <= r < self.cfg.size and 0 <= c < self.cfg.size else -1

    def cell_center(self, cells: np.ndarray) -> np.ndarray:
        r, c = np.divmod(np.asarray(cells), self.cfg.size)
        return np.stack([(c + 0.5) * self.cfg.cell_size - self._half, self._half - (r + 0.5) * self.cfg.cell_size], -1)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        grid = self._layouts
        grid.seed(int(self.np_random.integers(2**31)))
        grid.reset()
        self.colors, self.walls = grid.colors[0].copy(), grid.walls[0].copy()
        self.task = tuple(int(c) for c in grid.task[0, : grid.task_len[0]])
        start = int(grid.pos[0])
        self._paint_tiles()
        mujoco.mj_resetData(self.model, self.data)
        qpos = self.init_qpos + self.np_random.uniform(-0.1, 0.1, self.model.nq)
        qpos[:2] = self.cell_center(start) + self.np_random.uniform(-0.25, 0.25, 2) * self.cfg.cell_size
        yaw = self.np_random.uniform(-np.pi, np.pi)
        qpos[2], qpos[3:7] = 0.75, [np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)]
        self.data.qpos[:] = qpos
        self.data.qvel[:] = self.np_random.standard_normal(self.model.nv) * 0.1
        mujoco.mj_forward(self.model, self.data)
        self.progress, self.t, self.cell = 0, 0, self.cell_of(self.data.qpos[:2])
        return self._obs(), self._info()

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action: expected shape {self.action_space.shape}, got {action.shape}")
        self.data.ctrl[:] = np.clip(action, self.action_space.low, self.action_space.high)
        mujoco.mj_step(self.model, self.data, nstep=FRAME_SKIP)
        self.t += 1
        cell = self.cell_of(self.data.qpos[:2])
        z = float(self.data.qpos[2])
        reward, terminated, event = 0.0, False, None
        if cell != self.cell:
            if cell < 0:
                terminated, event = True, "left_grid"
            elif cell in self.walls:
                terminated, event = True, "wall"
            elif cell in self.colors:
                color = int(np.flatnonzero(self.colors == cell)[0])
                # (after success only a wrapper that keeps stepping — the open-floor curriculum — gets here)
                if self.progress < len(self.task) and color == self.task[self.progress]:
                    self.progress += 1
                    event = "visit"
                    if self.progress == len(self.task):
                        reward, terminated, event = 1.0, True, "success"
                else:
                    terminated, event = True, "wrong_color"
            self.cell = cell
        if not terminated and not 0.2 <= z <= 1.0:
            terminated, event = True, "fell"
        truncated = not terminated and self.t >= self.cfg.horizon
        info = self._info()
        info["event"] = event
        return self._obs(), reward, terminated, truncated, info

    def _paint_tiles(self) -> None:
        rgba = np.tile(FLOOR_RGBA, (self.cfg.size**2, 1))
        rgba[self.colors] = [PAD_RGBA[i % len(PAD_RGBA)] for i in range(self.cfg.n_colors)]
        rgba[self.walls] = WALL_RGBA
        self.model.geom_rgba[self.tile0 : self.tile0 + self.cfg.size**2] = rgba

    # ------------------------------------------------------------------ snapshots
    def get_state(self) -> dict[str, Any]:
        """Everything the episode's next steps depend on, as JSON-ready values: the layout and task,
        the progress, MuJoCo's integration state (qpos, qvel, act, controls, the solver's warm start:
        `mjSTATE_INTEGRATION`, exact) and the random stream. `set_state` continues the episode bit
        for bit — how a training checkpoint keeps its episodes in flight."""
        physics = np.empty(mujoco.mj_stateSize(self.model, _PHYSICS))
        mujoco.mj_getState(self.model, self.data, physics, _PHYSICS)
        return {"colors": self.colors.tolist(), "walls": self.walls.tolist(), "task": list(self.task),
                "progress": self.progress, "t": self.t, "cell": self.cell, "physics": physics.tolist(),
                "np_random": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a `get_state` snapshot (of an env with the same config)."""
        physics, size = np.asarray(state["physics"], dtype=np.float64), mujoco.mj_stateSize(self.model, _PHYSICS)
        if physics.shape != (size,):
            raise ValueError(f"physics state of {physics.size} numbers; this env's model has {size} (another AntConfig?)")
        self.colors = np.asarray(state["colors"], dtype=np.int64)
        self.walls = np.asarray(state["walls"], dtype=np.int64)
        self.task = tuple(int(c) for c in state["task"])
        self.progress, self.t, self.cell = int(state["progress"]), int(state["t"]), int(state["cell"])
        self._paint_tiles()
        mujoco.mj_resetData(self.model, self.data)
        mujoco.mj_setState(self.model, self.data, physics, _PHYSICS)
        mujoco.mj_forward(self.model, self.data)  # derived quantities, for render(); the state is untouched
        self.np_random.bit_generator.state = state["np_random"]

    def _obs(self) -> np.ndarray:
        qpos, qvel = self.data.qpos, self.data.qvel
        xy = qpos[:2]
        objects = self.cell_center(np.concatenate([self.colors, self.walls])) - xy
        within = (np.array([xy[0] + self._half, self._half - xy[1]]) % self.cfg.cell_size) / self.cfg.cell_size
        return np.concatenate([symlog(qpos[2:]), symlog(qvel), xy / self._half, objects.ravel() / (2 * self._half),
                               within]).astype(np.float32)

    def _info(self) -> dict:
        target = self.task[self.progress] if self.progress < len(self.task) else -1
        return {"task": format_task(self.task), "progress": self.progress, "target": target, "subgoal": target,
                "cell": self.cell, "success": self.progress == len(self.task) and len(self.task) > 0}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, self.height, self.width)
        self._renderer.update_scene(self.data, camera="overhead")
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def episode_outcome(info: dict, terminated: bool) -> str:
    """How an episode ended, from its last step: "success", the terminating event ("wrong_color",
    "wall", "left_grid", "fell") or "timeout" — also when the horizon falls on a visit's step."""
    if info["success"]:
        return "success"
    return info["event"] if terminated and info["event"] else "timeout"


def _grid_config(cfg: AntConfig) -> GridConfig:
    # the cell grid for layout drawing and solvability: a generous horizon in cells
    return GridConfig(size=cfg.size, n_colors=cfg.n_colors, n_walls=cfg.n_walls, horizon=cfg.size**2 * 4)
