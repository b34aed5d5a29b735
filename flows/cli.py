"""The command line every stage flow shares: `python -m flows.<stage> [--env E] [--profile P] [--params F]`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def run_profile_flow(flow_fn: Callable[..., Any] | dict[str, Callable[..., Any]], doc: str | None) -> Any:
    """Parse --profile/--params (and --env when `flow_fn` maps environments to flows) and run
    `flow_fn(profile=..., params_path=...)`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile in params.yaml (default: its `profile:`)")
    parser.add_argument("--params", default="params.yaml")
    if isinstance(flow_fn, dict):
        parser.add_argument("--env", choices=sorted(flow_fn), default="grid")
    args = parser.parse_args()
    fn = flow_fn[args.env] if isinstance(flow_fn, dict) else flow_fn
    return fn(profile=args.profile, params_path=args.params)
