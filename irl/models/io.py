"""Model artifacts: safetensors weights + a JSON config; loaded without unpickling anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from irl.experts.ant_expert import AntExpertPolicy, ExpertNetConfig
from irl.io import atomic_directory
from irl.models.compile import CompILEConfig, CompILEControl
from irl.models.controllers import ControllerConfig, LinearControllers
from irl.models.hawk import HawkConfig, HawkModel
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.rl.policy import CodePolicy, PolicyConfig

WEIGHTS, CONFIG = "model.safetensors", "config.json"
KINDS: dict[str, tuple[type, type[nn.Module]]] = {
    "pinpad-transformer": (TransformerConfig, PinpadTransformer),
    "linear-controllers": (ControllerConfig, LinearControllers),
    "metacontroller": (MetacontrollerConfig, Metacontroller),
    "compile-control": (CompILEConfig, CompILEControl),
    "code-policy": (PolicyConfig, CodePolicy),
    "ant-expert": (ExpertNetConfig, AntExpertPolicy),
    "hawk": (HawkConfig, HawkModel),
}


def kind_of(model: nn.Module) -> str:
    for kind, (_, cls) in KINDS.items():
        if isinstance(model, cls):
            return kind
    raise TypeError(f"no artifact kind for {type(model).__name__}")


def save_model(path: str | Path, model: nn.Module, meta: dict[str, Any] | None = None) -> None:
    """Write `path/` = model.safetensors + config.json ({kind, config, meta}) atomically."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_directory(path) as tmp:
        save_file(state, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(
            {"kind": kind_of(model), "config": model.cfg.to_dict(), "meta": meta or {}}, indent=2, sort_keys=True) + "\n")


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, its config.json) from a directory written by save_model."""
    path = Path(path)
    if not (path / CONFIG).is_file() or not (path / WEIGHTS).is_file():
        raise FileNotFoundError(f"{path}: expected {CONFIG} and {WEIGHTS} (a model written by save_model)")
    spec = json.loads((path / CONFIG).read_text())
    if spec.get("kind") not in KINDS:
        raise ValueError(f"{path / CONFIG}: unknown kind {spec.get('kind')!r}; known: {sorted(KINDS)}")
    cfg_cls, model_cls = KINDS[spec["kind"]]
    model = model_cls(cfg_cls(**spec["config"]))
    model.load_state_dict(load_file(str(path / WEIGHTS)))
    return model.to(device).eval(), spec
