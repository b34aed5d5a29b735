"""Gridworld-pinpad rules (DESIGN.md §2), each pinned on a hand-made layout."""

from __future__ import annotations

import numpy as np
import pytest

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import GRID_PRETRAIN, parse_task, resolve_tasks
from tests.grid_helpers import bfs_distance, cell, single_env

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
# Colors 0..7 on rows 0, 2, 4, 6 (columns 1 and 3); walls on the right.
COLORS = [cell(0, 1), cell(0, 3), cell(2, 1), cell(2, 3), cell(4, 1), cell(4, 3), cell(6, 1), cell(6, 3)]
WALLS = [cell(3, 5), cell(3, 6), cell(5, 5), cell(1, 6)]


def step(env: GridPinpadBatch, action: int) -> tuple[float, bool, bool]:
    r, te, tr = env.step(np.array([action]))
    return float(r[0]), bool(te[0]), bool(tr[0])


def test_visit_on_entry_advances_and_reentry_fails() -> None:
    env = single_env("0-1-2-3", COLORS, WALLS, start=cell(0, 0))
    assert env.target[0] == 0 and env.subgoal[0] == 0
    assert step(env, RIGHT) == (0.0, False, False)  # enter color 0: visited
    assert env.progress[0] == 1 and env.target[0] == 1 and env.subgoal[0] == 0
    assert step(env, LEFT) == (0.0, False, False)  # leave it
    r, terminated, truncated = step(env, RIGHT)  # re-enter color 0 while 1 is next: wrong color
    assert (r, terminated, truncated) == (0.0, True, False)
    assert env.done[0] and not env.success[0]


def test_standing_on_a_color_is_not_a_visit() -> None:
    env = single_env("0-1-2-3", COLORS, WALLS, start=cell(0, 0))
    step(env, RIGHT)  # on color 0, progress 1
    for _ in range(3):  # bumping the top edge keeps the agent on color 0: no new visit
        assert step(env, UP) == (0.0, False, False)
    assert env.pos[0] == COLORS[0] and env.progress[0] == 1 and not env.done[0]


def test_wrong_color_ends_the_episode_as_failure() -> None:
    env = single_env("2-3-0-1", COLORS, WALLS, start=cell(1, 1))
    assert step(env, UP) == (0.0, True, False)  # color 0 while 2 is next
    assert not env.success[0]


def test_walls_and_edges_block_moves() -> None:
    env = single_env("0-1", COLORS, WALLS, start=cell(3, 4))
    assert step(env, RIGHT) == (0.0, False, False)
    assert env.pos[0] == cell(3, 4) and env.t[0] == 1  # a wall: no move, a step spent
    env2 = single_env("0-1", COLORS, WALLS, start=cell(6, 6))
    step(env2, DOWN)
    assert env2.pos[0] == cell(6, 6)


def test_timeout_truncates_at_the_horizon() -> None:
    env = single_env("0-1", COLORS, WALLS, start=cell(6, 6), horizon=20)
    for t in range(19):
        assert step(env, DOWN) == (0.0, False, False), t
    assert step(env, DOWN) == (0.0, False, True)
    assert env.done[0] and env.t[0] == 20


def test_reward_one_only_when_the_task_completes() -> None:
    env = single_env("0-1-2-3", COLORS, WALLS, start=cell(1, 2))
    rewards = [step(env, a)[0] for a in (UP, LEFT)]  # (0,2) → color 0 at (0,1): visit 0
    assert rewards == [0.0, 0.0] and env.progress[0] == 1
    rewards += [step(env, a)[0] for a in (RIGHT, RIGHT)]  # (0,2) → color 1 at (0,3)
    assert env.progress[0] == 2
    rewards += [step(env, a)[0] for a in (LEFT, DOWN, DOWN, LEFT)]  # (0,2)→(1,2)→(2,2)→ color 2 at (2,1)
    assert env.progress[0] == 3
    rewards += [step(env, a)[0] for a in (RIGHT, RIGHT)]  # (2,2) → color 3 at (2,3): done
    assert rewards == [0.0] * 9 + [1.0]
    assert env.done[0] and env.success[0]
    assert step(env, LEFT) == (0.0, False, False)  # a finished episode ignores further steps
    assert env.pos[0] == COLORS[3]


