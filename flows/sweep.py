"""Flow `grid_sweep`: α or seed sweeps spread over a distributed task runner.

Each point is one Prefect task: a discovery run at one α (`kind="alpha"`) or an internal-RL run at
one seed (`kind="seed"`). `runner="dask"` runs them on a Dask cluster: a local one (`workers`
processes × `threads_per_worker` torch threads) by default, or the scheduler at `dask_address`
(`tcp://host:8786`, workers started there with `dask worker tcp://host:8786` in this project's
environment and working directory). `runner="serial"` runs the points one after another with all
local cores, the baseline for the wall-time comparison (`bench/sweep.py`).

    python -m flows.sweep --kind alpha --values 0 0.05 0.1 0.17 0.3 0.5 --steps 300
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import torch
from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.common import api_for_subprocesses, flow_run_tags, log_flat_metrics, profile_sections
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.io import atomic_write_json
from irl.models.io import load_model
from irl.rl.internal_rl import InternalRLConfig, train_internal_rl
from irl.training.discover import DiscoverConfig, discover

RUNNERS = ("dask", "serial", "thread")


@task(name="sweep-discover", task_run_name="sweep-discover-alpha-{alpha}")
def discover_point(model_dir: Path, data_dir: Path, cfg: DiscoverConfig, alpha: float, workdir: Path,
                   threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    base, _ = load_model(model_dir)
    run_cfg = dataclasses.replace(cfg, alpha=alpha, device="cpu")
    _, _, res = discover(base, load_dataset(data_dir / "D_star"), run_cfg, workdir / f"a{alpha:g}")
    return {"alpha": alpha, "kl": res["kl"], "nll": res["nll"], "boundary_f1": res["boundary_f1"],
            "wall_s": time.perf_counter() - t0, "pid": os.getpid()}


@task(name="sweep-internal-rl", task_run_name="sweep-internal-rl-seed-{seed}")
def internal_rl_point(model_dir: Path, mc_dir: Path, env: GridConfig, cfg: InternalRLConfig, seed: int,
                      threads: int) -> dict[str, Any]:
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    base, _ = load_model(model_dir)
    mc, _ = load_model(mc_dir)
    _, res = train_internal_rl(base, mc, env, resolve_tasks("post", "grid", env.n_colors),
                               dataclasses.replace(cfg, seed=seed, device="cpu"), "cpu")
    return {"seed": seed, "final_success": res["final_success"], "episodes_per_s": res["episodes_per_s"],
            "wall_s": time.perf_counter() - t0, "pid": os.getpid()}


def make_runner(runner: str, workers: int, threads_per_worker: int, dask_address: str | None):
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        os.environ["OMP_NUM_THREADS"] = str(threads_per_worker)  # inherited by the worker processes
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                              "dashboard_address": None})
    if runner in ("serial", "thread"):
        return ThreadPoolTaskRunner(max_workers=1 if runner == "serial" else workers)
    raise ValueError(f"runner={runner!r}: expected one of {RUNNERS}")


@flow(name="grid_sweep", log_prints=True)
def grid_sweep(kind: Literal["alpha", "seed"] = "alpha", values: list[float] | None = None,
               runner: Literal["dask", "serial", "thread"] = "dask", dask_address: str | None = None,
               workers: int = 2, threads_per_worker: int = 1, steps: int | None = None, episodes: int | None = None,
               profile: str | None = None, params_path: str = "params.yaml", model_dir: str = "models/grid/base",
               mc_dir: str = "models/grid/metacontroller", data_dir: str = "data/grid",
               workdir: str = "checkpoints/grid/sweep", out: str | None = None) -> dict[str, Any]:
    """Run one task per value (α or seed) on `runner`; returns and optionally writes the table."""
    if kind not in ("alpha", "seed"):
        raise ValueError(f"kind={kind!r}: expected 'alpha' or 'seed'")
    if workers < 1 or threads_per_worker < 1:
        raise ValueError(f"workers={workers}, threads_per_worker={threads_per_worker}: must be >= 1")
    name, sections = profile_sections(params_path, profile)
    if kind == "alpha":
        cfg: Any = stage_config(DiscoverConfig, sections, "discover_grid", params_path, name)
        cfg = dataclasses.replace(cfg, steps=steps or cfg.steps)
        values = values if values is not None else [0.0, 0.05, 0.1, 0.17, 0.3, 0.5]
    else:
        env = stage_config(GridConfig, sections, "grid_env", params_path, name)
        cfg = stage_config(InternalRLConfig, sections, "internal_rl_grid", params_path, name)
        cfg = dataclasses.replace(cfg, episodes=episodes or cfg.episodes)
        values = values if values is not None else list(range(6))
    threads = (os.cpu_count() or 1) if runner == "serial" else threads_per_worker
    t0 = time.perf_counter()
    # local workers report to this flow's (temporary) server instead of each starting its own
    with api_for_subprocesses(), make_runner(runner, workers, threads_per_worker, dask_address) as r:
        if kind == "alpha":
            futures = [r.submit(discover_point, {"model_dir": Path(model_dir), "data_dir": Path(data_dir), "cfg": cfg,
                                                 "alpha": float(v), "workdir": Path(workdir) / f"{runner}-{time.time_ns()}",
                                                 "threads": threads}) for v in values]
        else:
            futures = [r.submit(internal_rl_point, {"model_dir": Path(model_dir), "mc_dir": Path(mc_dir), "env": env,
                                                    "cfg": cfg, "seed": int(v), "threads": threads}) for v in values]
        rows = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    result = {"profile": name, "kind": kind, "runner": runner, "dask_address": dask_address, "workers": workers,
              "threads_per_worker": threads, "points": len(rows), "wall_s": wall,
              "sum_point_wall_s": sum(r["wall_s"] for r in rows), "processes": len({r["pid"] for r in rows}), "rows": rows}
    get_run_logger().info("sweep of %d %s points on %s: %.1f s wall (%.1f s of runs)", len(rows), kind, runner, wall,
                          result["sum_point_wall_s"])
    with tracking.stage_run("grid_sweep", {"kind": kind, "runner": runner, "workers": workers, "values": values},
                            tags=flow_run_tags(name)):
        log_flat_metrics({"wall_s": wall, "sum_point_wall_s": result["sum_point_wall_s"]})
        tracking.mlflow.log_dict(result, "sweep.json")
    if out:
        atomic_write_json(out, result)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", choices=("alpha", "seed"), default="alpha")
    p.add_argument("--values", type=float, nargs="*")
    p.add_argument("--runner", choices=RUNNERS, default="dask")
    p.add_argument("--dask-address")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads-per-worker", type=int, default=1)
    p.add_argument("--steps", type=int)
    p.add_argument("--episodes", type=int)
    p.add_argument("--profile")
    p.add_argument("--params", default="params.yaml")
    p.add_argument("--out")
    a = p.parse_args()
    res = grid_sweep(kind=a.kind, values=a.values, runner=a.runner, dask_address=a.dask_address, workers=a.workers,
                     threads_per_worker=a.threads_per_worker, steps=a.steps, episodes=a.episodes, profile=a.profile,
                     params_path=a.params, out=a.out)
    print(json.dumps({k: v for k, v in res.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
