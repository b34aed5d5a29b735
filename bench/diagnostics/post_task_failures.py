"""Where steered post-task rollouts fail: progress histogram at T 60 / 100 and the wrong color entered
after 0-1, with the stage's ground-truth controllers (models/grid/gt_controllers) and without.

    python bench/diagnostics/post_task_failures.py
"""
import numpy as np, torch
from irl.models.io import load_model
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.rollout import rollout
torch.set_num_threads(1)
base, _ = load_model("models/grid/base"); ctrl, spec = load_model("models/grid/gt_controllers")
print(spec["meta"].get("layer"), spec["meta"].get("rank"))
for T in (60, 100):
    env = GridPinpadBatch(GridConfig(size=5, horizon=T), resolve_tasks("post"), 500, seed=5)
    env.reset()
    f = lambda e: ctrl.edit(torch.from_numpy(np.maximum(e.subgoal, 0)))
    r = rollout(base, env, controller=f, edit_layer=ctrl.cfg.layer, seed=0)
    timeouts = (~r.success) & (r.lengths >= T)
    print("T", T, "success", r.success.mean(), "timeouts", timeouts.mean(), "progress hist", np.bincount(r.progress, minlength=13))
env = GridPinpadBatch(GridConfig(size=5, horizon=60), resolve_tasks("post"), 500, seed=5)
env.reset()
r = rollout(base, env, controller=lambda e: ctrl.edit(torch.from_numpy(np.maximum(e.subgoal, 0))), edit_layer=ctrl.cfg.layer, seed=0)
sel = (~r.success) & (r.progress == 2) & (r.lengths < 60)
col = env.cell_map[np.arange(500), env.pos][sel]
print("wrong color entered after 0-1 (controlled):", np.bincount(col, minlength=8))
env2 = GridPinpadBatch(GridConfig(size=5, horizon=60), resolve_tasks("post"), 500, seed=5); env2.reset()
r2 = rollout(base, env2, seed=0)
sel2 = (~r2.success) & (r2.progress == 2) & (r2.lengths < 60)
print("uncontrolled progress hist", np.bincount(r2.progress, minlength=13), "wrong color after 0-1:", np.bincount(env2.cell_map[np.arange(500), env2.pos][sel2], minlength=8))
