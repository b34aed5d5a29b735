"""Seeded module initialisation that is safe when runs share a process.

Stages fan runs out as parallel threads (seeds, α points, baselines). A module's initial weights
come from torch's *global* RNG; two threads seeding and drawing from it at once interleave, and each
run's weights then depend on thread timing. Initialise under `seeded(seed)`: the lock makes
seed-then-draw atomic, so a run is the same alone or beside others. (Training noise already uses
per-run `torch.Generator`s.)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_INIT_LOCK = threading.Lock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """`torch.manual_seed(seed)` and whatever the block draws, atomically among threads."""
    with _INIT_LOCK:
        torch.manual_seed(seed)
        yield
