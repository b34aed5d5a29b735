"""Serve every stage and the whole pipeline as deployments of this process (`make ui`), so a user
triggers them from the Prefect UI at once, without a work pool or a worker.

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m flows.serve_all
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.baselines import baselines_ant_flow, baselines_grid_flow
from flows.collect import collect_grid_flow
from flows.collect_ant import collect_ant_flow
from flows.discover import discover_ant_flow, discover_grid_flow
from flows.expert_ant import expert_ant_flow
from flows.gt_controllers import gt_controllers_ant_flow, gt_controllers_grid_flow
from flows.internal_rl import internal_rl_ant_flow, internal_rl_grid_flow
from flows.pipeline import grid_pipeline
from flows.pretrain import pretrain_grid_flow
from flows.pretrain_ant import pretrain_ant_flow
from flows.probe import probe_ant_flow, probe_grid_flow
from flows.rate_distortion import rate_distortion_grid_flow
from flows.sweep import grid_sweep

FLOWS = {
    "grid-pipeline": grid_pipeline,
    "collect-grid": collect_grid_flow,
    "pretrain-grid": pretrain_grid_flow,
    "probe-grid": probe_grid_flow,
    "gt-controllers-grid": gt_controllers_grid_flow,
    "discover-grid": discover_grid_flow,
    "rate-distortion-grid": rate_distortion_grid_flow,
    "internal-rl-grid": internal_rl_grid_flow,
    "baselines-grid": baselines_grid_flow,
    "grid-sweep": grid_sweep,
    "expert-ant": expert_ant_flow,
    "collect-ant": collect_ant_flow,
    "pretrain-ant": pretrain_ant_flow,
    "probe-ant": probe_ant_flow,
    "gt-controllers-ant": gt_controllers_ant_flow,
    "discover-ant": discover_ant_flow,
    "internal-rl-ant": internal_rl_ant_flow,
    "baselines-ant": baselines_ant_flow,
}


def deployments() -> list[RunnerDeployment]:
    """The same names as prefect.yaml's deployments."""
    return [f.to_deployment(name=name, tags=["internal-rl"]) for name, f in FLOWS.items()]


if __name__ == "__main__":
    serve(*deployments(), limit=1)
