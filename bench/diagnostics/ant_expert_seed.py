"""The default profile's ant expert on another seed, outside the pipeline (nothing registered or
written to models/): how much of the expert's success is the seed?

    python bench/diagnostics/ant_expert_seed.py SEED [KEY=VALUE ...]

KEY=VALUE overrides a field of the profile's `expert_ant` (YAML values: lookahead=0.5).
"""
import json, sys, tempfile, time
from pathlib import Path
import torch
from ant_expert_common import ENV, PROFILE, evaluate_both, log_every_50_updates, overrides
from irl.rl.ppo_ant import PPOAntConfig, train_ant_expert
torch.set_num_threads(1)
seed = int(sys.argv[1])
extra = overrides(sys.argv[2:])
cfg = PPOAntConfig(**{**PROFILE["expert_ant"], **extra, "seed": seed, "device": "cpu"})
t = time.time()
policy, state = train_ant_expert(ENV, cfg, Path(tempfile.gettempdir()) / f"irl-ant-expert-seed{seed}",
                                 log=log_every_50_updates(cfg))
print(json.dumps({"seed": seed, "overrides": extra, **evaluate_both(policy, cfg), "train_s": state["train_s"]}),
      time.time() - t)
