"""Ground-truth controllers fitted harder than the stage does:

    python bench/diagnostics/gt_fit.py LAYER RANK|full STEPS LR [BASE_DIR] [post|dstar] [PRIOR_WEIGHT] [SCALES]

Prints the fit's NLL before/after and post-task / commanded pretraining-task success (500 episodes
each), controlled and uncontrolled, on the default 5×5 grid (T 60); BASE_DIR defaults to
models/grid/base. Controllers are fitted on data/grid/D_star — or, with `post`, on 5000 ε = 0
expert episodes of the post task itself: not the method (its controllers never see the post task's
transitions) but an upper bound on what a linear edit at LAYER can do through them. PRIOR_WEIGHT γ
(default 1, the paper's loss) fits CE(logits_controlled − (1 − γ)·logits_base) instead
(irl.training.gt_controllers.GTControllerConfig.prior_weight). SCALES (comma list, e.g. 1.5,2,3)
also evaluates the fitted edits amplified, U_g → c·U_g, on both task sets.
"""
import sys, tempfile, time
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
env, post, pretrain = GridConfig(size=5, horizon=60), resolve_tasks("post"), resolve_tasks("pretrain")
with tempfile.TemporaryDirectory() as tmp:
    if len(sys.argv) > 6 and sys.argv[6] == "post":
        r = collect_grid(env, post, CollectConfig(5000, 0.0, seed=4242, task_set="post"))
        save_dataset(Path(tmp) / "D_post", r.arrays, r.meta)
        data = load_dataset(Path(tmp) / "D_post")
    else:
        data = load_dataset("data/grid/D_star")
    t = time.time()
    ctrl, fit = train_controllers(base, data, ControllerConfig(4, base.cfg.d_model, rank, layer),
                                  GTControllerConfig(steps=steps, lr=lr, batch_size=128, weight_decay=0.03,
                                                     prior_weight=float(sys.argv[7]) if len(sys.argv) > 7 else 1.0))
print(fit, time.time() - t)
print("ood", steered_success(base, ctrl, env, post, 500, 5000), "id", steered_success(base, ctrl, env, pretrain, 500, 6000))
print("uncontrolled ood", steered_success(base, None, env, post, 500, 5000), "id", steered_success(base, None, env, pretrain, 500, 6000))
for c in [float(x) for x in sys.argv[8].split(",")] if len(sys.argv) > 8 else []:
    with torch.no_grad():
        for p in ([ctrl.U] if rank is None else [ctrl.A]):
            p.mul_(c)
        print(f"scale {c}: ood", steered_success(base, ctrl, env, post, 500, 5000), "id", steered_success(base, ctrl, env, pretrain, 500, 6000))
        for p in ([ctrl.U] if rank is None else [ctrl.A]):
            p.div_(c)
