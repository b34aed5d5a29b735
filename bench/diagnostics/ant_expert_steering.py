"""The committed ant expert under other waypoint rules, without retraining (nothing written):

    python bench/diagnostics/ant_expert_steering.py [LOOKAHEAD ...]

The expert is one walking skill steered by its direction input; this evaluates models/ant/expert
(default profile's env, 200 pretrain + 200 post episodes, the stage's seeds) with each pure-pursuit
lookahead (cells) in place of the one it was trained with, and prints success and failure events.
"""
import dataclasses, json, sys, time
import torch, yaml
from irl.envs.ant import AntConfig
from irl.models.io import load_model
from irl.rl.ppo_ant import evaluate_expert
torch.set_num_threads(1)
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env, seed = AntConfig(**prof["ant_env"]), prof["expert_ant"]["seed"]
policy, _ = load_model("models/ant/expert")
for la in [float(a) for a in sys.argv[1:]] or [policy.cfg.lookahead]:
    policy.cfg = dataclasses.replace(policy.cfg, lookahead=la)
    t = time.time()
    pre = evaluate_expert(policy, env, "pretrain", 200, seed=seed + 1000)
    post = evaluate_expert(policy, env, "post", 200, seed=seed + 2000)
    print(json.dumps({"lookahead": la, "success_pretrain": pre["success"], "success_post": post["success"],
                      "outcomes_pretrain": pre["outcomes"], "outcomes_post": post["outcomes"],
                      "s": round(time.time() - t)}), flush=True)
