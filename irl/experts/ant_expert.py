"""The ant expert (paper App. A.2; DESIGN.md §2): a PPO policy told where to walk.

The expert sees the ant-pinpad observation plus the *shortest-path direction*: from the torso
toward the centre of the next cell on a shortest cell path to the current target color, walking
only on empty cells (never a wall or another color — the grid expert's rule). It is trained on the
intrinsic reward  v_xy · direction  (plus Ant-v5's healthy bonus and control cost), so one
locomotion skill, steered by the direction input, solves every task; the task reward itself is
never used. The direction is given both in the world frame and rotated into the torso's heading.

Two training aids (README "Ant-pinpad", runs 9+):
- `frame="heading"`: the policy sees only what is the same under a turn of the whole scene about z —
  height, the gravity vector in the torso frame, joint angles, velocities in the heading frame, and
  the direction in the heading frame (`heading_observation`). Walking in a commanded direction from
  any yaw is then one skill, not one per yaw; the pinpad observation is kept (`env_obs`) for the
  datasets, which the base model reads.
- `mode="open"`: an open floor — the direction is a random unit vector, redrawn every
  `open_turn_every` steps, and only a fall ends the episode (no grid, pads or walls): a locomotion
  curriculum before the pinpad, where every misstep ends the episode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import Tensor, nn

from irl.envs.grid import GridPinpadBatch
from irl.envs.grid_paths import UNREACHABLE

if TYPE_CHECKING:  # the policy module loads without MuJoCo (io.KINDS imports it)
    from irl.envs.ant import AntPinpadEnv

DIRECTION_DIM = 4  # world-frame (x, y) and heading-frame (forward, left) unit vectors
FRAMES = ("world", "heading")
MODES = ("task", "open")


@dataclass(frozen=True)
class AntRewardConfig:
    """Intrinsic reward per step: progress · (v_xy · direction) + healthy − ctrl_cost · |a|²,
    plus `visit` on reaching each target color and, on completing the task, `success` and the
    healthy bonus of `success_healthy_steps` more steps.

    Why the last term: success ends the episode, so without it finishing forfeits every healthy
    bonus still to come and standing still beats completing the task. Runs 1-5 (README
    "Ant-pinpad") showed both failure modes: a bonus of 0.5 without it learned to stand still
    (0.5 M steps), a bonus of 0.05 never learned to stay up (falls in 41-61% of episodes).
    100 steps is the horizon PPO's γ = 0.99 discounts over. Run 6 (progress 1, ctrl 0.1) stood
    still too: the control cost on *sampled* torques taxed exploration as much as the healthy
    bonus paid, the action std collapsed (entropy 7.3 → −10.4 by 1.2 M steps, clip fraction
    0.58) before walking paid off; hence a small control cost and a larger progress weight.
    """

    progress: float = 2.0
    healthy: float = 0.5
    ctrl_cost: float = 0.01
    visit: float = 5.0
    success: float = 10.0
    success_healthy_steps: int = 100
    # False (training only): a wrong color or the wall cell does not end the episode, so the policy
    # learns to follow the direction as a locomotion skill without every misstep ending it; a fall,
    # leaving the grid and success still end it. Evaluation and collection keep the task's rules.
    task_terminations: bool = True
    # subtracted when the ant steps onto a wrong color or the wall: with task_terminations False the
    # misstep otherwise costs one step's healthy bonus only, and run 9's expert (trained so) failed
    # 52 of 200 evaluation episodes on missteps, which the task's rules end
    misstep: float = 0.0
    # subtracted per unit of the torso's xy speed *across* the direction: v·direction alone does not
    # penalise walking sideways, and the committed expert (run 11) kept its old heading for 20-30
    # steps after the direction turned — most of its left_grid and wrong_color failures (README)
    lateral: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    def event_bonus(self, event: str | None) -> float:
        """The sparse part of the reward for one step's env event."""
        if event == "visit":
            return self.visit
        if event == "success":
            return self.visit + self.success + self.healthy * self.success_healthy_steps
        if event in ("wall", "wrong_color"):
            return -self.misstep
        return 0.0


def torso_yaw(qpos: np.ndarray) -> float:
    """Heading of the torso about z, from its quaternion (w, x, y, z) = qpos[3:7]."""
    w, x, y, z = qpos[3:7]
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


