"""`python -m serving [--host H] [--port P]`: the policy service under uvicorn (settings: env vars,
see serving/settings.py)."""

from __future__ import annotations

import argparse
import os

import torch
import uvicorn

from serving.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("IRL_TORCH_THREADS", "1")),
                        help="torch intra-op threads (default 1: acts are small; IRL_TORCH_THREADS)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
