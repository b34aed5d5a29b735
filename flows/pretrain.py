"""Flow `pretrain_grid`: the grid base model on D (DVC stage `pretrain_grid`).

Checkpoints live in checkpoints/grid/base (outside DVC's outputs, which DVC clears before a
stage runs), so a killed run resumes where it stopped when started again with the same config.

    python -m flows.pretrain [--profile smoke|default|paper]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow, get_run_logger, task

from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import build, stage_config
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.io import atomic_write_json
from irl.models.io import save_model
from irl.models.transformer import TransformerConfig
from irl.training.pretrain import PretrainConfig, pretrain

MODEL_NAME = "irl-grid-base"


def model_config(sections: dict[str, Any], env: GridConfig, where: str) -> TransformerConfig:
    """params `model_grid` + the grid's geometry from `grid_env`."""
    geometry = {"grid_size": env.size, "n_colors": env.n_colors, "n_walls": env.n_walls}
    return build(TransformerConfig, {**sections.get("model_grid", {}), **geometry}, where)


@task(name="pretrain-base-model")
def train_task(model_cfg: TransformerConfig, cfg: PretrainConfig, env: GridConfig, data_dir: Path,
               workdir: Path, out_dir: Path, profile: str, params: dict[str, Any]) -> dict[str, Any]:
    logger = get_run_logger()
    data, heldout = load_dataset(data_dir / "D"), load_dataset(data_dir / "D_star")
    t0 = time.perf_counter()
    with tracking.stage_run("pretrain_grid", params, tags=flow_run_tags(profile)) as run:
        def log(step: int, metrics: dict[str, float]) -> None:
            log_flat_metrics(metrics, step=step)
            if any(k.startswith("eval/") for k in metrics):
                logger.info("step %d: %s", step, metrics)

        model, final = pretrain(model_cfg, cfg, data, heldout, env, resolve_tasks("pretrain", "grid", env.n_colors),
                                workdir, log=log, progress=True)
        final["wall_s"] = time.perf_counter() - t0
        meta = {"stage": "pretrain_grid", "profile": profile, "mlflow_run_id": run.info.run_id,
                "git_commit": tracking.git_commit(), "params": params,
                "data_sha256": {k: v["sha256"] for k, v in data.manifest["arrays"].items()}}
        save_model(out_dir, model, meta)
        log_flat_metrics({k: v for k, v in final.items() if k != "history"})
        mlflow.log_dict(final["history"], "history.json")
        final["registered_version"] = tracking.register_model_dir(run, out_dir, MODEL_NAME)
        final["run_url"] = tracking.run_url(run)
    return final


@flow(name="pretrain_grid", log_prints=True)
def pretrain_grid_flow(
    profile: str | None = None,
    params_path: str = "params.yaml",
    steps: int | None = None,
    data_dir: str = "data/grid",
    out_dir: str = "models/grid/base",
    workdir: str = "checkpoints/grid/base",
    metrics_path: str = "metrics/grid/pretrain.json",
    history_path: str = "metrics/grid/pretrain_history.json",
) -> dict[str, Any]:
    """Train (or resume) the base model, register `irl-grid-base@champion`, write metrics."""
    name, sections = profile_sections(params_path, profile, {"pretrain_grid": {"steps": steps}})
    env = stage_config(GridConfig, sections, "grid_env", params_path, name)
    model_cfg = model_config(sections, env, f"{params_path}: profiles.{name}.model_grid")
    cfg = stage_config(PretrainConfig, sections, "pretrain_grid", params_path, name)
    params = {"profile": name, "grid_env": env.to_dict(), "model_grid": model_cfg.to_dict(), "pretrain_grid": sections["pretrain_grid"]}
    final = train_task(model_cfg, cfg, env, Path(data_dir), Path(workdir), Path(out_dir), name, params)
    keys = ("rollout_success", "rollout_episodes", "optimal_action_rate", "optimal_action_rate_determined",
            "action_nll", "tokens_per_s", "tokens", "steps", "resumed_from_step", "train_s", "wall_s")
    metrics = {"profile": name, "env": {"name": "grid-pinpad", **env.to_dict()},
               "model": model_cfg.to_dict(), **{k: final[k] for k in keys}}
    atomic_write_json(history_path, final["history"])
    atomic_write_json(metrics_path, metrics)
    rows = "\n".join(f"| {k} | {final[k]:.4g} |" for k in keys if isinstance(final[k], float))
    curve = "\n".join(f"| {h['step']} | {h['tokens']:,} | {h['train_s']:.0f} | {h['rollout_success']:.3f} | {h['probe_mid_layer']:.3f} |"
                      for h in final["history"])
    publish_markdown(
        "pretrain-grid", f"pretrain_grid ({name})",
        f"| metric | value |\n|---|---|\n{rows}\n\n"
        f"| step | tokens | train s | closed-loop success | mid-layer subgoal probe |\n|---|---|---|---|---|\n{curve}\n\n"
        f"Registered `{MODEL_NAME}` version {final['registered_version']} (alias `champion`).",
        final["run_url"],
    )
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    pretrain_grid_flow(profile=args.profile, params_path=args.params)


if __name__ == "__main__":
    main()
