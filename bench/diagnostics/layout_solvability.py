"""How many pretraining tasks a layout allows, and what that does to a base model's closed-loop
success (any of the 16 tasks counts). Layouts are drawn the paper's way (solvable for the
episode's own task); the model, never told the task, is scored separately on those where all 16
tasks are solvable (what `layouts: every_task` draws) and on the rest.

    python bench/diagnostics/layout_solvability.py [models/grid/base] [episodes]
"""
import sys

import numpy as np
import torch

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.rollout import rollout
from irl.models.io import load_model

torch.set_num_threads(1)
path = sys.argv[1] if len(sys.argv) > 1 else "models/grid/base"
episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
tasks = resolve_tasks("pretrain")
base, _ = load_model(path)
base.eval()
drawn = {}
for size, horizon in ((7, 100), (5, 60)):
    one_task = GridPinpadBatch(GridConfig(size=size, horizon=horizon), tasks, 64, seed=7)
    colors, walls, start, task_id = one_task._draw_pool(8 * episodes)
    n_solvable = sum(one_task._solvable(colors, walls, start, np.full(len(colors), k)) for k in range(len(tasks.tasks)))
    drawn[size] = (one_task.config, colors, walls, start, task_id, n_solvable)
    print(f"{size}x{size}, T {horizon}: tasks solvable per layout {n_solvable.mean():.2f} of 16; "
          f"all 16 on {np.mean(n_solvable == 16):.3f} of layouts")
cfg, colors, walls, start, task_id, n_solvable = drawn[base.cfg.grid_size]
for name, keep in (("all 16 tasks solvable", n_solvable == 16), ("some task walled off", n_solvable < 16),
                   ("either (one-task draw)", np.ones(len(colors), bool))):
    idx = np.flatnonzero(keep)[:episodes]
    for greedy in (False, True):
        env = GridPinpadBatch(cfg, tasks, len(idx), seed=0, any_task=True)
        env.load_layouts(colors[idx], walls[idx], start[idx], task_id[idx])
        r = rollout(base, env, greedy=greedy, seed=0)
        print(f"{path} on layouts with {name:24s} ({len(idx)} episodes), {'greedy ' if greedy else 'sampled'}: "
              f"success {r.success.mean():.3f}")
