"""The command line every stage flow shares: `python -m flows.<stage> [--profile P] [--params F]`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def run_profile_flow(flow_fn: Callable[..., Any], doc: str | None) -> Any:
    """Parse --profile/--params and run `flow_fn(profile=..., params_path=...)`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default=None, help="profile in params.yaml (default: its `profile:`)")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args()
    return flow_fn(profile=args.profile, params_path=args.params)
