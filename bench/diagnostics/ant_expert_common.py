"""What the ant-expert diagnostics share: the default profile, KEY=VALUE overrides, a progress log
and the stage's evaluation (mean action, `eval_episodes` per task set, the stage's seeds)."""
import time
from typing import Any

import yaml

from irl.envs.ant import AntConfig
from irl.experts.ant_expert import AntExpertPolicy
from irl.rl.ppo_ant import PPOAntConfig, evaluate_expert

PROFILE = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
ENV = AntConfig(**PROFILE["ant_env"])


def overrides(args: list[str]) -> dict[str, Any]:
    """KEY=VALUE arguments, the values read as YAML (lookahead=0.5, "reward={progress: 1.0}")."""
    return {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args)}


def log_every_50_updates(cfg: PPOAntConfig):
    def log(step: int, m: dict[str, float]) -> None:
        if "charts/success_rate" in m and (step // cfg.batch_size) % 50 == 0:
            print(time.strftime("%H:%M:%S"), step, f"success {m['charts/success_rate']:.2f}", flush=True)
    return log


def evaluate_both(policy: AntExpertPolicy, cfg: PPOAntConfig) -> dict[str, Any]:
    """The expert_ant stage's evaluation: success and outcomes on the pretraining tasks and on 0-1-2-3."""
    pre = evaluate_expert(policy, ENV, "pretrain", cfg.eval_episodes, seed=cfg.seed + 1000)
    post = evaluate_expert(policy, ENV, "post", cfg.eval_episodes, seed=cfg.seed + 2000)
    return {"success_pretrain": pre["success"], "success_post": post["success"],
            "outcomes_pretrain": pre["outcomes"], "outcomes_post": post["outcomes"]}
