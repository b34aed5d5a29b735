"""`python -m serving [--host H] [--port P]`: the policy service under uvicorn (settings: env vars,
see serving/settings.py)."""

from __future__ import annotations

import argparse

import uvicorn

from serving.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
