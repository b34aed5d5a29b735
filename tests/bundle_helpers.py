"""A small, untrained but complete model store (the layout of `models/grid/`) for agent and
service tests: what is served does not need to be good, only real."""

from __future__ import annotations

from pathlib import Path

import torch

from irl.envs.ant import AntConfig, AntPinpadEnv
from irl.models.controllers import ControllerConfig, LinearControllers
from irl.models.hawk import HawkConfig, HawkModel
from irl.models.io import save_model
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.rl.policy import CodePolicy, PolicyConfig

GRID = {"size": 5, "n_colors": 8, "n_walls": 4, "horizon": 40}


def make_store(root: Path, seed: int = 0, obs_encoding: str = "egocentric") -> Path:
    torch.manual_seed(seed)
    cfg = TransformerConfig(grid_size=GRID["size"], obs_encoding=obs_encoding, n_layers=2, d_model=32, n_heads=4, d_mlp=64)
    base = PinpadTransformer(cfg)
    mc = Metacontroller(MetacontrollerConfig(d_model=32, layer=1))
    with torch.no_grad():  # a decoder that edits and a switch that sometimes fires
        mc.hyper[2].weight.normal_(0, 0.3)
        mc.switch[2].weight.normal_(0, 0.5)
        mc.switch[2].bias.fill_(-0.3)
    policy = CodePolicy(PolicyConfig(d_model=32))
    gt = LinearControllers(ControllerConfig(n_controllers=4, d_model=32, rank=None, layer=1))
    with torch.no_grad():
        gt.U.normal_(0, 0.1)
    save_model(root / "base", base, {"params": {"grid_env": GRID}})
    save_model(root / "metacontroller", mc, {"codes_by_subgoal": torch.randn(4, 8).tolist()})
    save_model(root / "policy", policy)
    save_model(root / "gt_controllers", gt)
    return root


ANT = {"horizon": 30}


def make_ant_store(root: Path, seed: int = 0) -> Path:
    """The layout of `models/ant/`: an untrained Hawk, metacontroller (full rank) and code policy."""
    torch.manual_seed(seed)
    obs_dim = AntPinpadEnv(**AntConfig(**ANT).to_dict()).observation_space.shape[0]
    base = HawkModel(HawkConfig(obs_dim=obs_dim, act_dim=8, n_layers=2, d_model=16, n_heads=4, d_mlp=32))
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1, rank=16))
    with torch.no_grad():  # a decoder that edits and a switch that sometimes fires
        mc.hyper[2].weight.normal_(0, 0.3)
        mc.switch[2].weight.normal_(0, 0.5)
        mc.switch[2].bias.fill_(-0.3)
    save_model(root / "base", base, {"params": {"ant_env": ANT}})
    save_model(root / "metacontroller", mc, {"codes_by_subgoal": None})
    save_model(root / "policy", CodePolicy(PolicyConfig(d_model=16)))
    return root