@pytest.mark.parametrize("task_set", ["pretrain", "post"])
def test_sampled_layouts_are_solvable_within_the_horizon(task_set: str) -> None:
    cfg = GridConfig()
    env = GridPinpadBatch(cfg, resolve_tasks(task_set), 400, seed=1)
    env.reset()
    for i in range(env.num_envs):
        colors = [int(c) for c in env.colors[i]]
        blocked = set(colors) | {int(w) for w in env.walls[i]}
        here, total = int(env.pos[i]), 0
        for color in env.task[i, : env.task_len[i]]:
            total += bfs_distance(cfg.size, blocked, here, colors[color])
            here = colors[color]
        assert total <= cfg.horizon
        assert len(set(colors) | {int(w) for w in env.walls[i]} | {int(env.pos[i])}) == 13  # all distinct


def test_about_one_in_seven_uniform_layouts_is_redrawn() -> None:
    """The rejection rate the core pays (../shared/CPU-PROTOTYPE.md measured 14%)."""
    cfg = GridConfig()
    env = GridPinpadBatch(cfg, resolve_tasks("pretrain"), 20000, seed=2)
    rng = np.random.default_rng(3)
    cells = np.argsort(rng.random((20000, cfg.n_cells)), axis=1)[:, :13]
    task_id = rng.integers(16, size=20000)
    tasks = env._task_table[task_id]
    lengths = env.solution_length(cells[:, :8], cells[:, 8:12], cells[:, 12], tasks, env._task_lens[task_id], cfg.size)
    # the bitboard leg BFS agrees with a plain BFS on a sample
    for i in range(2000):
        blocked = {int(x) for x in cells[i, :12]}
        here, total = int(cells[i, 12]), 0.0
        for color in tasks[i]:
            total += bfs_distance(cfg.size, blocked, here, int(cells[i, color]))
            here = int(cells[i, color])
        assert (total <= cfg.horizon) == (lengths[i] <= cfg.horizon)
        if total < float("inf"):
            assert lengths[i] == total
    assert 0.11 < float((lengths > cfg.horizon).mean()) < 0.17


def test_every_task_layouts_are_solvable_for_all_sixteen_tasks() -> None:
    """`layouts: every_task` keeps a layout only if each task of the set is solvable from its start
    (checked by a plain BFS), and on 5×5 that is a real filter: most one-task layouts fail it."""
    cfg = GridConfig(size=5, horizon=60, layouts="every_task")
    env = GridPinpadBatch(cfg, resolve_tasks("pretrain"), 200, seed=4)
    env.reset()
    for i in range(env.num_envs):
        colors = [int(c) for c in env.colors[i]]
        blocked = set(colors) | {int(w) for w in env.walls[i]}
        for task in GRID_PRETRAIN:
            here, total = int(env.pos[i]), 0.0
            for color in parse_task(task, 8):
                total += bfs_distance(cfg.size, blocked, here, colors[color])
                here = colors[color]
            assert total <= cfg.horizon, (i, task)
    one_task = GridPinpadBatch(GridConfig(size=5, horizon=60), resolve_tasks("pretrain"), 2000, seed=5)
    one_task.reset()
    every = env.solvable_for_every_task(one_task.colors, one_task.walls, one_task.pos)
    assert 0.15 < float(every.mean()) < 0.45  # measured 0.28


def test_every_task_layouts_reject_a_layout_one_task_cannot_use() -> None:
    sealed = [cell(0, 0)] + COLORS[1:]  # color 0 walled into the corner: every task through 0 fails
    walls = [cell(0, 1), cell(1, 0), cell(5, 5), cell(5, 6)]
    single_env("2-3-6-7", sealed, walls=walls, start=cell(3, 3))  # fine for a task that avoids 0
    env = GridPinpadBatch(GridConfig(layouts="every_task"), resolve_tasks("pretrain"), 1, seed=0)
    with pytest.raises(ValueError, match="cannot solve"):
        env.load_layouts(np.array([sealed]), np.array([walls]), np.array([cell(3, 3)]), np.array([4]))
    with pytest.raises(ValueError, match="layouts='some'"):
        GridConfig(layouts="some")


