"""Flow `grid_pipeline`: the grid stages in order, as subflows of one Prefect run.

`dvc repro` runs the stages one by one (and skips those whose inputs did not change); this flow
is the same chain for the Prefect UI and deployments: collect → pretrain → probe → gt_controllers →
discover → rate_distortion → internal_rl → baselines.

    python -m flows.pipeline [--profile smoke|default|paper]
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.cli import run_profile_flow
from flows.baselines import baselines_grid_flow
from flows.collect import collect_grid_flow
from flows.discover import discover_grid_flow
from flows.gt_controllers import gt_controllers_grid_flow
from flows.internal_rl import internal_rl_grid_flow
from flows.pretrain import pretrain_grid_flow
from flows.probe import probe_grid_flow
from flows.rate_distortion import rate_distortion_grid_flow


@flow(name="grid_pipeline", log_prints=True)
def grid_pipeline(profile: str | None = None, params_path: str = "params.yaml") -> dict[str, Any]:
    """Run every grid stage on `profile` (default: the active profile in params.yaml)."""
    results = {"collect_grid": collect_grid_flow(profile=profile, params_path=params_path)}
    results["pretrain_grid"] = pretrain_grid_flow(profile=profile, params_path=params_path)
    results["probe_grid"] = probe_grid_flow(profile=profile, params_path=params_path)
    results["gt_controllers_grid"] = gt_controllers_grid_flow(profile=profile, params_path=params_path)
    results["discover_grid"] = discover_grid_flow(profile=profile, params_path=params_path)
    results["rate_distortion_grid"] = rate_distortion_grid_flow(profile=profile, params_path=params_path)
    results["internal_rl_grid"] = internal_rl_grid_flow(profile=profile, params_path=params_path)
    results["baselines_grid"] = baselines_grid_flow(profile=profile, params_path=params_path)
    return results


if __name__ == "__main__":
    run_profile_flow(grid_pipeline, __doc__)
