"""Choosing a discovery run without labels (issue 4).

Seeds of one discovery config segment D* in different ways that the training objective cannot tell
apart (bench/diagnostics/discover_select.py: −ELBO ranks the over-segmenting runs best): at the
subgoal boundaries, at the mid-pair event one color earlier, or too often. What separates them is
when a code pays (irl/eval/code_use.py): a code that names the subgoal about to be pursued saves
action NLL at once, one switched mid-pair only later. `discover_grid` trains `candidates` seeds to
`select_at` steps, scores each here on its own training episodes, and continues the best.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from irl.data.dataset import PinpadDataset
from irl.eval.code_use import early_saving, saving_profile
from irl.training.batches import EpisodeBatches
from irl.training.discover import BaseModel, DiscoverConfig, Logger, split_episodes, train_metacontroller

LAGS = 4  # the profile printed beside the score: saving at 0, 1, 2 and ≥ 3 steps after a switch


def candidate_seeds(cfg: DiscoverConfig) -> list[int]:
    """The seeds a selecting run compares: cfg.seed … cfg.seed + candidates − 1."""
    return [cfg.seed + i for i in range(cfg.candidates)]


def score_candidate(base: BaseModel, data: PinpadDataset, cfg: DiscoverConfig, workdir: Path | None = None,
                    log: Logger | None = None) -> dict[str, Any]:
    """Train (or resume) seed `cfg.seed` to the selection step and score it: the NLL its mean code
    saves in the first two steps after its own switches, on `select_episodes` training episodes."""
    mc, base, state = train_metacontroller(base, data, replace(cfg, steps=cfg.selection_step()), workdir, log)
    train_eps, _ = split_episodes(data, cfg.heldout_episodes, cfg.seed)
    batches = EpisodeBatches(data, 256, cfg.seed, next(mc.parameters()).device)
    profile = saving_profile(base, mc, batches, train_eps[: cfg.select_episodes], lags=LAGS)
    return {"seed": cfg.seed, "step": int(state["step"]), "early_saving": early_saving(profile),
            "saving_by_lag": [float(x) for x in profile], "train_s": float(state["train_s"]),
            "resumed_from_step": int(state["resumed_from_step"])}


def select_seed(scores: list[dict[str, Any]]) -> int:
    """The candidate whose codes pay earliest (ties: the lowest seed)."""
    if not scores:
        raise ValueError("select_seed: no candidates scored")
    return max(sorted(scores, key=lambda s: s["seed"]), key=lambda s: s["early_saving"])["seed"]
