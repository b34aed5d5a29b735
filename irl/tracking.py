"""MLflow helpers: where runs go, one run per stage, flat params, links to the UI.

Default: a SQLite file `mlflow.db` in the working directory (the repository root) with artifacts
in `mlartifacts/` beside it. `MLFLOW_TRACKING_URI` points elsewhere (an `mlflow server`, e.g.).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow

EXPERIMENT = "internal-rl-grid"
DEFAULT_UI_URL = "http://127.0.0.1:5000"


def tracking_uri() -> str:
    """MLFLOW_TRACKING_URI, or sqlite:///<cwd>/mlflow.db."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def configure() -> str:
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    return uri


def _experiment_id(name: str) -> str:
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    uri = tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):
        # Keep artifacts beside the database rather than wherever the process happened to start.
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=location)
    except mlflow.exceptions.MlflowException:
        exp = mlflow.get_experiment_by_name(name)  # created concurrently by another stage
        if exp is None:
            raise
        return exp.experiment_id


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists become their string form."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{key}."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


@contextmanager
def stage_run(stage: str, params: Mapping[str, Any], tags: Mapping[str, str] | None = None,
              experiment: str = EXPERIMENT) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run named after the stage, with flattened params and provenance tags."""
    configure()
    exp_id = _experiment_id(experiment)
    all_tags = {"irl.stage": stage, **({"git.commit": c} if (c := git_commit()) else {}), **(tags or {})}
    with mlflow.start_run(experiment_id=exp_id, run_name=stage, tags=all_tags) as run:
        mlflow.log_params(flatten(params))
        yield run


def run_url(run: mlflow.ActiveRun | Any) -> str:
    """Link to the run in the MLflow UI (IRL_MLFLOW_UI_URL, default the `make mlflow-ui` address)."""
    base = os.environ.get("IRL_MLFLOW_UI_URL", DEFAULT_UI_URL).rstrip("/")
    info = run.info
    return f"{base}/#/experiments/{info.experiment_id}/runs/{info.run_id}"


def register_model_dir(run: Any, local_dir: str | Path, name: str, aliases: tuple[str, ...] = ("champion",),
                       artifact_path: str = "model") -> str:
    """Log `local_dir` (safetensors + config.json) under the run and register it as a new version
    of `name` carrying `aliases`. Returns the version. (MLflow 3's `register_model` wants a
    LoggedModel flavour; these are plain files, so the version is created from their URI.)"""
    client = mlflow.MlflowClient()
    mlflow.log_artifacts(str(local_dir), artifact_path=artifact_path)
    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        client.create_registered_model(name, description="internal-rl model: safetensors weights + JSON config")
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/{artifact_path}", run_id=run.info.run_id)
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version.version)
    return str(version.version)


def download_model(name: str, alias: str = "champion", dst: str | Path | None = None) -> Path:
    """Local directory holding the registered model `name@alias`."""
    configure()
    return Path(mlflow.artifacts.download_artifacts(f"models:/{name}@{alias}", dst_path=None if dst is None else str(dst)))


def champion_metric(name: str, metric: str, alias: str = "champion") -> float | None:
    """`metric` of the run that produced `name@alias`, or None if there is no such version/metric."""
    configure()
    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        return None
    if not version.run_id:
        return None
    return client.get_run(version.run_id).data.metrics.get(metric)
