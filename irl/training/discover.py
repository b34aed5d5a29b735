"""Controller discovery: train the metacontroller on D* through the frozen base model (DESIGN.md §1
stage 3). Loss = −log p(a_t | o_≤t, z_t) + α·KL(N(μ_t, Σ_t) ‖ N(0, I)), averaged over real steps.

`co_train=True` unfreezes the base model (the paper's ablation: the abstraction collapses).
Checkpoints and resume work as in pretraining (irl.training.checkpoint): same config and data →
the same batches, the same curve.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from irl.data.dataset import PinpadDataset
from irl.eval.switching import switch_alignment
from irl.models.compile import CompILEControl
from irl.models.hawk import HawkModel
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig, sequence_edit
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches
from irl.training.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint
from irl.training.pretrain import resolve_device
from irl.training.seeding import seeded

Logger = Callable[[int, dict[str, float]], None]
BaseModel = PinpadTransformer | HawkModel  # the grid's Transformer or the ant's Hawk


@dataclass(frozen=True)
class DiscoverConfig:
    """The paper (grid): 64k steps × 512, lr 1e-3, wd 0.03; α swept in {0, …, 1}. `rank` of the
    decoded controllers: 16 in the grid, "full" (= d_model) in the ant."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.03
    alpha: float = 0.1
    co_train: bool = False
    base_lr: float = 3e-4
    switch: str = "learned"
    rate: str = "step"  # "switch": the KL weighted by β_t (irl.models.metacontroller.RATE_MODES)
    switch_noise: float = 0.0  # logistic noise on the switch logit in training (MetacontrollerConfig)
    # the step from which switch_noise applies: a curriculum that lets the soft gate align with the
    # subgoals first, then makes it binary (0: from the start)
    switch_noise_from: int = 0
    # a second curriculum: from step late_alpha_from on the KL weight is late_alpha (None: alpha
    # throughout) — a rate that, once the codes pay, prices out the switches the subgoals do not need
    late_alpha: float | None = None
    late_alpha_from: int = 0
    # a price per switch (nats, t >= 1; β summed over an episode's steps, per step like the NLL) from
    # step switch_cost_from on: the objective alone leaves a switch to an uninformative code free
    switch_cost: float = 0.0
    switch_cost_from: int = 0
    hard_switch: bool = False  # integrate with 1[β > 0.5], gradient straight through (MetacontrollerConfig)
    code: str = "gaussian"  # or "categorical": n_z discrete codes (MetacontrollerConfig)
    rank: int | str = 16
    # label-free selection among seeds (irl/training/select.py): seeds seed … seed + candidates − 1
    # train to select_at steps (0: to the end); the one whose codes pay earliest after their switch,
    # on select_episodes of its training episodes, goes on
    candidates: int = 1
    select_at: int = 0
    select_episodes: int = 500
    heldout_episodes: int = 1000
    steering_episodes: int = 256
    checkpoint_every: int = 250
    log_every: int = 25
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every", "heldout_episodes", "candidates",
                     "select_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.select_at < 0:
            raise ValueError(f"select_at={self.select_at}: must be >= 0 (0: select at the last step)")
        if self.switch_noise_from < 0:
            raise ValueError(f"switch_noise_from={self.switch_noise_from}: must be >= 0")
        if self.alpha < 0:
            raise ValueError(f"alpha={self.alpha}: must be >= 0")
        if self.late_alpha is not None and self.late_alpha < 0:
            raise ValueError(f"late_alpha={self.late_alpha}: must be >= 0 (or null: alpha throughout)")
        if self.late_alpha_from < 0:
            raise ValueError(f"late_alpha_from={self.late_alpha_from}: must be >= 0")
        if self.switch_cost < 0 or self.switch_cost_from < 0:
            raise ValueError(f"switch_cost={self.switch_cost}, switch_cost_from={self.switch_cost_from}: must be >= 0")
        if self.rank != "full" and not (isinstance(self.rank, int) and self.rank >= 1):
            raise ValueError(f"rank={self.rank!r}: expected an integer >= 1 or 'full'")

    def alpha_at(self, step: int) -> float:
        """The KL weight of training step `step` (0-based)."""
        return self.late_alpha if self.late_alpha is not None and step >= self.late_alpha_from else self.alpha

    def selection_step(self) -> int:
        """The step at which candidate seeds are compared: select_at, at most steps (0: steps)."""
        return min(self.select_at, self.steps) if self.select_at else self.steps

    def controller_rank(self, d_model: int) -> int:
        """A·Bᵀ with A, B of shape (d, d) spans every d×d matrix: "full" is rank d."""
        return d_model if self.rank == "full" else int(self.rank)


