"""The shortest-path expert against an independent BFS, at ε = 0 and ε > 0."""

from __future__ import annotations

import numpy as np
import pytest

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.experts.grid_expert import ExpertConfig, ShortestPathExpert
from tests.grid_helpers import bfs_distance


def _remaining(env: GridPinpadBatch, i: int) -> float:
    """Independent BFS length of the rest of episode i's task from its current cell."""
    size = env.config.size
    colors = [int(c) for c in env.colors[i]]
    blocked = set(colors) | {int(w) for w in env.walls[i]}
    here, total = int(env.pos[i]), 0.0
    for color in env.task[i, env.progress[i] : env.task_len[i]]:
        total += bfs_distance(size, blocked, here, colors[color])
        here = colors[color]
    return total


@pytest.mark.parametrize("task_set", ["pretrain", "post"])
def test_expert_follows_a_shortest_path_every_step(task_set: str) -> None:
    env = GridPinpadBatch(GridConfig(), resolve_tasks(task_set), 150, seed=11)
    env.reset()
    expert = ShortestPathExpert(ExpertConfig(0.0), seed=12)
    remaining = np.array([_remaining(env, i) for i in range(env.num_envs)])
    lengths_bfs = remaining.copy()
    while not env.done.all():
        live = ~env.done
        env.step(expert.act(env))
        for i in np.flatnonzero(live & ~env.done):
            now = _remaining(env, i)
            assert now == remaining[i] - 1, f"episode {i}: a step did not shorten the remaining path"
            remaining[i] = now
    assert env.success.all()
    assert (env.t == lengths_bfs).all()  # total length = the BFS optimum


@pytest.mark.parametrize("task_set", ["pretrain", "post"])
def test_expert_at_eps0_solves_every_solvable_episode(task_set: str) -> None:
    env = GridPinpadBatch(GridConfig(), resolve_tasks(task_set), 4000, seed=5)
    env.reset()
    expert = ShortestPathExpert(ExpertConfig(0.0), seed=6)
    while not env.done.all():
        env.step(expert.act(env))
    assert env.success.mean() == 1.0
    # every task of the set is represented and solved
    assert set(np.unique(env.task_id)) == set(range(len(env.task_set.tasks)))


def test_noisy_expert_never_enters_a_wrong_color() -> None:
    env = GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 2000, seed=8)
    env.reset()
    expert = ShortestPathExpert(ExpertConfig(0.3), seed=9)
    terminated_fail = np.zeros(env.num_envs, dtype=bool)
    while not env.done.all():
        _, term, _ = env.step(expert.act(env))
        terminated_fail |= term & ~env.success
    assert not terminated_fail.any()
    assert env.success.mean() > 0.95  # ε = 0.3 detours; only a few time out


def test_tie_breaks_are_random() -> None:
    """From a cell with two shortest moves, both get chosen."""
    env = GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 2000, seed=1)
    env.reset()
    from irl.experts.grid_expert import optimal_action_mask

    mask = optimal_action_mask(env)
    ties = mask.sum(axis=1) >= 2
    assert ties.any()
    actions = ShortestPathExpert(ExpertConfig(0.0), seed=2).act(env)
    first_optimal = mask.argmax(axis=1)
    assert mask[np.arange(env.num_envs), actions].all()
    assert (actions[ties] != first_optimal[ties]).mean() > 0.3
