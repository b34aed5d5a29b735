"""Flow `rate_distortion_grid`: the α sweep of paper Fig. 7, frozen vs co-trained base model.

Each (α, mode) pair is one discovery run, submitted as its own Prefect task; `workers` of them run
at once (a thread pool: torch releases the GIL, and the cores are split between the workers). Each
run checkpoints under checkpoints/grid/rate_distortion/<mode>_a<α>, so a killed sweep resumes and
finished runs are only re-scored. Output: a table and a plot of KL (rate) against held-out action
NLL (distortion), with boundary F1 per point.

    python -m flows.rate_distortion [--profile smoke|default|paper]
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.eval.plots import rate_distortion_png
from irl.io import atomic_write_json
from irl.models.io import load_model
from irl.training.discover import DiscoverConfig, RateDistortionConfig, discover

KEYS = ("kl", "nll", "boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
        "true_subgoals_per_episode", "beta_nonbinary_fraction", "train_s")


@task(name="discover-at-alpha", task_run_name="discover-{mode}-alpha-{alpha}")
def sweep_point(model_dir: Path, data_dir: Path, cfg: DiscoverConfig, alpha: float, mode: str, workdir: Path) -> dict[str, Any]:
    base, _ = load_model(model_dir, cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    data = load_dataset(data_dir / "D_star")
    run_cfg = dataclasses.replace(cfg, alpha=alpha, co_train=mode == "co_trained")
    _, _, res = discover(base, data, run_cfg, workdir / f"{mode}_a{alpha:g}")
    row = {"alpha": alpha, "mode": mode, **{k: res[k] for k in KEYS}}
    get_run_logger().info("%s", row)
    return row


@flow(name="rate_distortion_grid", log_prints=True)
def rate_distortion_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                              alphas: list[float] | None = None, steps: int | None = None,
                              model_dir: str = "models/grid/base", data_dir: str = "data/grid",
                              workdir: str = "checkpoints/grid/rate_distortion",
                              metrics_path: str = "metrics/grid/rate_distortion.json",
                              png: str = "plots/grid/rate_distortion.png") -> dict[str, Any]:
    """Fan the (α, mode) discovery runs out as parallel tasks; write the table and the plot."""
    name, sections = profile_sections(params_path, profile, {"rate_distortion_grid": {"alphas": alphas, "steps": steps}})
    env = stage_config(GridConfig, sections, "grid_env", params_path, name)
    base_cfg = stage_config(DiscoverConfig, sections, "discover_grid", params_path, name)
    sweep = stage_config(RateDistortionConfig, sections, "rate_distortion_grid", params_path, name)
    cfg = dataclasses.replace(base_cfg, steps=sweep.steps)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // sweep.workers))
    points = [(a, m) for m in sweep.modes for a in sweep.alphas]
    with ThreadPoolTaskRunner(max_workers=sweep.workers) as runner:
        futures = [runner.submit(sweep_point, {"model_dir": Path(model_dir), "data_dir": Path(data_dir), "cfg": cfg,
                                               "alpha": a, "mode": m, "workdir": Path(workdir)}) for a, m in points]
        rows = [f.result() for f in futures]
    env_info = {"name": "grid-pinpad", **env.to_dict()}
    metrics = {"profile": name, "env": env_info, "steps_per_run": cfg.steps, "runs": rows}
    atomic_write_json(metrics_path, metrics)
    rate_distortion_png(rows, png, f"rate–distortion ({name}, {cfg.steps} steps per run)")
    params = {"profile": name, "discover_grid": sections["discover_grid"], "rate_distortion_grid": sections["rate_distortion_grid"]}
    with tracking.stage_run("rate_distortion_grid", params, tags=flow_run_tags(name)) as run:
        for i, row in enumerate(rows):
            log_flat_metrics({f"{row['mode']}/{k}": row[k] for k in KEYS}, step=i)
        tracking.mlflow.log_dict(rows, "rate_distortion.json")
        tracking.mlflow.log_artifact(png)
        url = tracking.run_url(run)
    table = "\n".join(f"| {r['mode']} | {r['alpha']:g} | {r['kl']:.3f} | {r['nll']:.4f} | {r['boundary_f1']:.3f} | "
                      f"{r['switches_per_episode']:.2f} |" for r in rows)
    publish_markdown("rate-distortion-grid", f"rate_distortion_grid ({name})",
                     "| mode | α | KL (rate) | action NLL | boundary F1 | switches / episode |\n|---|---|---|---|---|---|\n"
                     f"{table}", url)
    return metrics


if __name__ == "__main__":
    run_profile_flow(rate_distortion_grid_flow, __doc__)