def test_unsolvable_layout_is_rejected_with_a_clear_error() -> None:
    sealed = [cell(0, 0)] + COLORS[1:]  # color 0 in the corner, walled in on both sides
    with pytest.raises(ValueError, match="cannot solve"):
        single_env("2-3-0-1", sealed, walls=[cell(0, 1), cell(1, 0), cell(5, 5), cell(5, 6)], start=cell(3, 3))


def test_observation_is_the_one_hot_layout_plus_agent() -> None:
    env = single_env("0-1", COLORS, WALLS, start=cell(3, 3))
    obs = env.observation()
    assert obs.shape == (1, 637) and obs.dtype == np.int8
    grid = obs.reshape(49, 13)
    for c, pos in enumerate(COLORS):
        assert grid[pos, c] == 1 and grid[:, c].sum() == 1
    for w, pos in enumerate(WALLS):
        assert grid[pos, 8 + w] == 1 and grid[:, 8 + w].sum() == 1
    assert grid[cell(3, 3), 12] == 1 and grid[:, 12].sum() == 1
    assert grid.sum() == 13


def test_task_table_and_parsing() -> None:
    pre, post = resolve_tasks("pretrain"), resolve_tasks("post")
    assert len(pre.tasks) == 16 and all(len(t) == 6 for t in pre.tasks)
    assert post.tasks == ((0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3),)
    assert resolve_tasks("0-1-2-3").tasks == ((0, 1, 2, 3),)
    # every subgoal-to-subgoal transition of the post-training task is absent from pretraining
    pre_pairs = {(t[i] // 2, t[i + 2] // 2) for t in pre.tasks for i in range(0, len(t) - 2, 2)}
    post_pairs = {(t[i] // 2, t[i + 2] // 2) for t in post.tasks for i in range(0, len(t) - 2, 2)}
    assert not pre_pairs & post_pairs
    assert len(set(GRID_PRETRAIN)) == 16
    for bad, msg in [("0-9", "outside"), ("0-0-1", "repeats"), ("a-b", "expected colors"), ("nope", "task set name")]:
        with pytest.raises(ValueError, match=msg):
            resolve_tasks(bad) if bad == "nope" else parse_task(bad, 8)


def test_bad_config_and_actions_are_rejected() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        GridConfig(size=3, n_colors=8, n_walls=4)
    env = single_env("0-1", COLORS, WALLS, start=cell(3, 3))
    with pytest.raises(ValueError, match="0..3"):
        env.step(np.array([4]))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([0, 1]))


def test_same_seed_same_layouts() -> None:
    a = GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 64, seed=7)
    b = GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 64, seed=7)
    a.reset(), b.reset()
    assert (a.colors == b.colors).all() and (a.pos == b.pos).all() and (a.task_id == b.task_id).all()


def test_any_task_mode_accepts_every_task_of_the_set_and_only_those() -> None:
    cfg = GridConfig()
    from irl.envs.tasks import TaskSet

    tasks = TaskSet("two", ((0, 1, 2, 3), (0, 1, 4, 5)), 2)
    env = GridPinpadBatch(cfg, tasks, 3, seed=0, any_task=True)
    env.load_layouts(np.array([COLORS] * 3), np.array([WALLS] * 3), np.array([cell(1, 2)] * 3), np.array([0, 0, 1]))
    # all three visit 0 then 1: (1,2)→(0,2)→(0,1)=0 →(0,2)→(0,3)=1
    for a in (UP, LEFT, RIGHT, RIGHT):
        env.step(np.array([a] * 3))
    assert (env.progress == 2).all() and not env.done.any()
    # episode 0 → color 2 at (2,1), episode 1 → color 4 at (4,1) (task 1 although drawn with task 0),
    # episode 2 → color 3 at (2,3) (continues neither task): fail
    paths = {0: [LEFT, DOWN, DOWN, LEFT, LEFT, LEFT], 1: [LEFT, DOWN, DOWN, DOWN, DOWN, LEFT], 2: [DOWN, DOWN] + [UP] * 4}
    for t in range(6):
        env.step(np.array([paths[i][t] for i in range(3)]))
    assert env.progress.tolist()[:2] == [3, 3] and env.done[2] and not env.success[2]
