"""Training checkpoints: weights, optimizer state and a JSON state, written atomically.

Everything is safetensors + JSON (no pickle): a directory `checkpoint-<fingerprint>/` holds
model.safetensors, optimizer.safetensors and state.json, and is replaced as a whole, so a kill
never leaves half of one. The fingerprint hashes what decides the training trajectory (config,
data, starting weights): a run resumes only its own checkpoint, and a run with other parameters
starts afresh beside it without touching it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from irl.io import atomic_directory


def save_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    opt_state = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in opt_state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    with atomic_directory(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / "model.safetensors"))
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        (tmp / "state.json").write_text(json.dumps({**state, "optimizer_scalars": scalars,
                                                     "param_groups": opt_state["param_groups"]}, indent=1))


def load_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device) -> dict[str, Any]:
    state = json.loads((path / "state.json").read_text())
    model.load_state_dict(load_file(str(path / "model.safetensors"), device=str(device)))
    tensors = load_file(str(path / "optimizer.safetensors"), device=str(device))
    opt_state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        pid, name = key.split(".", 1)
        opt_state.setdefault(int(pid), {})[name] = v
    for key, v in state.pop("optimizer_scalars").items():
        pid, name = key.split(".", 1)
        opt_state.setdefault(int(pid), {})[name] = v
    opt.load_state_dict({"state": opt_state, "param_groups": state.pop("param_groups")})
    return state


def checkpoint_dir(workdir: Path, fingerprint: str) -> Path:
    """Where the run with this fingerprint keeps its checkpoint."""
    return Path(workdir) / f"checkpoint-{fingerprint}"
