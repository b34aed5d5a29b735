"""Distributed vs serial sweep: the same 6-point α sweep (discovery on the default base model and
D*) on a local Dask cluster (2 worker processes × 1 torch thread) and serially (one run at a time
with all cores). Prints JSON with both wall times. Needs `make run` outputs (models/grid/base,
data/grid/D_star).

    python bench/sweep.py [--steps 150] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

from flows.sweep import grid_sweep  # noqa: E402

ALPHAS = [0.0, 0.05, 0.1, 0.17, 0.3, 0.5]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    out = {"points": len(ALPHAS), "steps_per_point": a.steps, "cpus": os.cpu_count()}
    for runner in ("dask", "serial"):
        res = grid_sweep(kind="alpha", values=ALPHAS, runner=runner, workers=a.workers, steps=a.steps,
                         profile="default", workdir=f"checkpoints/grid/bench-sweep-{runner}")
        out[runner] = {k: res[k] for k in ("wall_s", "sum_point_wall_s", "processes", "workers", "threads_per_worker")}
    out["speedup_dask_vs_serial"] = out["serial"]["wall_s"] / out["dask"]["wall_s"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
