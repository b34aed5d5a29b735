"""Flows `internal_rl_grid` and `internal_rl_ant`: internal RL on the post-training task
(grid 0-1-2-3-4-5-6-7-0-1-2-3, ant 0-1-2-3; DVC stages).

The frozen base model and the discovered metacontroller (switch + decoder) form the abstract-action
environment; a recurrent policy over codes z is trained with PPO-clip (no critic) from a reward
of 1 at full success only. One policy per seed, the seeds fanned out as parallel Prefect tasks.
Writes the learning curve (median and 25–75% band over seeds), registers the best policy as
`irl-<env>-policy` — with alias `champion` only if it beats the current champion. The ant's
success is also reported normalised by the expert's on the same task. Two upper bounds for the
grid: the mean code of each true subgoal at every decision (`oracle_code_success`), and the code
sequence the metacontroller reads off the expert's own solution of each layout
(`expert_codes_success`, irl/eval/code_oracle.py).

    python -m flows.internal_rl [--env grid|ant] [--profile smoke|default|paper]
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
from pathlib import Path
from typing import Any

import torch
from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.envs.ant import AntConfig
from irl.envs.grid import GridConfig
from irl.envs.tasks import TaskSet, resolve_tasks
from irl.eval.code_oracle import expert_code_sequence
from irl.eval.rl_plots import learning_curves_png
from irl.io import atomic_write_json
from irl.models.io import load_model, save_model
from irl.rl.curves import band, smoothed_first
from irl.rl.internal_rl import InternalRLConfig, oracle_code_success, train_internal_rl
from irl.training.pretrain import resolve_device

MODEL_NAME = "irl-grid-policy"
ANT_MODEL_NAME = "irl-ant-policy"


def median_or_none(values: list[int | None]) -> float | None:
    """Median over seeds; None unless every seed got there."""
    return None if any(v is None for v in values) else float(statistics.median(values))  # type: ignore[arg-type]


@task(name="internal-rl-seed", task_run_name="internal-rl-seed-{seed}")
def train_seed(model_dir: Path, mc_dir: Path, env: GridConfig | AntConfig, cfg: InternalRLConfig, seed: int) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    base, _ = load_model(model_dir, device)
    mc, _ = load_model(mc_dir, device)
    policy, res = train_internal_rl(base, mc, env, post_tasks(env), dataclasses.replace(cfg, seed=seed), device)
    get_run_logger().info("seed %d: final_success %.3f after %d episodes", seed, res["final_success"], res["episodes"])
    return {"seed": seed, "policy": policy, **res}


def post_tasks(env: GridConfig | AntConfig) -> TaskSet | str:
    """The post-training task: a TaskSet for the grid; the ant env resolves its task set by name."""
    return "post" if isinstance(env, AntConfig) else resolve_tasks("post", "grid", env.n_colors)


def internal_rl_stage(stage: str, env_section: str, env_cls: type[GridConfig] | type[AntConfig], env_name: str,
                      task: str, model_name: str, profile: str | None, params_path: str, seeds: list[int] | None,
                      episodes: int | None, model_dir: str, mc_dir: str, out_dir: str, metrics_path: str,
                      curve_path: str, png: str, expert_metrics: str | None = None) -> dict[str, Any]:
    """Train one internal-RL policy per seed on the post task of either environment; curves, metrics, registry.
    `expert_metrics` (the ant): the expert's success on the same task, to normalise by."""
    name, sections = profile_sections(params_path, profile, {stage: {"seeds": seeds, "episodes": episodes}})
    env = stage_config(env_cls, sections, env_section, params_path, name)
    cfg = stage_config(InternalRLConfig, sections, stage, params_path, name)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // min(cfg.workers, len(cfg.seeds))))
    with ThreadPoolTaskRunner(max_workers=cfg.workers) as runner:
        futures = [runner.submit(train_seed, {"model_dir": Path(model_dir), "mc_dir": Path(mc_dir), "env": env,
                                              "cfg": cfg, "seed": s}) for s in cfg.seeds]
        runs = [f.result() for f in futures]
    device = resolve_device(cfg.device)
    base, base_spec = load_model(model_dir, device)
    mc, spec = load_model(mc_dir, device)
    oracle: dict[str, float | int | None] = {"oracle_code_success": None, "oracle_decisions_per_episode": None}
    if spec["meta"].get("codes_by_subgoal") is not None:
        codes = torch.tensor(spec["meta"]["codes_by_subgoal"], dtype=torch.float32)
        oracle = oracle_code_success(base, mc, codes, env, post_tasks(env), cfg.eval_episodes, seed=cfg.seeds[0] + 20_011)
    if isinstance(env, GridConfig):  # does the code space hold a solution at all? (irl/eval/code_oracle.py)
        oracle.update(expert_code_sequence(base, mc, env, post_tasks(env), cfg.eval_episodes, seed=cfg.seeds[0] + 30_011))
    finals = [r["final_success"] for r in runs]
    to50 = [smoothed_first(r["curve"], 0.5) for r in runs]
    to90 = [smoothed_first(r["curve"], 0.9) for r in runs]
    curve = band([r["curve"] for r in runs])
    metrics = {"profile": name, "env": {"name": env_name, **env.to_dict()}, "task": task,
               "final_success": float(statistics.median(finals)), "final_success_by_seed": finals,
               "episodes_to_50": median_or_none(to50), "episodes_to_90": median_or_none(to90),
               "episodes_to_50_by_seed": to50, "episodes_to_90_by_seed": to90,
               "episode_budget": cfg.episodes, "episodes_per_s": float(statistics.median(r["episodes_per_s"] for r in runs)),
               "wall_s": max(r["wall_s"] for r in runs), "seeds": list(cfg.seeds), **oracle}
    if expert_metrics is not None:  # DESIGN.md §2: ant success normalised by the expert's on the same task
        expert = json.loads(Path(expert_metrics).read_text())["success_post"]
        metrics["expert_success_post"] = expert
        metrics["normalised_success"] = metrics["final_success"] / expert if expert > 0 else None
    best = max(runs, key=lambda r: r["final_success"])
    save_model(out_dir, best["policy"], {"stage": stage, "profile": name, "seed": best["seed"],
                                         "final_success": best["final_success"], "base_model": model_dir,
                                         "metacontroller": mc_dir,
                                         # the runs that produced the models this policy acts through, so a
                                         # registry client loads those versions with it, not newer ones
                                         "base_run_id": base_spec["meta"].get("mlflow_run_id"),
                                         "metacontroller_run_id": spec["meta"].get("mlflow_run_id")})
    atomic_write_json(curve_path, curve)
    learning_curves_png({"internal RL": curve}, png, f"internal RL on the post-training task ({name})")
    params = {"profile": name, stage: sections[stage]}
    with tracking.stage_run(stage, params, tags=flow_run_tags(name)) as run:
        log_flat_metrics({k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        for i, point in enumerate(curve):
            log_flat_metrics({"curve/median": point["median"], "curve/q25": point["q25"], "curve/q75": point["q75"]},
                             step=point["episodes"])
        tracking.mlflow.log_metric("best_final_success", best["final_success"])
        tracking.mlflow.log_dict({"runs": [{k: v for k, v in r.items() if k != "policy"} for r in runs]}, "runs.json")
        tracking.mlflow.log_artifact(png)
        champion = tracking.champion_metric(model_name, "best_final_success")
        promote = champion is None or best["final_success"] > champion
        version = tracking.register_model_dir(run, out_dir, model_name, aliases=("champion",) if promote else ())
        url = tracking.run_url(run)
    metrics["registered_version"] = version
    metrics["promoted_to_champion"] = promote
    atomic_write_json(metrics_path, metrics)
    get_run_logger().info("internal RL: %s", {k: metrics[k] for k in ("final_success", "episodes_to_50", "episodes_to_90")})
    rows = "\n".join(f"| {r['seed']} | {r['final_success']:.3f} | {smoothed_first(r['curve'], 0.5)} | {r['episodes_per_s']:.0f} |" for r in runs)
    publish_markdown(stage.replace("_", "-"), f"{stage} ({name})",
                     f"| seed | final success | episodes to 50% | episodes/s |\n|---|---|---|---|\n{rows}\n\n"
                     f"Median final success {metrics['final_success']:.3f}; `{model_name}` v{version}"
                     f"{' promoted to champion' if promote else f' not promoted (champion {champion:.3f})'}.", url)
    return metrics


@flow(name="internal_rl_grid", log_prints=True)
def internal_rl_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                          seeds: list[int] | None = None, episodes: int | None = None,
                          model_dir: str = "models/grid/base", mc_dir: str = "models/grid/metacontroller",
                          out_dir: str = "models/grid/policy", metrics_path: str = "metrics/grid/internal_rl.json",
                          curve_path: str = "metrics/grid/internal_rl_curve.json",
                          png: str = "plots/grid/internal_rl.png") -> dict[str, Any]:
    """Train one internal-RL policy per seed; curves, metrics, registry."""
    return internal_rl_stage("internal_rl_grid", "grid_env", GridConfig, "grid-pinpad", "0-1-2-3-4-5-6-7-0-1-2-3",
                             MODEL_NAME, profile, params_path, seeds, episodes, model_dir, mc_dir, out_dir,
                             metrics_path, curve_path, png)


@flow(name="internal_rl_ant", log_prints=True)
def internal_rl_ant_flow(profile: str | None = None, params_path: str = "params.yaml",
                         seeds: list[int] | None = None, episodes: int | None = None,
                         model_dir: str = "models/ant/base", mc_dir: str = "models/ant/metacontroller",
                         out_dir: str = "models/ant/policy", metrics_path: str = "metrics/ant/internal_rl.json",
                         curve_path: str = "metrics/ant/internal_rl_curve.json", png: str = "plots/ant/internal_rl.png",
                         expert_metrics: str = "metrics/ant/expert.json") -> dict[str, Any]:
    """Internal RL on the ant's post task 0-1-2-3; success also normalised by the expert's."""
    return internal_rl_stage("internal_rl_ant", "ant_env", AntConfig, "ant-pinpad", "0-1-2-3", ANT_MODEL_NAME,
                             profile, params_path, seeds, episodes, model_dir, mc_dir, out_dir, metrics_path,
                             curve_path, png, expert_metrics)


if __name__ == "__main__":
    run_profile_flow({"grid": internal_rl_grid_flow, "ant": internal_rl_ant_flow}, __doc__)