class CellPaths:
    """Shortest cell paths on one layout: distance of every cell to every color (BFS on empty cells)."""

    def __init__(self, env: AntPinpadEnv) -> None:
        cfg = env.cfg
        self.size = cfg.size
        self.dist = GridPinpadBatch.layout_distances(env.colors[None], env.walls[None], cfg.size)[0].astype(np.int64)
        self.walls = set(int(w) for w in env.walls)

    def next_cell(self, cell: int, target: int) -> int:
        """The neighbour of `cell` on a shortest path to color `target` (its cell when adjacent);
        −1 when none is reachable."""
        r, c = divmod(cell, self.size)
        best, best_d = -1, int(UNREACHABLE)
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < self.size and 0 <= cc < self.size:
                n = rr * self.size + cc
                if n not in self.walls and self.dist[target, n] < best_d:
                    best, best_d = n, int(self.dist[target, n])
        return best


def to_heading(d: np.ndarray, yaw: float) -> np.ndarray:
    """A world-frame xy vector in the torso's heading frame (forward, left)."""
    cos, sin = np.cos(yaw), np.sin(yaw)
    return np.array([cos * d[0] + sin * d[1], -sin * d[0] + cos * d[1]])


def path_cells(paths: CellPaths, cell: int, target: int, limit: int = 64) -> list[int]:
    """The cells of a shortest path from `cell` to color `target`'s cell, both ends included."""
    cells = [cell]
    while paths.dist[target, cells[-1]] > 0 and len(cells) < limit:
        nxt = paths.next_cell(cells[-1], target)
        if nxt < 0:
            break
        cells.append(nxt)
    return cells


def lookahead_point(points: np.ndarray, xy: np.ndarray, ahead: float) -> np.ndarray:
    """Pure pursuit on the polyline `points` (k, 2): project `xy` on its first segment, then walk
    `ahead` further along the polyline (stopping at its end)."""
    if len(points) < 2:
        return points[0]
    u = points[1] - points[0]
    s = float(np.clip((xy - points[0]) @ u / max(float(u @ u), 1e-12), 0.0, 1.0)) * float(np.linalg.norm(u))
    left = s + ahead
    for a, b in zip(points[:-1], points[1:]):
        seg = float(np.linalg.norm(b - a))
        if left <= seg:
            return a + (b - a) * (left / max(seg, 1e-12))
        left -= seg
    return points[-1]


def shortest_path_direction(env: AntPinpadEnv, paths: CellPaths, lookahead: float = 0.0) -> np.ndarray:
    """(4,) float32: unit vector toward the waypoint, world frame then heading frame; zeros when the
    task is done, the ant is off the grid, or no path exists.

    `lookahead` 0: the waypoint is the next cell's centre on a shortest cell path (runs 1-10).
    `lookahead` > 0 (in cells): pure pursuit of the path through the cell centres — the point that
    far ahead of the torso's projection on the path — so the ant walks the cells' centre line and
    turns inside the turning cell instead of cutting the corner through its neighbours.
    """
    out = np.zeros(DIRECTION_DIM, dtype=np.float32)
    if env.progress >= len(env.task) or env.cell < 0:
        return out
    target = env.task[env.progress]
    nxt = paths.next_cell(env.cell, target)
    if nxt < 0:
        return out
    xy = env.data.qpos[:2]
    if lookahead > 0:
        waypoint = lookahead_point(env.cell_center(np.array(path_cells(paths, env.cell, target))), xy,
                                   lookahead * env.cfg.cell_size)
    else:
        waypoint = env.cell_center(nxt)
    d = waypoint - xy
    n = float(np.linalg.norm(d))
    if n < 1e-6:
        return out
    d = d / n
    out[:2] = d
    out[2:] = to_heading(d, torso_yaw(env.data.qpos))
    return out


