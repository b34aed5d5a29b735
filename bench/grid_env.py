"""Grid env throughput: batched core vs a plain loop over single Gymnasium envs.

Prints one JSON line:
  env_steps_per_s        the vector env (batched core, NEXT_STEP autoreset, one-hot obs), random actions
  expert_steps_per_s     expert-labelled collection (irl.data.collect, ε = 0.1), steps stored per second
  single_env_steps_per_s / single_expert_steps_per_s   the same work one Gymnasium env at a time
  *_ratio                batched / single
Each figure is the median of --repeats runs (this VM's speed varies by up to 2× between runs).

    python bench/grid_env.py [--num-envs 4096] [--seconds 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import irl.envs  # noqa: F401
from irl.data.collect import CollectConfig, collect_grid
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.experts.grid_expert import ExpertConfig, ShortestPathExpert


def vector_random(num_envs: int, seconds: float) -> float:
    venv = gym.make_vec("irl/GridPinpad-v0", num_envs=num_envs, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        venv.step(rng.integers(0, 4, size=num_envs))
        steps += num_envs
    return steps / (time.perf_counter() - t0)


def single_random(seconds: float) -> float:
    env = gym.make("irl/GridPinpad-v0")
    env.reset(seed=0)
    env.action_space.seed(0)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        steps += 1
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def batched_expert(episodes: int) -> float:
    cfg = CollectConfig(episodes=episodes, epsilon=0.1, seed=0, chunk_size=4096)
    return collect_grid(GridConfig(), resolve_tasks("pretrain"), cfg).steps_per_s


def single_expert(seconds: float) -> float:
    """The expert driving one Gymnasium env per step, recording what a dataset stores."""
    env = gym.make("irl/GridPinpad-v0")
    core = env.unwrapped._core
    expert = ShortestPathExpert(ExpertConfig(0.1), seed=0)
    env.reset(seed=0)
    record: list[tuple[int, int, int]] = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        action = int(expert.act(core)[0])
        record.append((int(core.pos[0]), action, int(core.subgoal[0])))
        _, _, term, trunc, _ = env.step(action)
        if term or trunc:
            env.reset()
    return len(record) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    def median(fn: Callable[[], float]) -> float:
        return statistics.median(fn() for _ in range(args.repeats))

    env_sps = median(lambda: vector_random(args.num_envs, args.seconds))
    single_sps = median(lambda: single_random(args.seconds))
    expert_sps = median(lambda: batched_expert(args.episodes))
    single_expert_sps = median(lambda: single_expert(args.seconds))
    print(json.dumps({
        "repeats": args.repeats,
        "num_envs": args.num_envs,
        "env_steps_per_s": round(env_sps),
        "single_env_steps_per_s": round(single_sps),
        "env_ratio": round(env_sps / single_sps, 1),
        "expert_steps_per_s": round(expert_sps),
        "single_expert_steps_per_s": round(single_expert_sps),
        "expert_ratio": round(expert_sps / single_expert_sps, 1),
    }))


if __name__ == "__main__":
    main()
