"""Pinpad environments; importing this module registers `irl/GridPinpad-v0` and `irl/AntPinpad-v0`
with Gymnasium (the ant's MuJoCo code loads only when the ant env is made)."""

import gymnasium as gym

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet, parse_task, resolve_tasks

if "irl/GridPinpad-v0" not in gym.registry:
    gym.register(
        id="irl/GridPinpad-v0",
        entry_point="irl.envs.grid_gym:GridPinpadEnv",
        vector_entry_point="irl.envs.grid_gym:GridPinpadVectorEnv",
    )

if "irl/AntPinpad-v0" not in gym.registry:
    gym.register(id="irl/AntPinpad-v0", entry_point="irl.envs.ant:AntPinpadEnv", max_episode_steps=None)

__all__ = ["GridConfig", "GridPinpadBatch", "TaskSet", "parse_task", "resolve_tasks"]
