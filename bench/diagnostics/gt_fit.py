"""Ground-truth controllers fitted harder than the stage does: `python bench/diagnostics/gt_fit.py LAYER RANK|full STEPS LR [BASE_DIR]`.

Prints the D* NLL before/after and post-task / commanded pretraining-task success (500 episodes each)
on the active default models (models/grid/base, data/grid/D_star; 5×5 grid, T 60).
"""
import sys, time, numpy as np, torch
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.models.controllers import ControllerConfig
from irl.training.gt_controllers import GTControllerConfig, train_controllers, steered_success
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
torch.set_num_threads(1)
base, _ = load_model(sys.argv[5] if len(sys.argv) > 5 else "models/grid/base"); data = load_dataset("data/grid/D_star")
layer, rank, steps, lr = int(sys.argv[1]), (None if sys.argv[2] == "full" else int(sys.argv[2])), int(sys.argv[3]), float(sys.argv[4])
env = GridConfig(size=5, horizon=60)
t = time.time()
ctrl, fit = train_controllers(base, data, ControllerConfig(4, 64, rank, layer), GTControllerConfig(steps=steps, lr=lr, batch_size=128, weight_decay=0.03))
print(fit, time.time() - t)
print("ood", steered_success(base, ctrl, env, resolve_tasks("post"), 500, 5000), "id", steered_success(base, ctrl, env, resolve_tasks("pretrain"), 500, 6000))
print("uncontrolled ood", steered_success(base, None, env, resolve_tasks("post"), 500, 5000), "id", steered_success(base, None, env, resolve_tasks("pretrain"), 500, 6000))
