"""params.yaml profiles → stage configs, with errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from irl.config import ConfigError, load_profile, stage_config
from irl.data.collect import CollectStageConfig
from irl.envs.grid import GridConfig
from tests.conftest import ROOT


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_profile_builds_every_stage_config(profile: str) -> None:
    name, sections = load_profile(ROOT / "params.yaml", profile)
    assert name == profile
    env = stage_config(GridConfig, sections, "grid_env", profile=profile)
    stage = stage_config(CollectStageConfig, sections, "collect_grid", profile=profile)
    assert env.obs_dim == env.size**2 * (env.n_colors + env.n_walls + 1) and set(stage.datasets()) == {"D", "D_star"}
    assert stage.datasets()["D_star"].epsilon == 0.0
    assert (env.size == 7) == (profile == "paper") or profile == "smoke"  # the paper profile is the paper's 7×7 grid
    from irl.rl.internal_rl import InternalRLConfig
    from irl.rl.raw_rl import BaselinesConfig
    from irl.training.discover import DiscoverConfig, RateDistortionConfig
    from irl.training.gt_controllers import GTControllerConfig
    from irl.training.pretrain import PretrainConfig

    for cls, key in ((PretrainConfig, "pretrain_grid"), (GTControllerConfig, "gt_controllers_grid"),
                     (DiscoverConfig, "discover_grid"), (RateDistortionConfig, "rate_distortion_grid"),
                     (InternalRLConfig, "internal_rl_grid"), (BaselinesConfig, "baselines_grid")):
        stage_config(cls, sections, key, profile=profile)


def test_the_active_profile_is_default() -> None:
    assert load_profile(ROOT / "params.yaml")[0] == "default"


def test_errors_name_the_problem(tmp_path: Path) -> None:
    p = tmp_path / "params.yaml"
    p.write_text("profile: x\nprofiles:\n  x:\n    grid_env: {size: 7, n_colors: 8, n_walls: 4, horizon: 100, colour: 1}\n")
    _, sections = load_profile(p)
    with pytest.raises(ConfigError, match=r"profiles.x.grid_env: unknown field\(s\) \['colour'\]"):
        stage_config(GridConfig, sections, "grid_env", p, "x")
    with pytest.raises(ConfigError, match="profiles.x.collect_grid: section missing"):
        stage_config(CollectStageConfig, sections, "collect_grid", p, "x")
    with pytest.raises(ConfigError, match="profile 'nope' not found"):
        load_profile(p, "nope")
    p.write_text("profile: x\nprofiles:\n  x:\n    grid_env: {size: 9, n_colors: 8, n_walls: 4, horizon: 100}\n")
    with pytest.raises(ConfigError, match="env.size=9"):
        stage_config(GridConfig, load_profile(p)[1], "grid_env", p, "x")
    with pytest.raises(ConfigError, match="not found"):
        load_profile(tmp_path / "missing.yaml")


def test_flow_overrides_lay_over_the_profile_and_unknown_ones_are_refused() -> None:
    from flows.common import profile_sections
    from irl.config import ConfigError, load_profile

    params = str(ROOT / "params.yaml")
    name, plain = load_profile(params, "smoke")
    same = profile_sections(params, "smoke", {"internal_rl_grid": {"seeds": None, "episodes": None}})
    assert same == (name, plain)  # all None: exactly the profile (what `dvc repro` runs)
    _, over = profile_sections(params, "smoke", {"internal_rl_grid": {"seeds": [7, 8], "episodes": 128}})
    assert over["internal_rl_grid"]["seeds"] == [7, 8] and over["internal_rl_grid"]["episodes"] == 128
    assert over["internal_rl_grid"]["lr"] == plain["internal_rl_grid"]["lr"] and plain["internal_rl_grid"]["episodes"] == 64
    with pytest.raises(ConfigError, match="episodez"):
        profile_sections(params, "smoke", {"internal_rl_grid": {"episodez": 3}})
