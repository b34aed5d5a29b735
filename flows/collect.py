"""Flow `collect_grid`: expert datasets D and D* for gridworld-pinpad (DVC stage `collect_grid`).

    python -m flows.collect [--profile smoke|default|paper] [--params params.yaml]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context

from irl import tracking
from flows.common import profile_sections
from irl.config import stage_config
from irl.data.collect import CollectConfig, CollectStageConfig, collect_grid
from irl.data.dataset import save_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.io import atomic_write_json


@task(name="collect-dataset", task_run_name="collect-{name}")
def collect_dataset(name: str, env: GridConfig, config: CollectConfig, out_dir: Path) -> dict[str, Any]:
    """Roll the expert, write the dataset directory atomically, return its summary."""
    logger = get_run_logger()
    logger.info("collecting %s: %d episodes, ε=%s, tasks=%s", name, config.episodes, config.epsilon, config.task_set)
    result = collect_grid(env, resolve_tasks(config.task_set, "grid", env.n_colors), config, progress=True)
    manifest = save_dataset(out_dir / name, result.arrays, result.meta)
    summary = {
        "episodes": manifest["counts"]["episodes"],
        "steps": manifest["counts"]["steps"],
        "success": result.success_rate,
        "epsilon": config.epsilon,
        "mean_episode_length": result.steps / manifest["counts"]["episodes"],
        "steps_per_s": result.steps_per_s,
        "wall_s": result.wall_s,
    }
    logger.info("%s: %s", name, summary)
    return summary


@task(name="check-expert-post")
def check_expert_post(env: GridConfig, config: CollectConfig) -> float:
    """Success of the ε = 0 expert on the post-training task (nothing is written)."""
    result = collect_grid(env, resolve_tasks(config.task_set, "grid", env.n_colors), config)
    return result.success_rate


@task(name="log-mlflow", retries=3, retry_delay_seconds=[2, 10, 30])
def log_mlflow(profile: str, params: dict[str, Any], metrics: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """One MLflow run for the stage: params, flat metrics, manifests and metrics file as artifacts."""
    ctx = get_run_context()
    tags = {"irl.profile": profile, "prefect.flow_run_id": str(ctx.task_run.flow_run_id)}
    with tracking.stage_run("collect_grid", params, tags=tags) as run:
        mlflow.log_metrics({k: float(v) for k, v in tracking.flatten(metrics).items() if isinstance(v, (int, float))})
        for name in ("D", "D_star"):
            mlflow.log_artifact(str(out_dir / name / "manifest.json"), artifact_path=f"manifests/{name}")
        mlflow.log_dict(metrics, "metrics/collect.json")
        return {"run_id": run.info.run_id, "url": tracking.run_url(run)}


@flow(name="collect_grid", log_prints=True)
def collect_grid_flow(
    profile: str | None = None,
    params_path: str = "params.yaml",
    episodes_D: int | None = None,
    out_dir: str = "data/grid",
    metrics_path: str = "metrics/grid/collect.json",
) -> dict[str, Any]:
    """Collect D and D*, check the expert on the post-training task, track it all."""
    name, sections = profile_sections(params_path, profile, {"collect_grid": {"episodes_D": episodes_D}})
    env = stage_config(GridConfig, sections, "grid_env", params_path, name)
    stage = stage_config(CollectStageConfig, sections, "collect_grid", params_path, name)
    out = Path(out_dir)

    per_dataset = {ds: collect_dataset(ds, env, cfg, out) for ds, cfg in stage.datasets().items()}
    post_success = check_expert_post(env, stage.post_check())
    steps = sum(s["steps"] for s in per_dataset.values())
    wall = sum(s["wall_s"] for s in per_dataset.values())
    metrics = {
        "profile": name,
        "env": {"name": "grid-pinpad", **env.to_dict()},
        "episodes": sum(s["episodes"] for s in per_dataset.values()),
        "steps": steps,
        # The ε = 0 expert (D*); D's noisy expert is reported per dataset below.
        "expert_success": per_dataset["D_star"]["success"],
        "expert_success_post": post_success,
        "steps_per_s": steps / wall,
        "datasets": per_dataset,
    }
    params = {"profile": name, "grid_env": env.to_dict(), "collect_grid": sections["collect_grid"]}
    run = log_mlflow(name, params, metrics, out)
    metrics["mlflow_run_id"] = run["run_id"]
    atomic_write_json(metrics_path, {k: v for k, v in metrics.items() if k != "mlflow_run_id"})

    rows = "\n".join(
        f"| {ds} | {s['episodes']:,} | {s['steps']:,} | {s['epsilon']} | {s['success']:.4f} | "
        f"{s['mean_episode_length']:.1f} | {s['steps_per_s']:,.0f} |"
        for ds, s in per_dataset.items()
    )
    create_markdown_artifact(
        key="collect-grid",
        markdown=(
            f"# collect_grid ({name})\n\n"
            f"Grid {env.size}×{env.size}, {env.n_colors} colors, {env.n_walls} walls, T = {env.horizon}; "
            f"tasks: `{stage.task_set}`.\n\n"
            "| dataset | episodes | steps | ε | expert success | mean length | steps/s |\n"
            "|---|---|---|---|---|---|---|\n"
            f"{rows}\n\n"
            f"ε = 0 expert on the post-training task: success {post_success:.4f}.\n\n"
            f"Outputs: `{out / 'D'}`, `{out / 'D_star'}`, `{metrics_path}`. "
            f"MLflow run: [{run['run_id']}]({run['url']})\n"
        ),
        description=f"collect_grid datasets ({name} profile)",
    )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile in params.yaml (default: its `profile:`)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out-dir", default="data/grid")
    parser.add_argument("--metrics", default="metrics/grid/collect.json")
    args = parser.parse_args()
    collect_grid_flow(profile=args.profile, params_path=args.params, out_dir=args.out_dir, metrics_path=args.metrics)


if __name__ == "__main__":
    main()
