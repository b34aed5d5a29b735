"""Flows `probe_grid` and `probe_ant`: a linear probe per layer for the true subgoal (DVC stages
of the same names).

Probes read the frozen base model's residual stream on D* episodes (never seen in pretraining),
fitted on 70% of the episodes and scored on the other 30%. The same code serves both
environments: the transformer's and the Hawk's residual streams, the grid's color pairs and the
ant's single colors as subgoals.

    python -m flows.probe [--env grid|ant] [--profile smoke|default|paper]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from prefect import flow, task

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.eval.plots import probe_by_layer_png
from irl.eval.probe import probe_by_layer
from irl.io import atomic_write_json
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.pretrain import resolve_device


@dataclass(frozen=True)
class ProbeConfig:
    episodes: int = 3000
    seed: int = 0
    device: str = "auto"


@task(name="fit-probes")
def fit_probes(model_dir: Path, data_dir: Path, cfg: ProbeConfig) -> dict[str, Any]:
    device = resolve_device(cfg.device)
    model, _ = load_model(model_dir, device)
    data = load_dataset(data_dir / "D_star")
    batches = EpisodeBatches(data, 256, cfg.seed, device)
    n_colors = int(data.manifest["env"]["n_colors"])
    n_classes = n_colors // 2 if data.manifest["task_set"]["colors_per_subgoal"] == 2 else n_colors
    acc = probe_by_layer(model, batches, min(cfg.episodes, data.num_episodes), cfg.seed, n_classes)
    counts = np.bincount(data["subgoal"][data["subgoal"] >= 0], minlength=n_classes)
    return {"accuracy_by_layer": acc, "chance": 1.0 / n_classes, "majority_class": float(counts.max() / counts.sum()),
            "n_classes": n_classes, "mid_layer": model.cfg.mid_layer}


def probe_stage(stage: str, profile: str | None, params_path: str, model_dir: str, data_dir: str, metrics_path: str,
                plot_data: str, png: str) -> dict[str, Any]:
    """The probe stage of either environment: fit, write metrics/plot data/PNG, track."""
    name, sections = profile_sections(params_path, profile)
    cfg = stage_config(ProbeConfig, sections, stage, params_path, name)
    res = fit_probes(Path(model_dir), Path(data_dir), cfg)
    acc = res["accuracy_by_layer"]
    best_from_mid = max(acc[res["mid_layer"]:])
    metrics = {"profile": name, **res, "best_from_mid_layer": best_from_mid,
               "best_from_mid_over_chance": best_from_mid / res["chance"]}
    atomic_write_json(metrics_path, metrics)
    atomic_write_json(plot_data, [{"layer": i, "accuracy": a} for i, a in enumerate(acc)])
    probe_by_layer_png(acc, res["chance"], png, f"subgoal probe by layer ({name})")
    with tracking.stage_run(stage, {"profile": name, stage: sections[stage]}, tags=flow_run_tags(name)) as run:
        log_flat_metrics({k: v for k, v in metrics.items() if k != "accuracy_by_layer"})
        for i, a in enumerate(acc):
            mlflow.log_metric("probe/accuracy", a, step=i)
        mlflow.log_artifact(png)
        url = tracking.run_url(run)
    table = "\n".join(f"| {i} | {a:.3f} |" for i, a in enumerate(acc))
    publish_markdown(stage.replace("_", "-"), f"{stage} ({name})",
                     f"| layer | subgoal accuracy |\n|---|---|\n{table}\n\nchance {res['chance']:.3f}, "
                     f"majority class {res['majority_class']:.3f}", url)
    return metrics


@flow(name="probe_grid", log_prints=True)
def probe_grid_flow(profile: str | None = None, params_path: str = "params.yaml", model_dir: str = "models/grid/base",
                    data_dir: str = "data/grid", metrics_path: str = "metrics/grid/probe.json",
                    plot_data: str = "metrics/grid/probe_by_layer.json", png: str = "plots/grid/probe.png") -> dict[str, Any]:
    return probe_stage("probe_grid", profile, params_path, model_dir, data_dir, metrics_path, plot_data, png)


@flow(name="probe_ant", log_prints=True)
def probe_ant_flow(profile: str | None = None, params_path: str = "params.yaml", model_dir: str = "models/ant/base",
                   data_dir: str = "data/ant", metrics_path: str = "metrics/ant/probe.json",
                   plot_data: str = "metrics/ant/probe_by_layer.json", png: str = "plots/ant/probe.png") -> dict[str, Any]:
    return probe_stage("probe_ant", profile, params_path, model_dir, data_dir, metrics_path, plot_data, png)


if __name__ == "__main__":
    run_profile_flow({"grid": probe_grid_flow, "ant": probe_ant_flow}, __doc__)
