"""Expert data collection for gridworld-pinpad: D (ε-noisy expert) and D* (ε = 0).

Episodes run in chunks of `chunk_size` on the batched core; every chunk steps until all its
episodes end, then its steps are packed episode after episode into the dataset arrays.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from tqdm.auto import tqdm

from irl import __version__
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.experts.grid_expert import ExpertConfig, ShortestPathExpert


@dataclass(frozen=True)
class CollectConfig:
    """One dataset's collection: how many episodes, which tasks, expert noise, seed."""

    episodes: int
    epsilon: float
    seed: int
    task_set: str = "pretrain"
    chunk_size: int = 4096

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes}: must be >= 1")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size={self.chunk_size}: must be >= 1")
        ExpertConfig(self.epsilon)  # validates ε


@dataclass(frozen=True)
class CollectResult:
    arrays: dict[str, np.ndarray]
    meta: dict
    wall_s: float

    @property
    def steps(self) -> int:
        return int(self.arrays["pos"].shape[0])

    @property
    def success_rate(self) -> float:
        return float(self.arrays["success"].mean())

    @property
    def steps_per_s(self) -> float:
        return self.steps / max(self.wall_s, 1e-9)


def collect_grid(env_config: GridConfig, task_set: TaskSet, config: CollectConfig, progress: bool = False) -> CollectResult:
    """Roll the shortest-path expert on fresh solvable layouts; return arrays in dataset format."""
    env_seed, expert_seed = np.random.SeedSequence(config.seed).spawn(2)
    expert = ShortestPathExpert(ExpertConfig(config.epsilon), seed=np.random.default_rng(expert_seed))
    env_rng = np.random.default_rng(env_seed)
    horizon = env_config.horizon
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("colors", "walls", "task_id", "len", "success", "final", "pos", "action", "target", "subgoal")}
    t0 = time.perf_counter()
    remaining = config.episodes
    bar = tqdm(total=config.episodes, unit="ep", desc=f"collect ε={config.epsilon}", disable=not progress)
    while remaining > 0:
        n = min(config.chunk_size, remaining)
        env = GridPinpadBatch(env_config, task_set, n, seed=env_rng)
        env.reset()
        pos = np.zeros((horizon, n), dtype=np.int8)
        act = np.zeros((horizon, n), dtype=np.int8)
        tgt = np.zeros((horizon, n), dtype=np.int8)
        sub = np.zeros((horizon, n), dtype=np.int8)
        layout = (env.colors.astype(np.int8), env.walls.astype(np.int8), env.task_id.astype(np.int16))
        lengths = np.zeros(n, dtype=np.int64)
        success = np.zeros(n, dtype=bool)
        final = np.zeros(n, dtype=np.int8)
        ids = np.arange(n)  # chunk episode of each live row
        t = 0
        while env.num_envs:
            a = expert.act(env)
            pos[t, ids], act[t, ids], tgt[t, ids], sub[t, ids] = env.pos, a, env.target, env.subgoal
            env.step(a)
            t += 1
            if env.done.any():
                fin = env.done
                lengths[ids[fin]], success[ids[fin]], final[ids[fin]] = env.t[fin], env.success[fin], env.pos[fin]
                env.keep(~fin)
                ids = ids[~fin]
        valid = (np.arange(horizon)[:, None] < lengths[None, :]).T  # (n, horizon), row-major = episode order
        parts["pos"].append(pos.T[valid])
        parts["action"].append(act.T[valid])
        parts["target"].append(tgt.T[valid])
        parts["subgoal"].append(sub.T[valid])
        parts["colors"].append(layout[0])
        parts["walls"].append(layout[1])
        parts["task_id"].append(layout[2])
        parts["len"].append(lengths.astype(np.int32))
        parts["success"].append(success)
        parts["final"].append(final)
        remaining -= n
        bar.update(n)
    bar.close()
    wall = time.perf_counter() - t0
    arrays = {
        "layout_colors": np.concatenate(parts["colors"]),
        "layout_walls": np.concatenate(parts["walls"]),
        "task_id": np.concatenate(parts["task_id"]),
        "episode_lengths": np.concatenate(parts["len"]),
        "success": np.concatenate(parts["success"]),
        "final_pos": np.concatenate(parts["final"]),
        "pos": np.concatenate(parts["pos"]),
        "action": np.concatenate(parts["action"]),
        "target": np.concatenate(parts["target"]),
        "subgoal": np.concatenate(parts["subgoal"]),
    }
    meta = {
        "env": {"name": "grid-pinpad", **env_config.to_dict()},
        "task_set": {
            "name": task_set.name,
            "tasks": task_set.task_strings(),
            "colors_per_subgoal": task_set.colors_per_subgoal,
        },
        "expert": {"name": ShortestPathExpert.name, "epsilon": config.epsilon},
        "collect": asdict(config),
        "seed": config.seed,
        "layout_sampling": ("uniform, redrawn until every task of the set is solvable within the horizon"
                            if env_config.layouts == "every_task" else
                            "uniform, redrawn until the episode's task is solvable within the horizon"),
        "irl_version": __version__,
    }
    return CollectResult(arrays=arrays, meta=meta, wall_s=wall)


@dataclass(frozen=True)
class CollectStageConfig:
    """The `collect_grid` stage (params.yaml `collect_grid`): D, D* and the post-task check."""

    episodes_D: int
    episodes_D_star: int
    epsilon_D: float
    seed: int
    task_set: str = "pretrain"
    chunk_size: int = 4096
    check_episodes_post: int = 1024

    def datasets(self) -> dict[str, CollectConfig]:
        """D: the ε-noisy expert; D*: ε = 0 (DESIGN.md §1). Distinct seeds, so distinct layouts."""
        return {
            "D": CollectConfig(self.episodes_D, self.epsilon_D, self.seed, self.task_set, self.chunk_size),
            "D_star": CollectConfig(self.episodes_D_star, 0.0, self.seed + 1_000_003, self.task_set, self.chunk_size),
        }

    def post_check(self) -> CollectConfig:
        return CollectConfig(self.check_episodes_post, 0.0, self.seed + 2_000_006, "post", self.chunk_size)
