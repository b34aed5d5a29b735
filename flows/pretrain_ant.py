"""Flow `pretrain_ant`: the Hawk base model on the ant's D (DVC stage `pretrain_ant`).

Checkpoints in checkpoints/ant/base (outside DVC's outputs), so a killed run resumes.

    python -m flows.pretrain_ant [--profile smoke|default|paper]
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
from irl.config import build, stage_config
from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig
from irl.io import atomic_write_json
from irl.models.hawk import HawkConfig
from irl.models.io import save_model
from irl.training.pretrain import PretrainConfig
from irl.training.pretrain_ant import pretrain_ant

MODEL_NAME = "irl-ant-base"


@task(name="pretrain-ant-base-model")
def train_task(model_cfg: HawkConfig, cfg: PretrainConfig, env: AntConfig, data_dir: Path, workdir: Path,
               out_dir: Path, profile: str, params: dict[str, Any]) -> dict[str, Any]:
    logger = get_run_logger()
    data, heldout = load_dataset(data_dir / "D"), load_dataset(data_dir / "D_star")
    t0 = time.perf_counter()
    with tracking.stage_run("pretrain_ant", params, tags=flow_run_tags(profile)) as run:
        def log(step: int, metrics: dict[str, float]) -> None:
            log_flat_metrics(metrics, step=step)
            if any(k.startswith("eval/") for k in metrics):
                logger.info("step %d: %s", step, metrics)

        model, final = pretrain_ant(model_cfg, cfg, data, heldout, env, workdir, log=log, progress=True)
        final["wall_s"] = time.perf_counter() - t0
        save_model(out_dir, model, {"stage": "pretrain_ant", "profile": profile, "mlflow_run_id": run.info.run_id,
                                    "git_commit": tracking.git_commit(), "params": params,
                                    "data_sha256": {k: v["sha256"] for k, v in data.manifest["arrays"].items()}})
        log_flat_metrics({k: v for k, v in final.items() if k != "history"})
        mlflow.log_dict(final["history"], "history.json")
        final["registered_version"] = tracking.register_model_dir(run, out_dir, MODEL_NAME)
        final["run_url"] = tracking.run_url(run)
    return final


@flow(name="pretrain_ant", log_prints=True)
def pretrain_ant_flow(
    profile: str | None = None,
    params_path: str = "params.yaml",
    steps: int | None = None,
    data_dir: str = "data/ant",
    out_dir: str = "models/ant/base",
    workdir: str = "checkpoints/ant/base",
    metrics_path: str = "metrics/ant/pretrain.json",
    history_path: str = "metrics/ant/pretrain_history.json",
) -> dict[str, Any]:
    """Train (or resume) the Hawk base model, register `irl-ant-base@champion`, write metrics."""
    name, sections = profile_sections(params_path, profile, {"pretrain_ant": {"steps": steps}})
    env = stage_config(AntConfig, sections, "ant_env", params_path, name)
    data_dir_p = Path(data_dir)
    obs_dim = load_dataset(data_dir_p / "D_star")["obs"].shape[1]
    model_cfg = build(HawkConfig, {**sections.get("model_ant", {}), "obs_dim": obs_dim},
                      f"{params_path}: profiles.{name}.model_ant")
    cfg = stage_config(PretrainConfig, sections, "pretrain_ant", params_path, name)
    params = {"profile": name, "ant_env": env.to_dict(), "model_ant": model_cfg.to_dict(), "pretrain_ant": sections["pretrain_ant"]}
    final = train_task(model_cfg, cfg, env, data_dir_p, Path(workdir), Path(out_dir), name, params)
    keys = ("rollout_success", "rollout_episodes", "rollout_outcomes", "action_nll_heldout", "tokens_per_s", "tokens",
            "steps", "resumed_from_step", "train_s", "wall_s")
    metrics = {"profile": name, "env": {"name": "ant-pinpad", **env.to_dict()}, "model": model_cfg.to_dict(),
               **{k: final[k] for k in keys}}
    atomic_write_json(history_path, final["history"])
    atomic_write_json(metrics_path, metrics)
    curve = "\n".join(f"| {h['step']} | {h['tokens']:,} | {h['train_s']:.0f} | {h['rollout_success']:.3f} | {h['probe_mid_layer']:.3f} |"
                      for h in final["history"])
    publish_markdown(
        "pretrain-ant", f"pretrain_ant ({name})",
        f"Closed-loop success {final['rollout_success']:.3f} ({final['rollout_episodes']} episodes), held-out action "
        f"NLL {final['action_nll_heldout']:.3f}, {final['tokens_per_s']:,.0f} tokens/s.\n\n"
        f"| step | tokens | train s | closed-loop success | mid-layer subgoal probe |\n|---|---|---|---|---|\n{curve}\n\n"
        f"Registered `{MODEL_NAME}` version {final['registered_version']} (alias `champion`).",
        final["run_url"],
    )
    return metrics


if __name__ == "__main__":
    run_profile_flow(pretrain_ant_flow, __doc__)
