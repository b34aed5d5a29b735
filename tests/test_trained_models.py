"""Behaviour of the models `make run` produced (models/grid/*): slow, skipped before a run.

These are the paper's findings as tests; they fail when the method does not reproduce.
"""

from __future__ import annotations

import json

import pytest
import torch

from irl.config import load_profile, stage_config
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.io import load_model
from irl.rl.internal_rl import oracle_code_success
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MODELS = ROOT / "models" / "grid"


def _models():
    if not (MODELS / "base" / "config.json").is_file() or not (MODELS / "metacontroller" / "config.json").is_file():
        pytest.skip("run `make run` first: no models/grid/base or models/grid/metacontroller")
    base, _ = load_model(MODELS / "base")
    mc, spec = load_model(MODELS / "metacontroller")
    name, sections = load_profile(ROOT / "params.yaml")
    return base, mc, spec, stage_config(GridConfig, sections, "grid_env", "params.yaml", name)


def test_the_codes_of_the_true_subgoals_solve_the_post_training_task() -> None:
    base, mc, spec, env = _models()
    codes = torch.tensor(spec["meta"]["codes_by_subgoal"])
    res = oracle_code_success(base, mc, codes, env, resolve_tasks("post", "grid", env.n_colors), 500, seed=123)
    assert res["oracle_code_success"] >= 0.9, res


def test_ground_truth_controllers_steer_the_post_training_task() -> None:
    metrics = ROOT / "metrics" / "grid" / "gt_controllers.json"
    if not metrics.is_file():
        pytest.skip("no metrics/grid/gt_controllers.json")
    gt = json.loads(metrics.read_text())
    assert gt["ood_success_controlled"] >= 0.8, gt["ood_success_controlled"]
