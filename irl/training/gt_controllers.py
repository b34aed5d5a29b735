"""Ground-truth controllers: one linear controller per subgoal, trained on D* with the base frozen
and the controller chosen by the true subgoal at every step; evaluated by steering the base model
through the post-training task with the true subgoal switching controllers (paper Fig. 4).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.eval.rollout import rollout
from irl.models.controllers import ControllerConfig, LinearControllers
from irl.models.hawk import HawkModel
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches

if TYPE_CHECKING:  # the ant's env loads MuJoCo; only its rollouts need it
    from irl.envs.ant import AntConfig


@dataclass(frozen=True)
class GTControllerConfig:
    """One controller set per (layer, rank); the paper: 3.2k steps × 512, lr 1e-3, wd 0.03."""

    layers: tuple[int, ...] = (2,)
    ranks: tuple[int | None, ...] = (16, None)
    steps: int = 500
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.03
    eval_episodes: int = 500
    seed: int = 0
    # γ in the fitting loss CE(logits_controlled − (1 − γ)·logits_base, a*): 1 is the paper's plain
    # action NLL; below 1 the base model's own (history-driven) preference is partly taken out, so
    # the controller must carry the subgoal itself instead of tipping the base among the candidates
    # it already expects (README "Finding the regime"). Discrete actions (the grid) only.
    prior_weight: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.prior_weight <= 1.0:
            raise ValueError(f"prior_weight={self.prior_weight}: expected a value in [0, 1]")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "ranks", tuple(None if r in (None, "full", 0) else int(r) for r in self.ranks))


def train_controllers(base: PinpadTransformer | HawkModel, data: PinpadDataset, ccfg: ControllerConfig, cfg: GTControllerConfig) -> tuple[LinearControllers, dict[str, float]]:
    """Fit U_g on D* with the base frozen; returns the controllers and the action-NLL before/after."""
    device = next(base.parameters()).device
    for p in base.parameters():
        p.requires_grad_(False)
    torch.manual_seed(cfg.seed)
    ctrl = LinearControllers(ccfg).to(device)
    opt = torch.optim.AdamW(ctrl.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = EpisodeBatches(data, cfg.batch_size, cfg.seed, device)

    if cfg.prior_weight != 1.0 and not isinstance(base, PinpadTransformer):
        raise ValueError("prior_weight < 1 needs a discrete-action base model (the grid's Transformer)")

    def nll(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The plain action NLL of the controlled base (reported before/after)."""
        return base.action_nll(batch, edit_layer=ccfg.layer, edit=ctrl.edit(batch["subgoal"].clamp(min=0)))

    def loss_fn(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if cfg.prior_weight == 1.0:
            return nll(batch)
        m = batch["mask"]
        edit = ctrl.edit(batch["subgoal"].clamp(min=0))
        logits = base.forward_batch(batch, edit_layer=ccfg.layer, edit=edit)["action_logits"][m]
        with torch.no_grad():
            prior = base.forward_batch(batch)["action_logits"][m]
        return F.cross_entropy(logits - (1.0 - cfg.prior_weight) * prior, batch["action"][m])

    with torch.no_grad():
        first = float(nll(batches.batch(0, 0)))
    epoch, index, t0 = 0, 0, time.perf_counter()
    for _ in range(cfg.steps):
        loss = loss_fn(batches.batch(epoch, index))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        index += 1
        if index >= batches.batches_per_epoch:
            epoch, index = epoch + 1, 0
    with torch.no_grad():
        last = float(nll(batches.batch(0, 0)))
    return ctrl, {"nll_before": first, "nll_after": last, "train_s": time.perf_counter() - t0}


def steered_success(base: PinpadTransformer | HawkModel, ctrl: LinearControllers | None, env_cfg: GridConfig | AntConfig,
                    task_set: TaskSet, episodes: int, seed: int) -> float:
    """Success on `task_set` with controllers switched by the true subgoal (None: uncontrolled).

    The same seed gives the same layouts, so controlled and uncontrolled runs compare like for like.
    """
    device = next(base.parameters()).device
    if isinstance(base, HawkModel):  # the ant: MuJoCo rollouts, one color per subgoal
        from irl.training.pretrain_ant import ant_rollout

        def by_target(subgoals: np.ndarray):
            return ctrl.edit(torch.from_numpy(subgoals).to(device))

        return ant_rollout(base, env_cfg, task_set.name, episodes, seed, controller=None if ctrl is None else by_target,
                           edit_layer=None if ctrl is None else ctrl.cfg.layer)["success"]
    env = GridPinpadBatch(env_cfg, task_set, episodes, seed=seed)
    env.reset()
    if ctrl is None:
        return rollout(base, env, seed=seed).success_rate

    def controller(e: GridPinpadBatch):
        return ctrl.edit(torch.from_numpy(np.maximum(e.subgoal, 0)).to(device))

    return rollout(base, env, controller=controller, edit_layer=ctrl.cfg.layer, seed=seed).success_rate
