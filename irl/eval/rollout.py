"""Closed-loop rollouts of the base model in the batched grid env, optionally with a controller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.models.transformer import Edit, PinpadTransformer

# Given the env (current state), the edit to apply at this step (or None).
Controller = Callable[[GridPinpadBatch], Edit | None]


@dataclass(frozen=True)
class RolloutResult:
    success: np.ndarray  # (N,) bool
    lengths: np.ndarray  # (N,) steps taken
    progress: np.ndarray  # (N,) colors visited in order

    @property
    def success_rate(self) -> float:
        return float(self.success.mean())


@torch.no_grad()
def rollout(
    model: PinpadTransformer,
    env: GridPinpadBatch,
    controller: Controller | None = None,
    edit_layer: int | None = None,
    greedy: bool = False,
    seed: int = 0,
) -> RolloutResult:
    """Run every episode of `env` (already reset) to its end, actions sampled from the model."""
    device = next(model.parameters()).device
    gen = torch.Generator(device="cpu").manual_seed(seed)
    colors = torch.from_numpy(env.colors).to(device)
    walls = torch.from_numpy(env.walls).to(device)
    cache = model.init_cache(colors, walls, env.config.horizon)
    for _ in range(env.config.horizon):
        if env.done.all():
            break
        edit = controller(env) if controller is not None else None
        out = model.step(cache, torch.from_numpy(env.pos).to(device), edit_layer=edit_layer, edit=edit)
        logits = out["action_logits"].float().cpu()
        if greedy:
            actions = logits.argmax(-1)
        else:
            actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)[:, 0]
        env.step(actions.numpy())
    return RolloutResult(success=env.success.copy(), lengths=env.t.copy(), progress=env.progress.copy())


def fresh_env(config: GridConfig, task_set: TaskSet, episodes: int, seed: int, any_task: bool) -> GridPinpadBatch:
    env = GridPinpadBatch(config, task_set, episodes, seed=seed, any_task=any_task)
    env.reset()
    return env