@dataclass(frozen=True)
class RateDistortionConfig:
    """The α sweep of paper Fig. 7: each (α, mode) is one discovery run of `steps` steps; the rest
    of the training config comes from `discover_grid`. Modes: `frozen` base, `co_trained` base."""

    alphas: tuple[float, ...] = (0.0, 0.05, 0.1, 0.17, 0.3, 0.5, 1.0)
    modes: tuple[str, ...] = ("frozen", "co_trained")
    steps: int = 500
    workers: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "alphas", tuple(float(a) for a in self.alphas))
        object.__setattr__(self, "modes", tuple(self.modes))
        bad = sorted(set(self.modes) - {"frozen", "co_trained"})
        if bad:
            raise ValueError(f"modes: unknown {bad}; expected 'frozen' and/or 'co_trained'")
        if not self.alphas or min(self.alphas) < 0:
            raise ValueError(f"alphas={list(self.alphas)}: need at least one, all >= 0")
        if self.steps < 1 or self.workers < 1:
            raise ValueError(f"steps={self.steps}, workers={self.workers}: must be >= 1")


def split_episodes(data: PinpadDataset, heldout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) episode indices of D*, split by episode."""
    if heldout >= data.num_episodes:
        raise ValueError(f"heldout_episodes={heldout}: D* has only {data.num_episodes} episodes")
    perm = np.random.default_rng([seed, 4242]).permutation(data.num_episodes)
    return np.sort(perm[heldout:]), np.sort(perm[:heldout])


def discovery_losses(base: BaseModel, mc: Metacontroller | CompILEControl, batch: dict[str, torch.Tensor],
                     sample: bool = True, generator: torch.Generator | None = None,
                     switch_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """(action NLL, KL per step) over real steps, and the controller model's outputs.

    One base forward: the edit at layer l runs the metacontroller (or CompILE) on the residual it
    receives; the model says how its KL term is counted (`rate`).
    """
    m = batch["mask"]
    held: dict[str, torch.Tensor] = {}
    # the metacontroller's switch noise can be held off (a curriculum's first phase)
    edit = sequence_edit(mc, m, held, sample=sample, generator=generator, switch_noise=switch_noise)
    nll = base.action_nll(batch, edit_layer=mc.cfg.layer, edit=edit)  # the base model's own action loss
    return nll, mc.rate(held, m), held


def switch_rate(beta: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Σ β_t over real steps t ≥ 1, per real step (the t = 0 code is every run's)."""
    return (beta[:, 1:] * mask[:, 1:]).sum() / mask.sum()


@torch.no_grad()
def evaluate_discovery(base: BaseModel, mc: Metacontroller, batches: EpisodeBatches,
                       episodes: np.ndarray, chunk: int = 256) -> dict[str, Any]:
    """Held-out NLL, KL, switch alignment (β from the mean code, no sampling) and β traces."""
    nll_sum = kl_sum = 0.0
    n_steps = 0
    betas: list[np.ndarray] = []
    subgoals: list[np.ndarray] = []
    for start in range(0, len(episodes), chunk):
        b = batches.gather(episodes[start : start + chunk])
        nll, kl, out = discovery_losses(base, mc, b, sample=False)
        steps = int(b["mask"].sum())
        nll_sum += float(nll) * steps
        kl_sum += float(kl) * steps
        n_steps += steps
        lengths = b["mask"].sum(1).cpu().numpy()
        beta, sub = out["beta"].cpu().numpy(), b["subgoal"].cpu().numpy()
        for i, n in enumerate(lengths):
            betas.append(beta[i, :n])
            subgoals.append(sub[i, :n])
    return {"nll": nll_sum / n_steps, "kl": kl_sum / n_steps, **switch_alignment(betas, subgoals),
            "traces": [{"beta": betas[i].round(4).tolist(), "subgoal": subgoals[i].tolist()} for i in range(min(8, len(betas)))]}


# Fields that do not change the training trajectory: a run may be extended (more steps) or
# re-scored from its checkpoint.
_NOT_TRAINING = ("device", "steps", "checkpoint_every", "log_every", "steering_episodes", "candidates", "select_at",
                 "select_episodes")
