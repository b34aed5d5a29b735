"""Flow `discover_grid`: the metacontroller on D*, base frozen (DVC stage `discover_grid`).

Trains (or resumes, from checkpoints/grid/metacontroller) the metacontroller, scores its switch
β against the true subgoal boundaries on held-out D* episodes, runs the steering check (inject the
code of subgoal g into fresh rollouts), draws β traces, and registers `irl-grid-metacontroller`.

    python -m flows.discover [--profile smoke|default|paper]
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
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.plots import beta_traces_png
from irl.eval.steering import codes_by_subgoal, steering_check
from irl.io import atomic_write_json
from irl.models.io import load_model, save_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import DiscoverConfig, discover, split_episodes
from irl.training.pretrain import resolve_device

MODEL_NAME = "irl-grid-metacontroller"
ALIGNMENT_KEYS = ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                  "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl")


@task(name="discover-metacontroller")
def discover_task(model_dir: Path, data_dir: Path, env: GridConfig, cfg: DiscoverConfig, workdir: Path,
                  out_dir: Path, png: Path, profile: str, params: dict[str, Any]) -> dict[str, Any]:
    logger = get_run_logger()
    t0 = time.perf_counter()
    base, _ = load_model(model_dir, resolve_device(cfg.device))
    data = load_dataset(data_dir / "D_star")
    with tracking.stage_run("discover_grid", params, tags=flow_run_tags(profile)) as run:
        mc, base, res = discover(base, data, cfg, workdir, log=lambda step, m: log_flat_metrics(m, step=step), progress=True)
        logger.info("held-out switch alignment: %s", {k: res[k] for k in ALIGNMENT_KEYS})
        _, held = split_episodes(data, cfg.heldout_episodes, cfg.seed)
        n_sub = 4 if env.n_colors == 8 else env.n_colors
        codes = codes_by_subgoal(base, mc, EpisodeBatches(data, 256, cfg.seed, next(base.parameters()).device), held, n_sub)
        steer = steering_check(base, mc, codes, env, resolve_tasks("pretrain", "grid", env.n_colors),
                               cfg.steering_episodes, seed=cfg.seed + 7000)
        logger.info("steering: %s", steer)
        res["wall_s"] = time.perf_counter() - t0
        beta_traces_png(res["traces"], png, f"switch β on held-out D* episodes ({profile})")
        mlflow.log_artifact(str(png))
        mlflow.log_dict(res["traces"], "beta_traces.json")
        log_flat_metrics({**{k: res[k] for k in ALIGNMENT_KEYS}, "wall_s": res["wall_s"],
                          "steering/reach_rate_steered": steer["reach_rate_steered"],
                          "steering/reach_rate_base": steer["reach_rate_base"]})
        save_model(out_dir, mc, {"stage": "discover_grid", "profile": profile, "mlflow_run_id": run.info.run_id,
                                 "git_commit": tracking.git_commit(), "params": params,
                                 "base_model": str(model_dir), "codes_by_subgoal": codes.tolist()})
        res["registered_version"] = tracking.register_model_dir(run, out_dir, MODEL_NAME)
        res["run_url"] = tracking.run_url(run)
    return {"discover": res, "steering": steer}


@flow(name="discover_grid", log_prints=True)
def discover_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                       alpha: float | None = None, steps: int | None = None,
                       model_dir: str = "models/grid/base", data_dir: str = "data/grid",
                       out_dir: str = "models/grid/metacontroller", workdir: str = "checkpoints/grid/metacontroller",
                       metrics_path: str = "metrics/grid/discover.json",
                       steering_path: str = "metrics/grid/steering.json",
                       png: str = "plots/grid/beta_traces.png") -> dict[str, Any]:
    """Discover controllers, score the switch, check steering, register the metacontroller."""
    name, sections = profile_sections(params_path, profile, {"discover_grid": {"alpha": alpha, "steps": steps}})
    env = stage_config(GridConfig, sections, "grid_env", params_path, name)
    cfg = stage_config(DiscoverConfig, sections, "discover_grid", params_path, name)
    params = {"profile": name, "grid_env": env.to_dict(), "discover_grid": sections["discover_grid"]}
    out = discover_task(Path(model_dir), Path(data_dir), env, cfg, Path(workdir), Path(out_dir), Path(png), name, params)
    res, steer = out["discover"], out["steering"]
    env_info = {"name": "grid-pinpad", **env.to_dict()}
    metrics = {"profile": name, "env": env_info, **{k: res[k] for k in ALIGNMENT_KEYS},
               "heldout_episodes": res["episodes"], "alpha": cfg.alpha, "steps": res["steps"],
               "train_s": res["train_s"], "wall_s": res["wall_s"]}
    atomic_write_json(metrics_path, metrics)
    atomic_write_json(steering_path, {"profile": name, "env": env_info, **steer})
    rows = "\n".join(f"| {k} | {metrics[k]:.4g} |" for k in ALIGNMENT_KEYS)
    per = "\n".join(f"| {r['subgoal']} | {r['steered']:.3f} | {r['base']:.3f} |" for r in steer["by_subgoal"])
    publish_markdown("discover-grid", f"discover_grid ({name})",
                     f"| held-out metric | value |\n|---|---|\n{rows}\n\nSteering (first pair completed = the injected "
                     f"code's subgoal, {steer['episodes_per_subgoal']} episodes each):\n\n| subgoal | steered | base |\n"
                     f"|---|---|---|\n{per}\n\nRegistered `{MODEL_NAME}` v{res['registered_version']}.", res["run_url"])
    return metrics


if __name__ == "__main__":
    run_profile_flow(discover_grid_flow, __doc__)
