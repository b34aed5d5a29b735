"""Pretraining the ant's Hawk base model on D (DESIGN.md §1, §3):
−log N(a_t; μ(o_≤t), σ(o_≤t)) + λ · ½‖ô_t+1 − o_t+1‖², with the grid's training loop (AdamW,
schedule, resumable checkpoints) and, every `eval_every` steps, closed-loop success of the model
alone on fresh layouts and the mid-layer probe of the true subgoal (the target color).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from irl.data.dataset import PinpadDataset
from irl.envs.ant import AntConfig, AntPinpadEnv, episode_outcome
from irl.eval.probe import probe_by_layer
from irl.models.hawk import Edit, HawkConfig, HawkModel, gaussian_nll
from irl.training.batches import EpisodeBatches
from irl.training.loop import Logger, train_loop
from irl.training.pretrain import PretrainConfig, resolve_device

def hawk_losses(model: HawkModel, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """Mean Gaussian action NLL (summed over the torques) and next-observation ½·squared error."""
    out = model.forward_batch(batch)
    m = batch["mask"]
    action_nll = gaussian_nll(batch["action"][m], out["action_mean"][m], out["action_log_std"][m]).mean()
    next_obs = 0.5 * ((out["next_obs"][m] - batch["next_obs"][m]) ** 2).sum(-1).mean()
    return action_nll, next_obs


@torch.no_grad()
def ant_rollout(model: HawkModel, env_cfg: AntConfig, task_set: str, episodes: int, seed: int,
                sample: bool = True, num_envs: int = 32,
                controller: Callable[[np.ndarray], Edit] | None = None, edit_layer: int | None = None) -> dict[str, Any]:
    """Closed-loop success of the model, stepping `num_envs` ants in lockstep batches; with
    `controller`, the residual at `edit_layer` is edited by controller(subgoals) at every step,
    subgoals (n,) being each ant's current target color. The same seed gives the same layouts."""
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    outcomes: dict[str, int] = {}
    successes = 0
    done_eps = 0
    pool = [AntPinpadEnv(task=task_set, **env_cfg.to_dict()) for _ in range(min(num_envs, episodes))]
    while done_eps < episodes:
        n = min(num_envs, episodes - done_eps)
        envs = pool[:n]  # built once per call: each AntPinpadEnv compiles its MuJoCo model
        obs = np.stack([e.reset(seed=int(rng.integers(2**31)))[0] for e in envs])
        state = model.init_state(n, device)
        live = np.ones(n, dtype=bool)
        while live.any():
            edit = None
            if controller is not None:  # controllers edit (B, T, d); the step mode has (B, d)
                seq_edit = controller(np.array([e.task[min(e.progress, len(e.task) - 1)] for e in envs]))
                edit = lambda x, f=seq_edit: f(x[:, None])[:, 0]  # noqa: E731
            out = model.step(state, torch.as_tensor(obs, dtype=torch.float32, device=device), edit_layer, edit)
            a = out["action_mean"]
            if sample:
                a = a + out["action_log_std"].exp() * torch.randn(a.shape, generator=gen, device=device)
            actions = a.clamp(-1, 1).cpu().numpy()
            for i in np.flatnonzero(live):
                ob, _, term, trunc, info = envs[i].step(actions[i])
                obs[i] = ob
                if term or trunc:
                    live[i] = False
                    key = episode_outcome(info, term)
                    outcomes[key] = outcomes.get(key, 0) + 1
                    successes += bool(info["success"])
        done_eps += n
    for e in pool:
        e.close()
    return {"success": successes / episodes, "episodes": episodes, "outcomes": outcomes}


def _fingerprint(model_cfg: HawkConfig, cfg: PretrainConfig, data: PinpadDataset) -> str:
    train_keys = {k: v for k, v in asdict(cfg).items() if k not in ("device",)}
    blob = json.dumps({"model": model_cfg.to_dict(), "train": train_keys,
                       "data": {k: v["sha256"] for k, v in data.manifest["arrays"].items()}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def pretrain_ant(model_cfg: HawkConfig, cfg: PretrainConfig, data: PinpadDataset, heldout: PinpadDataset,
                 env_cfg: AntConfig, workdir: Path, log: Logger | None = None,
                 progress: bool = False) -> tuple[HawkModel, dict[str, Any]]:
    """Train (or resume) the Hawk base model; return it with final metrics and the eval history."""
    if cfg.action_target != "executed":
        raise ValueError("pretrain_ant: action_target must be 'executed' (the ant has no optimal-move table)")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = HawkModel(model_cfg).to(device)
    batches = EpisodeBatches(data, cfg.batch_size, cfg.seed, device)
    probe_batches = EpisodeBatches(heldout, 64, cfg.seed, device)
    n_classes = env_cfg.n_colors

    def loss_fn(m: nn.Module, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        action_nll, next_obs = hawk_losses(m, batch)  # type: ignore[arg-type]
        return action_nll + cfg.lambda_next_obs * next_obs, {"action_nll": action_nll, "next_obs_mse": next_obs}

    def evaluate(state: dict[str, Any]) -> dict[str, float]:
        success = ant_rollout(model, env_cfg, "pretrain", cfg.eval_episodes, seed=cfg.seed + 17 + state["step"])["success"]
        probe = probe_by_layer(model, probe_batches, cfg.probe_episodes, seed=cfg.seed, n_classes=n_classes,
                               layers=[model_cfg.mid_layer])[0]
        return {"rollout_success": success, "probe_mid_layer": probe}

    state = train_loop(model, cfg, batches, loss_fn, evaluate, workdir, _fingerprint(model_cfg, cfg, data), device,
                       log=log, progress=progress, desc="pretrain ant")
    final_roll = ant_rollout(model, env_cfg, "pretrain", cfg.final_eval_episodes, seed=cfg.seed + 99991)
    with torch.no_grad():
        rng = np.random.default_rng(cfg.seed)
        eps = rng.permutation(heldout.num_episodes)[:256]
        nll, n = 0.0, 0
        for s in range(0, len(eps), 64):
            b = probe_batches.gather(eps[s : s + 64])
            a_nll, _ = hawk_losses(model, b)
            k = int(b["mask"].sum())
            nll, n = nll + float(a_nll) * k, n + k
    final = {"rollout_success": final_roll["success"], "rollout_episodes": cfg.final_eval_episodes,
             "rollout_outcomes": final_roll["outcomes"], "action_nll_heldout": nll / max(n, 1),
             "tokens": state["tokens"], "train_s": state["train_s"],
             "tokens_per_s": state["tokens"] / max(state["train_s"], 1e-9), "steps": state["step"],
             "resumed_from_step": state["resumed_from_step"], "history": state["history"]}
    return model, final
