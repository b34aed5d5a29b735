"""Continue a finished ant-expert PPO run for more steps, outside the pipeline (nothing registered):

    python bench/diagnostics/ant_expert_continue.py FROM_TOTAL TO_TOTAL [src=DIR] [KEY=VALUE ...]

Copies the default profile's expert_ant checkpoint trained to FROM_TOTAL steps (in DIR, default
checkpoints/ant/expert; ant_expert_seed.py leaves its runs in /tmp/irl-ant-expert-seedN)
under the fingerprint of a TO_TOTAL-step run in /tmp, resumes it there (the learning rate picks up
the TO_TOTAL schedule: anneal from (1 − FROM/TO)·lr to 0) and evaluates it like the stage does
(mean action, 200 episodes per task set). KEY=VALUE overrides other expert_ant fields for both.
"""
import json, shutil, sys, tempfile
from pathlib import Path
import torch
from ant_expert_common import ENV, PROFILE, evaluate_both, log_every_50_updates, overrides
from irl.rl.ppo_ant import PPOAntConfig, _fingerprint, train_ant_expert
from irl.training.checkpoint import checkpoint_dir
torch.set_num_threads(1)
start, total = int(sys.argv[1]), int(sys.argv[2])
extra = overrides(sys.argv[3:])
src_dir = Path(str(extra.pop("src", "checkpoints/ant/expert")))
old = PPOAntConfig(**{**PROFILE["expert_ant"], **extra, "total_steps": start, "device": "cpu"})
new = PPOAntConfig(**{**PROFILE["expert_ant"], **extra, "total_steps": total, "device": "cpu"})
src = checkpoint_dir(src_dir, _fingerprint(ENV, old))
if not (src / "state.json").is_file():
    sys.exit(f"no finished {start}-step checkpoint at {src}")
workdir = Path(tempfile.gettempdir()) / f"irl-ant-expert-continue-{start}-{total}-{_fingerprint(ENV, new)}"
dst = checkpoint_dir(workdir, _fingerprint(ENV, new))
if not dst.exists():
    shutil.copytree(src, dst)
policy, state = train_ant_expert(ENV, new, workdir, log=log_every_50_updates(new))
print(json.dumps({"from": start, "to": total, "extra": extra, **evaluate_both(policy, new),
                  "train_s": state["train_s"]}), flush=True)