def heading_observation(env: AntPinpadEnv, direction: np.ndarray) -> np.ndarray:
    """(28,) float32, invariant to a rotation of the scene about z: torso height, gravity in the torso
    frame (3), joint angles (8), symlog of the torso velocity in the heading frame (3), of its angular
    velocity (3, MuJoCo's free joint gives it in the body frame) and of the joint velocities (8), and
    the heading-frame direction (2)."""
    from irl.envs.ant import symlog  # MuJoCo is loaded whenever there is an env

    qpos, qvel = env.data.qpos, env.data.qvel
    w, x, y, z = qpos[3:7]
    # the third row of the torso's rotation matrix: world z in body coordinates = −gravity
    up = np.array([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)])
    v = np.array([*to_heading(qvel[:2], torso_yaw(qpos)), qvel[2]])
    return np.concatenate([[qpos[2]], up, qpos[7:15], symlog(v), symlog(qvel[3:6]), symlog(qvel[6:14]),
                           direction[2:]]).astype(np.float32)


HEADING_OBS_DIM = 28


class AntExpertEnv(gym.Wrapper):
    """AntPinpadEnv for training and running the expert: observation + direction, intrinsic reward.

    `frame`: "world" — the pinpad observation + the direction (world and heading frame); "heading" —
    `heading_observation` only. `mode`: "task" (the pinpad) or "open" (the open-floor curriculum;
    settable between episodes). `env_obs` is the pinpad observation of the latest step (what the
    datasets store); `info["task_reward"]` keeps the env's own (sparse) reward and
    `info["direction"]` the direction the policy was given.
    """

    def __init__(self, env: AntPinpadEnv, reward: AntRewardConfig = AntRewardConfig(), frame: str = "world",
                 mode: str = "task", open_turn_every: int = 100, lookahead: float = 0.0) -> None:
        super().__init__(env)
        if frame not in FRAMES:
            raise ValueError(f"frame={frame!r}: expected one of {FRAMES}")
        if lookahead < 0:
            raise ValueError(f"lookahead={lookahead}: must be >= 0 (cells)")
        if open_turn_every < 1:
            raise ValueError(f"open_turn_every={open_turn_every}: must be >= 1")
        self.reward_cfg, self.frame, self.open_turn_every, self.lookahead = reward, frame, open_turn_every, lookahead
        self.mode = mode
        n = HEADING_OBS_DIM if frame == "heading" else env.observation_space.shape[0] + DIRECTION_DIM
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)
        self.paths: CellPaths | None = None
        self.direction = np.zeros(DIRECTION_DIM, dtype=np.float32)
        self.env_obs = np.zeros(env.observation_space.shape, dtype=np.float32)
        self._world_dir = np.zeros(2)

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode={value!r}: expected one of {MODES}")
        self._mode = value

    @property
    def ant(self) -> AntPinpadEnv:
        return self.env.unwrapped  # type: ignore[return-value]

    def _direction(self) -> np.ndarray:
        if self.mode == "task":
            assert self.paths is not None, "step before reset"
            return shortest_path_direction(self.ant, self.paths, self.lookahead)
        if self.ant.t % self.open_turn_every == 0:
            angle = self.np_random.uniform(-np.pi, np.pi)
            self._world_dir = np.array([np.cos(angle), np.sin(angle)])
        d = self._world_dir
        return np.array([*d, *to_heading(d, torso_yaw(self.ant.data.qpos))], dtype=np.float32)

    def _observe(self, obs: np.ndarray) -> np.ndarray:
        self.env_obs = obs
        if self.frame == "heading":
            return heading_observation(self.ant, self.direction)
        return np.concatenate([obs, self.direction])

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self.paths = CellPaths(self.ant)
        self.direction = self._direction()
        return self._observe(obs), {**info, "direction": self.direction}

    def get_state(self) -> dict[str, Any]:
        """The ant's snapshot (`AntPinpadEnv.get_state`) plus this wrapper's: mode, direction, the
        open floor's heading and the last observation; `set_state` continues the episode exactly."""
        return {"ant": self.ant.get_state(), "mode": self.mode, "direction": self.direction.tolist(),
                "world_dir": self._world_dir.tolist(), "env_obs": self.env_obs.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.ant.set_state(state["ant"])
        self.mode = state["mode"]
        self.paths = CellPaths(self.ant)
        self.direction = np.asarray(state["direction"], dtype=np.float32)
        self._world_dir = np.asarray(state["world_dir"], dtype=np.float64)
        self.env_obs = np.asarray(state["env_obs"], dtype=np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        direction = self.direction
        obs, task_reward, terminated, truncated, info = self.env.step(action)
        v = self.ant.data.qvel[:2]
        a = np.asarray(action, dtype=np.float64)
        r = self.reward_cfg
        event = info.get("event")
        upright = 0.2 <= float(self.ant.data.qpos[2]) <= 1.0  # the env checks falls only when nothing else ended it
        if self.mode == "open":  # only a fall ends it; pads, walls and the grid's edge are not there
            terminated = not upright
            truncated = not terminated and self.ant.t >= self.ant.cfg.horizon
            event = "fell" if terminated else None
            info = {**info, "event": event, "success": False}
        elif terminated and not self.reward_cfg.task_terminations and event in ("wall", "wrong_color") and upright:
            terminated = False  # training only: the misstep is still reported in info["event"]
        healthy = event not in ("fell", "left_grid", "wall", "wrong_color")
        along = float(v @ direction[:2])
        across = float(np.linalg.norm(v - along * direction[:2])) if direction[:2].any() else 0.0
        reward = (r.progress * along - r.lateral * across + r.healthy * healthy - r.ctrl_cost * float(a @ a)
                  + (r.event_bonus(event) if self.mode == "task" else 0.0))
        self.direction = self._direction()
        info = {**info, "task_reward": task_reward, "direction": self.direction}
        return self._observe(obs), reward, terminated, truncated, info


class RunningNorm(nn.Module):
    """Running mean/variance of observations (Welford over batches), kept as buffers so the
    normaliser travels in the safetensors weights with the policy."""

    def __init__(self, dim: int, clip: float = 10.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(1e-4, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor) -> None:
        x = x.double().reshape(-1, x.shape[-1])
        n, mean, var = x.shape[0], x.mean(0), x.var(0, unbiased=False)
        delta, tot = mean - self.mean, self.count + x.shape[0]
        self.mean += delta * n / tot
        self.var.copy_((self.var * self.count + var * n + delta**2 * self.count * n / tot) / tot)
        self.count.fill_(float(tot))

    def forward(self, x: Tensor) -> Tensor:
        return ((x - self.mean.to(x.dtype)) / torch.sqrt(self.var.to(x.dtype) + 1e-8)).clamp(-self.clip, self.clip)


@dataclass(frozen=True)
class ExpertNetConfig:
    obs_dim: int
    act_dim: int = 8
    hidden: int = 256
    frame: str = "world"  # the AntExpertEnv observation it reads
    lookahead: float = 0.0  # the AntExpertEnv waypoint rule it was trained with (cells; 0: next cell's centre)

    def to_dict(self) -> dict:
        return asdict(self)


def _mlp(i: int, h: int, o: int, out_std: float) -> nn.Sequential:
    layers = [nn.Linear(i, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh(), nn.Linear(h, o)]
    for layer, std in zip(layers[::2], (np.sqrt(2), np.sqrt(2), out_std)):
        nn.init.orthogonal_(layer.weight, std)
        nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


class AntExpertPolicy(nn.Module):
    """Gaussian actor (state-independent log std) and critic over normalised observations."""

    kind = "ant-expert"

    def __init__(self, cfg: ExpertNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = RunningNorm(cfg.obs_dim)
        self.actor = _mlp(cfg.obs_dim, cfg.hidden, cfg.act_dim, 0.01)
        self.critic = _mlp(cfg.obs_dim, cfg.hidden, 1, 1.0)
        self.log_std = nn.Parameter(torch.full((cfg.act_dim,), -0.5))

    def value_n(self, nobs: Tensor) -> Tensor:
        """Value of already-normalised observations (training stores them normalised as collected)."""
        return self.critic(nobs).squeeze(-1)

    def dist_n(self, nobs: Tensor) -> torch.distributions.Normal:
        mean = self.actor(nobs)
        return torch.distributions.Normal(mean, self.log_std.exp().expand_as(mean))

    def value(self, obs: Tensor) -> Tensor:
        return self.value_n(self.norm(obs))

    def dist(self, obs: Tensor) -> torch.distributions.Normal:
        return self.dist_n(self.norm(obs))

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool, generator: torch.Generator | None = None) -> np.ndarray:
        """(N, act_dim) actions for (N, obs_dim) observations: the mean, or a sample."""
        d = self.dist(torch.as_tensor(obs, dtype=torch.float32))
        a = d.mean if deterministic else d.mean + d.stddev * torch.randn(d.mean.shape, generator=generator)
        return a.clamp(-1, 1).numpy()
