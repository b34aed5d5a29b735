"""The default profile's ant expert on another seed, outside the pipeline (nothing registered or
written to models/): how much of the expert's success is the seed?

    python bench/diagnostics/ant_expert_seed.py SEED [KEY=VALUE ...]

KEY=VALUE overrides a field of the profile's `expert_ant` (YAML values: lookahead=0.5).
"""
import json, sys, tempfile, time
from pathlib import Path
import torch, yaml
from irl.envs.ant import AntConfig
from irl.rl.ppo_ant import PPOAntConfig, evaluate_expert, train_ant_expert
torch.set_num_threads(1)
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
seed = int(sys.argv[1])
overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[2:])}
env, cfg = AntConfig(**prof["ant_env"]), PPOAntConfig(**{**prof["expert_ant"], **overrides, "seed": seed, "device": "cpu"})
t = time.time()
def log(step, m):
    if "charts/success_rate" in m and (step // cfg.batch_size) % 50 == 0:
        print(time.strftime("%H:%M:%S"), step, f"return {m['charts/episodic_return']:.0f} success {m['charts/success_rate']:.2f}", flush=True)
policy, state = train_ant_expert(env, cfg, Path(tempfile.gettempdir()) / f"irl-ant-expert-seed{seed}", log=log)
pre = evaluate_expert(policy, env, "pretrain", cfg.eval_episodes, seed=cfg.seed + 1000)
post = evaluate_expert(policy, env, "post", cfg.eval_episodes, seed=cfg.seed + 2000)
print(json.dumps({"seed": seed, "overrides": overrides, "success_pretrain": pre["success"], "success_post": post["success"],
                  "outcomes_pretrain": pre["outcomes"], "outcomes_post": post["outcomes"], "train_s": state["train_s"]}), time.time() - t)