# Options added after runs were checkpointed: left out of the fingerprint at their default, so
# those runs keep theirs and resume.
_ADDED_LATER = {"hard_switch": False, "switch_noise_from": 0, "code": "gaussian", "late_alpha": None,
                "late_alpha_from": 0, "switch_cost": 0.0, "switch_cost_from": 0}


def effective_config(cfg: DiscoverConfig) -> DiscoverConfig:
    """The training a run actually does: a curriculum phase (switch noise, late α, switch cost) that
    starts at or after its last step never applies, so the run is (and resumes, and is
    fingerprinted as) the run without it."""
    for active, start, strip in _curricula(cfg):
        if active and start >= cfg.steps:
            cfg = strip(cfg)
    return cfg


def _curricula(cfg: DiscoverConfig) -> list[tuple[bool, int, Callable[[DiscoverConfig], DiscoverConfig]]]:
    """(in use, first step, the config without it) for each option that changes training only
    from a given step on: before it, the run is the one without the option, bit for bit."""
    return [(cfg.switch_noise > 0, cfg.switch_noise_from, lambda c: replace(c, switch_noise=0.0, switch_noise_from=0)),
            (cfg.late_alpha is not None, cfg.late_alpha_from, lambda c: replace(c, late_alpha=None, late_alpha_from=0)),
            (cfg.switch_cost > 0, cfg.switch_cost_from, lambda c: replace(c, switch_cost=0.0, switch_cost_from=0))]


def metacontroller_config(base: BaseModel, cfg: DiscoverConfig) -> MetacontrollerConfig:
    """The metacontroller a discovery run trains on this base (at layer L/2)."""
    return MetacontrollerConfig(d_model=base.cfg.d_model, layer=base.cfg.mid_layer, switch=cfg.switch,
                                rank=cfg.controller_rank(base.cfg.d_model), rate=cfg.rate,
                                switch_noise=cfg.switch_noise, hard_switch=cfg.hard_switch, code=cfg.code)


def _first_phase(workdir: Path, base: BaseModel, cfg: DiscoverConfig, data: PinpadDataset) -> Path | None:
    """A curriculum's first steps are the run without it, bit for bit (no switch noise is drawn
    before `switch_noise_from`; α and the switch cost are the same before theirs). The checkpoint of
    such a run, if it has not gone past the step where the two part, starts this one (the furthest)."""
    phases = [(start, strip) for active, start, strip in _curricula(cfg) if active and start > 0]
    best: tuple[int, Path] | None = None
    for subset in itertools.chain.from_iterable(itertools.combinations(phases, k) for k in range(1, len(phases) + 1)):
        run = cfg
        for _, strip in subset:
            run = strip(run)
        path = checkpoint_dir(workdir, _fingerprint(base, metacontroller_config(base, run), run, data))
        state = path / "state.json"
        if state.is_file() and (step := int(json.loads(state.read_text())["step"])) <= min(s for s, _ in subset):
            if best is None or step > best[0]:
                best = (step, path)
    return best[1] if best else None


