"""Flow `expert_ant`: the PPO ant expert (DVC stage `expert_ant`).

Trains (or resumes, from checkpoints/ant/expert) the direction-following PPO policy on the
intrinsic reward, then measures its success on the pretraining tasks and on the post-training
task 0-1-2-3 with the mean action; writes models/ant/expert, metrics/ant/expert.json and
registers `irl-ant-expert`.

    python -m flows.expert_ant [--profile smoke|default|paper]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow, get_run_logger, task

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.envs.ant import AntConfig
from irl.io import atomic_write_json
from irl.models.io import save_model
from irl.rl.ppo_ant import PPOAntConfig, evaluate_expert, train_ant_expert

MODEL_NAME = "irl-ant-expert"


@task(name="train-ant-expert")
def train_task(env: AntConfig, cfg: PPOAntConfig, workdir: Path, out_dir: Path, profile: str,
               params: dict[str, Any]) -> dict[str, Any]:
    logger = get_run_logger()
    t0 = time.perf_counter()
    with tracking.stage_run("expert_ant", params, tags=flow_run_tags(profile)) as run:
        def log(step: int, metrics: dict[str, float]) -> None:
            log_flat_metrics(metrics, step=step)
            if "charts/success_rate" in metrics:
                logger.info("step %d: return %.1f, success %.3f", step, metrics["charts/episodic_return"],
                            metrics["charts/success_rate"])

        policy, state = train_ant_expert(env, cfg, workdir, log=log, progress=True)
        train_s = time.perf_counter() - t0
        pre = evaluate_expert(policy, env, "pretrain", cfg.eval_episodes, seed=cfg.seed + 1000)
        post = evaluate_expert(policy, env, "post", cfg.eval_episodes, seed=cfg.seed + 2000)
        metrics = {"success_pretrain": pre["success"], "success_post": post["success"],
                   "mean_length_pretrain": pre["mean_length"], "mean_length_post": post["mean_length"],
                   "outcomes_pretrain": pre["outcomes"], "outcomes_post": post["outcomes"],
                   "eval_episodes": cfg.eval_episodes, "env_steps": state["global_step"],
                   "train_s": state["train_s"], "wall_s": time.perf_counter() - t0, "stage_train_s": train_s}
        save_model(out_dir, policy, {"stage": "expert_ant", "profile": profile, "mlflow_run_id": run.info.run_id,
                                      "git_commit": tracking.git_commit(), "params": params})
        log_flat_metrics(metrics)
        metrics["registered_version"] = tracking.register_model_dir(run, out_dir, MODEL_NAME)
        metrics["run_url"] = tracking.run_url(run)
    return metrics


@flow(name="expert_ant", log_prints=True)
def expert_ant_flow(
    profile: str | None = None,
    params_path: str = "params.yaml",
    total_steps: int | None = None,
    out_dir: str = "models/ant/expert",
    workdir: str = "checkpoints/ant/expert",
    metrics_path: str = "metrics/ant/expert.json",
) -> dict[str, Any]:
    """Train the ant expert, evaluate it on both task sets, register `irl-ant-expert@champion`."""
    name, sections = profile_sections(params_path, profile, {"expert_ant": {"total_steps": total_steps}})
    env = stage_config(AntConfig, sections, "ant_env", params_path, name)
    cfg = stage_config(PPOAntConfig, sections, "expert_ant", params_path, name)
    params = {"profile": name, "ant_env": env.to_dict(), "expert_ant": sections["expert_ant"]}
    result = train_task(env, cfg, Path(workdir), Path(out_dir), name, params)
    metrics = {"profile": name, "env": {"name": "ant-pinpad", **env.to_dict()},
               **{k: v for k, v in result.items() if k not in ("run_url", "registered_version")}}
    atomic_write_json(metrics_path, metrics)
    publish_markdown(
        "expert-ant", f"expert_ant ({name})",
        f"| | pretraining tasks | post task 0-1-2-3 |\n|---|---|---|\n"
        f"| success (mean action, {cfg.eval_episodes} episodes) | {result['success_pretrain']:.3f} | {result['success_post']:.3f} |\n"
        f"| outcomes | {result['outcomes_pretrain']} | {result['outcomes_post']} |\n\n"
        f"{result['env_steps']:,} env steps in {result['train_s'] / 60:.1f} min. "
        f"Registered `{MODEL_NAME}` version {result['registered_version']} (alias `champion`).",
        result["run_url"],
    )
    return metrics


if __name__ == "__main__":
    run_profile_flow(expert_ant_flow, __doc__)
