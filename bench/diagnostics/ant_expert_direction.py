"""How much does the ant expert's action depend on the direction it is given? (nothing written)

    python bench/diagnostics/ant_expert_direction.py [MODEL_DIR] [STEPS]

Runs 8 ants with the expert (default models/ant/expert; mean actions) for STEPS steps (default
300) on the pretraining tasks and, at every step, recomputes its mean torques with the direction
input turned by 45°, 90° and 180°: prints the per-torque RMS change in units of the expert's own
action σ. A base model that does not know where the ant is going pays for this at every turn.
"""
import sys

import numpy as np
import torch

from ant_expert_common import ENV
from irl.experts.ant_expert import AntRewardConfig
from irl.models.io import load_model
from irl.rl.ppo_ant import make_envs

torch.set_num_threads(1)
policy, _ = load_model(sys.argv[1] if len(sys.argv) > 1 else "models/ant/expert")
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 300
if policy.cfg.frame != "heading":
    sys.exit("this diagnostic turns the heading-frame direction: the expert's last two inputs")
envs = make_envs(ENV, "pretrain", 8, AntRewardConfig(), policy.cfg.frame, lookahead=policy.cfg.lookahead)
rng = np.random.default_rng(0)
obs = np.stack([e.reset(seed=int(rng.integers(2**31)))[0] for e in envs])
sigma = policy.log_std.exp().detach().numpy()
turns = {45: [], 90: [], 180: []}
for _ in range(steps):
    with torch.no_grad():
        o = torch.as_tensor(obs)
        mean = policy.dist(o).mean.clamp(-1, 1).numpy()
        for angle, out in turns.items():
            a = np.deg2rad(angle)
            turned = o.clone()
            turned[:, -2:] = o[:, -2:] @ torch.tensor([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]], dtype=torch.float32)
            out.append(np.sqrt((((policy.dist(turned).mean.clamp(-1, 1).numpy() - mean) / sigma) ** 2).mean(1)))
    actions = policy.act(obs, True)
    for i, env in enumerate(envs):
        ob, _, term, trunc, _ = env.step(actions[i])
        obs[i] = env.reset(seed=int(rng.integers(2**31)))[0] if term or trunc else ob
print("expert action sigma:", " ".join(f"{s:.3f}" for s in sigma))
for angle, out in turns.items():
    v = np.concatenate(out)
    print(f"direction turned {angle:3d} deg: RMS torque change / sigma median {np.median(v):.1f}, p90 {np.quantile(v, 0.9):.1f}")
