"""What the ant-base diagnostics share: the default profile's model_ant / pretrain_ant with
KEY=VALUE overrides, the ant datasets, and the pretraining loss terms from one forward pass."""
from dataclasses import fields

import torch
import yaml

from irl.config import build, load_profile
from irl.data.dataset import PinpadDataset, load_dataset
from irl.models.hawk import HawkConfig, gaussian_nll
from irl.training.pretrain import PretrainConfig


def parse_overrides(args: list[str]) -> dict:
    return {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in args)}


def ant_base_setup(overrides: dict, target_input: bool = False) -> tuple[dict, PinpadDataset, PinpadDataset, HawkConfig, PretrainConfig]:
    """(profile, D, D*, model config, training config); an override naming a HawkConfig field goes
    to the model, any other to pretrain_ant; `target_input` widens the model's input by a one-hot
    of the target color (the privileged diagnostic, not the method)."""
    _, prof = load_profile("params.yaml", "default")
    data, heldout = load_dataset("data/ant/D"), load_dataset("data/ant/D_star")
    model_keys = {f.name for f in fields(HawkConfig)}
    model_cfg = build(HawkConfig, {**prof["model_ant"], "obs_dim": heldout["obs"].shape[1] + target_input * heldout["layout_colors"].shape[1],
                                   **{k: v for k, v in overrides.items() if k in model_keys}}, "model_ant")
    cfg = build(PretrainConfig, {**prof["pretrain_ant"], **{k: v for k, v in overrides.items() if k not in model_keys}},
                "pretrain_ant")
    return prof, data, heldout, model_cfg, cfg


def pretraining_terms(out: dict, batch: dict, nll_beta: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """pretrain_ant's two loss terms (irl.training.pretrain_ant.hawk_losses) from a forward already
    run: mean torque NLL — each torque's weighted by the detached σ^(2·nll_beta) (β-NLL; 0 = plain) —
    and the next-observation ½·squared error over the observation's own width."""
    m = batch["mask"]
    log_std = out["action_log_std"][m]
    per_torque = gaussian_nll(batch["action"][m][..., None], out["action_mean"][m][..., None], log_std[..., None])
    action_nll = (per_torque * torch.exp(2 * nll_beta * log_std.detach())).sum(-1).mean()
    target = batch["next_obs"][m]
    next_obs = 0.5 * ((out["next_obs"][m][:, : target.shape[-1]] - target) ** 2).sum(-1).mean()
    return action_nll, next_obs
