"""Gymnasium faces: registration, check_env, seeding, rendering, vector autoreset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import irl.envs  # noqa: F401  (registers irl/GridPinpad-v0)


@pytest.mark.parametrize("task", ["pretrain", "post", "0-1-2-3"])
def test_check_env_passes(task: str) -> None:
    env = gym.make("irl/GridPinpad-v0", task=task)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (637,) and env.observation_space.contains(obs)
    assert info["target"] == int(info["task"].split("-")[0])


def test_reset_with_a_seed_is_reproducible() -> None:
    a, b = gym.make("irl/GridPinpad-v0"), gym.make("irl/GridPinpad-v0")
    oa, ia = a.reset(seed=123)
    ob, ib = b.reset(seed=123)
    assert (oa == ob).all() and ia == ib
    for action in [0, 1, 2, 3, 1, 1]:
        ra, rb = a.step(action), b.step(action)
        assert (ra[0] == rb[0]).all() and ra[1:4] == rb[1:4]
        if ra[2] or ra[3]:
            break


def test_render_rgb_and_text() -> None:
    env = gym.make("irl/GridPinpad-v0", task="0-1-2-3", render_mode="rgb_array")
    env.reset(seed=1)
    img = env.render()
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) >= 10  # floor, walls, agent, 8 colors
    text_env = gym.make("irl/GridPinpad-v0", task="0-1-2-3", render_mode="ansi")
    text_env.reset(seed=1)
    text = text_env.render()
    assert "task 0-1-2-3" in text and text.count("[") == 1 and text.count("#") == 4
    assert all(str(c) in text for c in range(8))
    from irl.envs.grid_gym import GridPinpadEnv

    with pytest.raises(ValueError, match="render_mode"):
        GridPinpadEnv(render_mode="video")


def test_step_after_the_end_asks_for_reset() -> None:
    env = gym.make("irl/GridPinpad-v0", task="0-1", horizon=10).unwrapped
    env.reset(seed=0)
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        done = term or trunc
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_vector_env_autoresets_on_the_next_step() -> None:
    venv = gym.make_vec("irl/GridPinpad-v0", num_envs=64, vectorization_mode="vector_entry_point", task="0-1", horizon=12)
    assert venv.num_envs == 64 and venv.single_observation_space.shape == (637,)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (64, 637)
    ended_before = np.zeros(64, dtype=bool)
    restarts = 0
    for _ in range(30):
        obs, reward, term, trunc, info = venv.step(venv.action_space.sample())
        # An episode that ended on the previous step restarts now: t back to 0, no reward, not done.
        assert (reward[ended_before] == 0).all() and not (term | trunc)[ended_before].any()
        assert (venv.unwrapped.core.t[ended_before] == 0).all()
        restarts += int(ended_before.sum())
        ended_before = term | trunc
    assert restarts >= 64  # horizon 12 over 30 steps: every episode restarted at least once
    assert obs.reshape(64, 49, 13)[:, :, 12].sum(axis=1).tolist() == [1] * 64
