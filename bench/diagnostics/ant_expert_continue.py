"""Continue a finished ant-expert PPO run for more steps, outside the pipeline (nothing registered):

    python bench/diagnostics/ant_expert_continue.py FROM_TOTAL TO_TOTAL [src=DIR] [KEY=VALUE ...]

Copies the default profile's expert_ant checkpoint trained to FROM_TOTAL steps (in DIR, default
checkpoints/ant/expert; ant_expert_seed.py leaves its runs in /tmp/irl-ant-expert-seedN)
under the fingerprint of a TO_TOTAL-step run in /tmp, resumes it there (the learning rate picks up
the TO_TOTAL schedule: anneal from (1 − FROM/TO)·lr to 0) and evaluates it like the stage does
(mean action, 200 episodes per task set). KEY=VALUE overrides other expert_ant fields for both.
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import torch, yaml
from irl.envs.ant import AntConfig
from irl.rl.ppo_ant import PPOAntConfig, _fingerprint, evaluate_expert, train_ant_expert
from irl.training.checkpoint import checkpoint_dir
torch.set_num_threads(1)
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
start, total = int(sys.argv[1]), int(sys.argv[2])
extra = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
src_dir = Path(str(extra.pop("src", "checkpoints/ant/expert")))
env = AntConfig(**prof["ant_env"])
old = PPOAntConfig(**{**prof["expert_ant"], **extra, "total_steps": start, "device": "cpu"})
new = PPOAntConfig(**{**prof["expert_ant"], **extra, "total_steps": total, "device": "cpu"})
src = checkpoint_dir(src_dir, _fingerprint(env, old))
if not (src / "state.json").is_file():
    sys.exit(f"no finished {start}-step checkpoint at {src}")
workdir = Path(tempfile.gettempdir()) / f"irl-ant-expert-continue-{start}-{total}-{_fingerprint(env, new)}"
dst = checkpoint_dir(workdir, _fingerprint(env, new))
if not dst.exists():
    shutil.copytree(src, dst)
def log(step, m):
    if "charts/success_rate" in m and (step // new.batch_size) % 50 == 0:
        print(time.strftime("%H:%M:%S"), step, f"success {m['charts/success_rate']:.2f}", flush=True)
policy, state = train_ant_expert(env, new, workdir, log=log)
pre = evaluate_expert(policy, env, "pretrain", new.eval_episodes, seed=new.seed + 1000)
post = evaluate_expert(policy, env, "post", new.eval_episodes, seed=new.seed + 2000)
print(json.dumps({"from": start, "to": total, "extra": extra, "success_pretrain": pre["success"],
                  "success_post": post["success"], "outcomes_pretrain": pre["outcomes"],
                  "outcomes_post": post["outcomes"], "train_s": state["train_s"]}), flush=True)
