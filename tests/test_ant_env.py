"""Ant-pinpad rules, checked by placing the torso in chosen cells; Gymnasium's env checker; render."""

from __future__ import annotations

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from irl.envs.ant import AntPinpadEnv


def place(env: AntPinpadEnv, cell: int, z: float = 0.55) -> None:
    """Put the torso at the centre of `cell` (−1: off the grid), at rest."""
    xy = env.cell_center(cell) if cell >= 0 else np.array([env.cfg.size * env.cfg.cell_size, 0.0])
    env.data.qpos[:2], env.data.qpos[2] = xy, z
    env.data.qvel[:] = 0
    mujoco.mj_forward(env.model, env.data)


def layout(env: AntPinpadEnv, task: tuple[int, ...]) -> None:
    """A fixed layout: colors 0-3 in cells 5, 6, 9, 10, the wall in 0, ant in 15."""
    env.colors, env.walls, env.task = np.array([5, 6, 9, 10]), np.array([0]), task
    env.progress, env.t = 0, 0
    place(env, 15)
    env.cell = 15


def step(env: AntPinpadEnv, cell: int, z: float = 0.55):
    place(env, cell, z)
    return env.step(np.zeros(8, dtype=np.float32))


@pytest.fixture()
def env() -> AntPinpadEnv:
    e = AntPinpadEnv(task="0-1-2")
    e.reset(seed=0)
    return e


def test_visits_in_order_succeed(env: AntPinpadEnv) -> None:
    layout(env, (0, 1, 2))
    assert step(env, 14)[1:3] == (0.0, False)  # empty cell
    _, r, term, _, info = step(env, 5)
    assert (r, term, info["progress"], info["event"]) == (0.0, False, 1, "visit")
    step(env, 1)  # leave through an empty cell
    _, r, term, _, info = step(env, 6)
    assert info["progress"] == 2 and not term
    _, r, term, _, info = step(env, 9)
    assert (r, term, info["event"], info["success"]) == (1.0, True, "success", True)


def test_wrong_color_wall_off_grid_and_falling_end_the_episode(env: AntPinpadEnv) -> None:
    for cell, z, event in ((6, 0.55, "wrong_color"), (0, 0.55, "wall"), (-1, 0.55, "left_grid"),
                           (14, 1.2, "fell")):
        layout(env, (0, 1, 2))
        _, r, term, trunc, info = step(env, cell, z)
        assert (r, term, trunc, info["event"]) == (0.0, True, False, event), (cell, z)


def test_staying_in_a_cell_is_not_a_new_visit_and_the_horizon_truncates() -> None:
    env = AntPinpadEnv(task="0-1-2", horizon=3)
    env.reset(seed=1)
    layout(env, (0, 1, 2))
    step(env, 5)
    _, _, term, trunc, info = step(env, 5)  # still in color 0's cell: nothing new
    assert not term and not trunc and info["progress"] == 1
    _, _, term, trunc, _ = step(env, 5)
    assert trunc and not term


def test_reset_draws_solvable_layouts_random_yaw_and_start(env: AntPinpadEnv) -> None:
    starts, yaws = set(), set()
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        assert env.observation_space.contains(obs)
        cells = set(env.colors) | set(env.walls)
        assert len(cells) == 5 and info["cell"] not in cells and info["cell"] >= 0
        starts.add(info["cell"])
        w, z = env.data.qpos[3], env.data.qpos[6]
        yaws.add(round(float(2 * np.arctan2(z, w)), 4))
        assert info["task"] in {"0-1-2"}
    assert len(starts) > 5 and len(yaws) == 20


def test_gymnasium_checks_and_rendering() -> None:
    env = gym.make("irl/AntPinpad-v0", task="pretrain", render_mode="rgb_array")
    check_env(env.unwrapped)
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (320, 320, 3)
    unwrapped = env.unwrapped
    r, c = divmod(int(unwrapped.colors[0]), 4)
    tile = frame[int((r + 0.5) * 80) - 5 : int((r + 0.5) * 80) + 5, int((c + 0.5) * 80) - 5 : int((c + 0.5) * 80) + 5]
    assert tile.mean(axis=(0, 1))[0] > tile.mean(axis=(0, 1))[2] + 30  # color 0 is red on the floor
    venv = gym.make_vec("irl/AntPinpad-v0", num_envs=3, vectorization_mode="sync", task="post")
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, env.observation_space.shape[0])
    obs, rew, term, trunc, _ = venv.step(venv.action_space.sample())
    assert rew.shape == (3,)


def test_a_snapshot_continues_the_episode_bit_for_bit() -> None:
    """`get_state` mid-episode, through JSON, into another env: the same actions give the same
    observations, rewards and events as the original env's own continuation, and resets after it
    draw the same layouts (the random stream travels too)."""
    import json

    def run(e: AntPinpadEnv, actions: np.ndarray) -> list:
        out = []
        for a in actions:
            obs, r, term, trunc, info = e.step(a)
            out.append((obs.tobytes(), r, term, trunc, info["event"]))
            if term or trunc:
                out.append(e.reset()[0].tobytes())
        return out

    a = AntPinpadEnv(task="0-1-2", horizon=40)
    a.reset(seed=3)
    rng = np.random.default_rng(0)
    run(a, rng.uniform(-1, 1, (25, 8)))
    snapshot = json.loads(json.dumps(a.get_state()))
    b = AntPinpadEnv(task="0-1-2", horizon=40)
    b.reset(seed=99)  # another layout and episode, overwritten by the snapshot
    b.set_state(snapshot)
    actions = rng.uniform(-1, 1, (60, 8))  # past the horizon: a reset inside
    assert run(b, actions) == run(a, actions)
    assert b.colors.tolist() == a.colors.tolist() and b.task == a.task
    with pytest.raises(ValueError, match="physics state"):
        b.set_state({**snapshot, "physics": snapshot["physics"][:-1]})
