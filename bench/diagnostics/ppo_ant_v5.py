"""Diagnostic: irl/rl/ppo_ant.py's PPO, unchanged, on Gymnasium's plain Ant-v5 (forward walking, CleanRL's task).
If it walks there, the pinpad expert's troubles come from its task, not from the PPO.

    python bench/diagnostics/ppo_ant_v5.py [STEPS]
"""
import sys, tempfile, time
from pathlib import Path
import gymnasium as gym
import numpy as np
import torch
import irl.rl.ppo_ant as P
from irl.envs.ant import AntConfig
torch.set_num_threads(1)

class Wrap(gym.Wrapper):
    def step(self, a):
        ob, r, term, trunc, info = self.env.step(a)
        info = {**info, "success": False, "event": "fell" if term else None}
        return ob.astype(np.float32), r, term, trunc, info
    def reset(self, **kw):
        ob, info = self.env.reset(**kw)
        return ob.astype(np.float32), info

P.make_envs = lambda env_cfg, task_set, n, reward: [Wrap(gym.make("Ant-v5", include_cfrc_ext_in_observation=False)) for _ in range(n)]
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 600_000
cfg = P.PPOAntConfig(total_steps=steps, num_envs=8, num_steps=256, num_minibatches=32, update_epochs=10, hidden=64, checkpoint_every=1000, seed=0, device="cpu")
t0 = time.time()
def log(step, m):
    if "charts/episodic_return" in m:
        print(f"{time.strftime('%H:%M:%S')} {step} ret {m['charts/episodic_return']:.0f} len {m.get('charts/episodic_length', 0):.0f} "
              f"ent {m.get('losses/entropy', float('nan')):.2f} clip {m.get('losses/clipfrac', float('nan')):.3f}", flush=True)
P.train_ant_expert(AntConfig(), cfg, Path(tempfile.mkdtemp(prefix="ppo-ant-v5-")), log=log)
print("done", time.time() - t0)
