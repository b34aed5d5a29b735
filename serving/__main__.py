"""`python -m serving [--host H] [--port P]`: the policy service under uvicorn (settings: env vars,
see serving/settings.py)."""

from __future__ import annotations

import argparse
import os

import torch
import uvicorn

from serving.app import create_app


def parse_cpus(spec: str) -> set[int]:
    """'1' / '0-3' / '0,2-3' → a set of CPU ids (validated against this machine's)."""
    cpus: set[int] = set()
    for part in spec.split(","):
        lo, dash, hi = part.strip().partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"{part!r} is not a CPU id or a range like 2-3")
        if int(hi or lo) < int(lo):
            raise ValueError(f"{part!r}: a range runs low-high")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    online = set(range(os.cpu_count() or 1))
    if not cpus <= online:
        raise ValueError(f"CPUs {sorted(cpus - online)} do not exist (this machine has 0-{max(online)})")
    return cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("IRL_TORCH_THREADS", "1")),
                        help="torch intra-op threads (default 1: acts are small; IRL_TORCH_THREADS)")
    parser.add_argument("--cpus", default=os.environ.get("IRL_CPUS"),
                        help="CPU ids the server may run on, e.g. '1' or '2-3,6' (IRL_CPUS; default: all). "
                             "A core of its own keeps the model's caches warm between one client's acts.")
    args = parser.parse_args()
    if args.cpus:
        try:
            os.sched_setaffinity(0, parse_cpus(args.cpus))
        except (ValueError, OSError) as exc:
            parser.error(f"--cpus {args.cpus!r}: {exc}")
    torch.set_num_threads(args.threads)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
