"""What every stage flow shares: its profile, its MLflow run, its Prefect artifact."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mlflow
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context

from irl import tracking
from irl.config import ConfigError, load_profile


def profile_sections(params_path: str, profile: str | None,
                     overrides: dict[str, dict[str, Any]] | None = None) -> tuple[str, dict[str, Any]]:
    """The profile's sections, with the non-None `overrides` (section → {parameter: value}, typed
    flow parameters set in the Prefect UI or on a deployment) laid over them; an override that is
    not a parameter of its section is refused."""
    name, sections = load_profile(params_path, profile)
    for section, values in (overrides or {}).items():
        given = {k: v for k, v in values.items() if v is not None}
        unknown = sorted(set(given) - set(sections.get(section, {})))
        if unknown:
            raise ConfigError(f"override {section}.{unknown}: not a parameter of {section} in profile {name!r}")
        if given:
            sections = {**sections, section: {**sections[section], **given}}
    return name, sections


def flow_run_tags(profile: str) -> dict[str, str]:
    ctx = get_run_context()
    run = getattr(ctx, "flow_run", None) or getattr(getattr(ctx, "task_run", None), "flow_run_id", None)
    run_id = getattr(run, "id", run)
    return {"irl.profile": profile, "prefect.flow_run_id": str(run_id)}


def log_flat_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    flat = {k: float(v) for k, v in tracking.flatten(metrics).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if flat:
        mlflow.log_metrics(flat, step=step)


def publish_markdown(key: str, title: str, body: str, run_url: str | None = None) -> None:
    link = f"\n\nMLflow run: [{run_url.rsplit('/', 1)[-1]}]({run_url})\n" if run_url else ""
    create_markdown_artifact(key=key, markdown=f"# {title}\n\n{body}{link}", description=title)


@contextmanager
def api_for_subprocesses() -> Iterator[None]:
    """Task runs in worker processes started within the block report to this flow's API (its
    temporary server too) instead of each starting a server of its own."""
    if os.environ.get("PREFECT_API_URL"):
        yield
        return
    from prefect.client.orchestration import get_client

    os.environ["PREFECT_API_URL"] = str(get_client().api_url).rstrip("/")
    try:
        yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)
