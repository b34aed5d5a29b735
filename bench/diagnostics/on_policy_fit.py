"""How well a base model fits the expert's labels on its *own* states (sampled rollouts of the
pretraining tasks, hindsight targets as in pretraining's on-policy relabelling; 5×5, T 60).

Prints, for labelled steps inside a pair (target fixed) and at pair starts: the rate at which the
model's most likely move is a shortest move, and the probability mass it puts on shortest moves —
whether the closed-loop failures are states it has not learned or a policy too flat to commit.
At a pair start the label points at the color the rollout went on to enter (or a drawn one), so
moves toward another valid pair count as misses there: a lower bound.

    python bench/diagnostics/on_policy_fit.py [models/grid/base] [EPISODES]
"""
import sys

import numpy as np
import torch

from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.io import load_model
from irl.training.on_policy import collect_on_policy

torch.set_num_threads(1)
model, _ = load_model(sys.argv[1] if len(sys.argv) > 1 else "models/grid/base")
episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
d = collect_on_policy(model.eval(), GridConfig(size=5, horizon=60), resolve_tasks("pretrain"), episodes, seed=12345)
with torch.no_grad():
    t_max = int(d["length"].max())
    out = model(torch.from_numpy(d["colors"]), torch.from_numpy(d["walls"]), torch.from_numpy(d["pos"][:, :t_max]))
probs = torch.softmax(out["action_logits"].float(), -1).numpy()
lab, opt, target = d["labelled"][:, :t_max], d["optimal"][:, :t_max], d["target"][:, :t_max]
hit = opt[np.arange(opt.shape[0])[:, None], np.arange(t_max)[None], probs.argmax(-1)]
mass = (probs * opt).sum(-1)
print(f"sampled success {d['success'].mean():.3f} over {episodes} episodes")
for name, sel in (("inside a pair", lab & (target % 2 == 1)), ("pair start", lab & (target % 2 == 0))):
    m = mass[sel]
    print(f"{name:14s} steps {int(sel.sum()):6d}  argmax optimal {hit[sel].mean():.4f}  "
          f"mass on optimal {m.mean():.4f}  (steps with mass < 0.9: {(m < 0.9).mean():.4f}, < 0.5: {(m < 0.5).mean():.4f})")
