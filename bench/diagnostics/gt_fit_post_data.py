"""Can a linear edit carry the base model through the post task's unseen transitions at all?

Not the method: the paper's ground-truth controllers are fitted on D* (pretraining tasks only).
Here they are fitted on ε = 0 expert episodes *of the post task itself* (its transitions
included), as an upper bound: if even these fail, the linear controller at that layer cannot
override what the base model has learned; if they succeed, the gap is the controllers'
generalisation from D*.

    python bench/diagnostics/gt_fit_post_data.py LAYER RANK|full STEPS LR [BASE_DIR] [EPISODES]
"""
import sys
import tempfile
import time
from pathlib import Path

import torch

from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import load_dataset, save_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.controllers import ControllerConfig
from irl.models.io import load_model
from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers

torch.set_num_threads(1)
layer, rank, steps, lr = int(sys.argv[1]), (None if sys.argv[2] == "full" else int(sys.argv[2])), int(sys.argv[3]), float(sys.argv[4])
base, _ = load_model(sys.argv[5] if len(sys.argv) > 5 else "models/grid/base")
episodes = int(sys.argv[6]) if len(sys.argv) > 6 else 5000
env = GridConfig(size=5, horizon=60)
post = resolve_tasks("post")
r = collect_grid(env, post, CollectConfig(episodes, 0.0, seed=4242, task_set="post"))
with tempfile.TemporaryDirectory() as tmp:
    save_dataset(Path(tmp) / "D_post", r.arrays, r.meta)
    data = load_dataset(Path(tmp) / "D_post")
    print(f"post-task expert data: {episodes} episodes, success {float(r.arrays['success'].mean()):.3f}")
    t = time.time()
    ctrl, fit = train_controllers(base, data, ControllerConfig(4, base.cfg.d_model, rank, layer),
                                  GTControllerConfig(steps=steps, lr=lr, batch_size=128, weight_decay=0.03))
print(fit, f"{time.time() - t:.0f} s")
print("post task: controlled", steered_success(base, ctrl, env, post, 500, 5000),
      "uncontrolled", steered_success(base, None, env, post, 500, 5000))
