"""One episode, recorded step by step: what a researcher inspects and the viewer animates."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from irl.agents.agent import Agent
from irl.agents.bundle import ModelBundle
from irl.envs.grid import GridPinpadBatch
from irl.envs.tasks import format_task, resolve_tasks


@dataclass
class Trajectory:
    size: int
    colors: list[int]  # cell of color c (cells are row * size + col)
    walls: list[int]
    task: list[int]
    policy: str
    positions: list[int]  # agent cell before each step, and after the last (len = steps + 1)
    actions: list[int]  # 0 up, 1 right, 2 down, 3 left
    beta: list[float | None]
    z: list[list[float] | None]
    subgoal: list[int]  # ground-truth subgoal being pursued at each step (evaluation only)
    switches: list[int]  # steps at which a new code (or controller) took over
    reward: float
    success: bool
    progress: int  # colors of the task visited in order
    steps: int
    truncated: bool = False  # stopped at max_steps before the episode ended

    def to_dict(self) -> dict:
        return asdict(self)


def trace_episode(bundle: ModelBundle, task: str = "post", seed: int = 0, policy: str = "internal-rl",
                  max_steps: int | None = None, greedy: bool = False) -> Trajectory:
    """Run one episode of `task` (a task set name or "0-1-2-3") on a layout drawn from `seed`."""
    cfg = bundle.env
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps={max_steps}: must be >= 1")
    limit = cfg.horizon if max_steps is None else min(max_steps, cfg.horizon)  # layouts stay drawn for the horizon
    tasks = resolve_tasks(task, "grid", cfg.n_colors)
    env = GridPinpadBatch(cfg, tasks, 1, seed=seed, any_task=len(tasks.tasks) > 1)
    env.reset()
    agent = Agent(bundle, capacity=1, seed=seed)
    agent.reset(0, env.colors[0], env.walls[0], policy, greedy)
    colors, walls = env.colors[0].tolist(), env.walls[0].tolist()
    traj = Trajectory(cfg.size, colors, walls, env.task[0, : env.task_len[0]].tolist(), policy,
                      [int(env.pos[0])], [], [], [], [], [], 0.0, False, 0, 0)
    while not env.done[0] and traj.steps < limit:
        sub = int(env.subgoal[0])
        out = agent.act([0], [int(env.pos[0])], [sub])[0]
        reward, _, _ = env.step(np.array([out.action]))
        traj.actions.append(out.action)
        traj.beta.append(out.beta)
        traj.z.append(out.z)
        traj.subgoal.append(sub)
        if out.switched:
            traj.switches.append(traj.steps)
        traj.positions.append(int(env.pos[0]))
        traj.reward += float(reward[0])
        traj.steps += 1
    traj.success, traj.progress = bool(env.success[0]), int(env.progress[0])
    traj.truncated = not bool(env.done[0])
    return traj


def describe_task(task: str, n_colors: int) -> list[str]:
    """The task strings a task spec stands for (validates it)."""
    return [format_task(t) for t in resolve_tasks(task, "grid", n_colors).tasks]