def _fingerprint(base: BaseModel, mcfg: MetacontrollerConfig, cfg: DiscoverConfig, data: PinpadDataset) -> str:
    digest = hashlib.sha256()
    for k, v in sorted(base.state_dict().items()):
        digest.update(k.encode())
        digest.update(v.detach().cpu().float().numpy().tobytes())
    train = {k: v for k, v in asdict(cfg).items()
             if k not in _NOT_TRAINING and not (k in _ADDED_LATER and v == _ADDED_LATER[k])}
    blob = json.dumps({"mc": mcfg.to_dict(), "train": train,
                       "data": {k: v["sha256"] for k, v in data.manifest["arrays"].items()},
                       "base": digest.hexdigest()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def discover(base: BaseModel, data: PinpadDataset, cfg: DiscoverConfig, workdir: Path | None = None,
             log: Logger | None = None, progress: bool = False) -> tuple[Metacontroller, BaseModel, dict[str, Any]]:
    """Train (or resume) a metacontroller on D*; returns it, the base (changed only if co-trained)
    and held-out metrics."""
    mc, base, state = train_metacontroller(base, data, cfg, workdir, log, progress)
    _, held_eps = split_episodes(data, cfg.heldout_episodes, cfg.seed)
    device = next(mc.parameters()).device
    heldout = evaluate_discovery(base, mc, EpisodeBatches(data, 256, cfg.seed, device), held_eps)
    return mc, base, {**heldout, "train_s": state["train_s"], "steps": state["step"],
                      "resumed_from_step": state["resumed_from_step"], "alpha": cfg.alpha,
                      **({"late_alpha": cfg.late_alpha, "late_alpha_from": cfg.late_alpha_from}
                         if cfg.late_alpha is not None else {}),
                      **({"switch_cost": cfg.switch_cost, "switch_cost_from": cfg.switch_cost_from}
                         if cfg.switch_cost > 0 else {}),
                      "co_train": cfg.co_train, "switch": cfg.switch}


def train_metacontroller(base: BaseModel, data: PinpadDataset, cfg: DiscoverConfig, workdir: Path | None = None,
                         log: Logger | None = None, progress: bool = False) -> tuple[Metacontroller, BaseModel, dict[str, Any]]:
    """Train (or resume) a metacontroller on D*'s training episodes to `cfg.steps`; returns it (in
    eval mode), the base, and the training state (step, train_s, resumed_from_step)."""
    device = resolve_device(cfg.device)
    base = base.to(device)
    cfg = effective_config(cfg)
    mcfg = metacontroller_config(base, cfg)
    fingerprint = _fingerprint(base, mcfg, cfg, data)
    with seeded(cfg.seed):  # α points and baselines train in parallel threads (irl/training/seeding.py)
        mc = Metacontroller(mcfg).to(device)
    for p in base.parameters():
        p.requires_grad_(cfg.co_train)
    groups = [{"params": list(mc.parameters()), "lr": cfg.lr}]
    if cfg.co_train:
        groups.append({"params": list(base.parameters()), "lr": cfg.base_lr})
    opt = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    train_eps, _ = split_episodes(data, cfg.heldout_episodes, cfg.seed)
    batches = EpisodeBatches(data, cfg.batch_size, cfg.seed, device, episodes=train_eps)
    # Checkpoints hold both modules (the base changes when co-trained).
    both = nn.ModuleDict({"metacontroller": mc, "base": base})
    state: dict[str, Any] = {"step": 0, "epoch": 0, "index": 0, "train_s": 0.0}
    ckpt = checkpoint_dir(workdir, fingerprint) if workdir is not None else None
    if ckpt is not None and (ckpt / "state.json").is_file():
        state = load_checkpoint(ckpt, both, opt, device)
    elif ckpt is not None and (first := _first_phase(workdir, base, cfg, data)) is not None:
        state = load_checkpoint(first, both, opt, device)  # read only: this run checkpoints to its own
    state["fingerprint"] = fingerprint
    resumed_from = int(state["step"])  # 0: trained here from scratch
    log = log or (lambda step, metrics: None)
    gen = torch.Generator(device="cpu")
    base.train(cfg.co_train)
    bar = tqdm(total=cfg.steps, initial=state["step"], desc=f"discover α={cfg.alpha}", disable=not progress)
    while state["step"] < cfg.steps:
        t0 = time.perf_counter()
        gen.manual_seed(cfg.seed * 1_000_003 + state["step"])  # resumed runs draw the same noise
        batch = batches.batch(state["epoch"], state["index"])
        nll, kl, held = discovery_losses(base, mc, batch, generator=gen, switch_noise=state["step"] >= cfg.switch_noise_from)
        loss = nll + cfg.alpha_at(state["step"]) * kl
        if cfg.switch_cost > 0 and state["step"] >= cfg.switch_cost_from:
            loss = loss + cfg.switch_cost * switch_rate(held["beta"], batch["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["train_s"] += time.perf_counter() - t0
        state["step"] += 1
        state["index"] += 1
        if state["index"] >= batches.batches_per_epoch:
            state["epoch"], state["index"] = state["epoch"] + 1, 0
        bar.update(1)
        if state["step"] % cfg.log_every == 0:
            bar.set_postfix(nll=f"{nll.item():.3f}", kl=f"{kl.item():.2f}")
            log(state["step"], {"losses/action_nll": nll.item(), "losses/kl": kl.item(), "losses/total": loss.item(),
                                "losses/switch_rate": switch_rate(held["beta"], batch["mask"]).item()})
        if ckpt is not None and (state["step"] % cfg.checkpoint_every == 0 or state["step"] == cfg.steps):
            save_checkpoint(ckpt, both, opt, state)
    bar.close()
    base.eval()
    mc.eval()
    return mc, base, {**state, "resumed_from_step": resumed_from}
