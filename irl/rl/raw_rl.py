"""Baseline: RL finetuning of the base model on its action tokens (DESIGN.md §1 stage 4).

The same optimiser as internal RL — PPO-clip without a critic, one return per episode, batch-
normalised advantages — but the policy is the whole base model and every low-level action is a
decision: a grid move (the Transformer's categorical head) or an ant's torques (the Hawk's
Gaussian head; the sampled torques are scored, their clip to [−1, 1] is executed). Rollouts are
batched with the model's step mode; the update replays the episodes in one parallel forward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from irl.envs.ant import AntConfig
from irl.envs.ant_batch import AntPinpadBatch
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.models.hawk import HawkModel, gaussian_nll
from irl.models.transformer import PinpadTransformer
from irl.rl.ppo import batch_advantages, ppo_clip_loss

Logger = Callable[[int, dict[str, float]], None]
BaseModel = PinpadTransformer | HawkModel


@dataclass(frozen=True)
class RawRLConfig:
    episodes: int = 200_000
    batch_episodes: int = 512
    lr: float = 3e-5
    update_epochs: int = 4
    clip: float = 0.2
    eval_episodes: int = 1024
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def sample_episodes(model: PinpadTransformer, env: GridPinpadBatch, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Roll the model out on `env` (reset here); positions, actions, log-probs, live mask, returns."""
    device = next(model.parameters()).device
    env.reset()
    cache = model.init_cache(torch.from_numpy(env.colors).to(device), torch.from_numpy(env.walls).to(device), env.config.horizon)
    pos, acts, logps, live = [], [], [], []
    returns = np.zeros(env.num_envs, dtype=np.float32)
    for _ in range(env.config.horizon):
        if env.done.all():
            break
        p = torch.from_numpy(env.pos.copy())
        logits = model.step(cache, p.to(device))["action_logits"].float().cpu()
        logp_all = torch.log_softmax(logits, -1)
        a = torch.multinomial(logp_all.exp(), 1, generator=gen)[:, 0]
        live.append(torch.from_numpy(~env.done))
        pos.append(p)
        acts.append(a)
        logps.append(logp_all.gather(1, a[:, None])[:, 0])
        r, _, _ = env.step(a.numpy())
        returns += r
    return {"pos": torch.stack(pos, 1), "action": torch.stack(acts, 1), "logp": torch.stack(logps, 1),
            "mask": torch.stack(live, 1), "returns": torch.from_numpy(returns),
            "colors": torch.from_numpy(env.colors.copy()), "walls": torch.from_numpy(env.walls.copy())}


@torch.no_grad()
def sample_ant_episodes(model: HawkModel, env: AntPinpadBatch, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Roll the Hawk out on `env` (reset here); observations, sampled torques, log-probs, live mask, returns."""
    device = next(model.parameters()).device
    obs_np = env.reset()
    state = model.init_state(env.num_envs, device)
    obs, acts, logps, live = [], [], [], []
    returns = np.zeros(env.num_envs, dtype=np.float32)
    while not env.done.all():
        o = torch.as_tensor(obs_np.copy(), dtype=torch.float32)
        out = model.step(state, o.to(device))
        mean, log_std = out["action_mean"].float().cpu(), out["action_log_std"].float().cpu()
        a = mean + log_std.exp() * torch.randn(mean.shape, generator=gen)
        live.append(torch.from_numpy(~env.done))
        obs.append(o)
        acts.append(a)
        logps.append(-gaussian_nll(a, mean, log_std))
        r, _, _ = env.step(a.clamp(-1.0, 1.0).numpy())
        obs_np = env.obs
        returns += r
    return {"obs": torch.stack(obs, 1), "action": torch.stack(acts, 1), "logp": torch.stack(logps, 1),
            "mask": torch.stack(live, 1), "returns": torch.from_numpy(returns)}


def _episodes(model: BaseModel, env: GridPinpadBatch | AntPinpadBatch, gen: torch.Generator) -> dict[str, torch.Tensor]:
    if isinstance(env, AntPinpadBatch):
        return sample_ant_episodes(model, env, gen)  # type: ignore[arg-type]
    return sample_episodes(model, env, gen)  # type: ignore[arg-type]


def _replay_logp(model: BaseModel, ro: dict[str, torch.Tensor]) -> torch.Tensor:
    """(N, T) log-probability of the recorded actions under the current weights, one parallel pass."""
    if isinstance(model, HawkModel):
        out = model(ro["obs"])
        return -gaussian_nll(ro["action"], out["action_mean"].float(), out["action_log_std"].float())
    logits = model(ro["colors"], ro["walls"], ro["pos"])["action_logits"].float()
    return torch.log_softmax(logits, -1).gather(2, ro["action"][..., None])[..., 0]


def _make_env(env_cfg: GridConfig | AntConfig, task_set: TaskSet | str, n: int, seed: int) -> GridPinpadBatch | AntPinpadBatch:
    if isinstance(env_cfg, AntConfig):
        return AntPinpadBatch(env_cfg, str(task_set), n, seed=seed)
    return GridPinpadBatch(env_cfg, task_set, n, seed=seed)


def train_raw_rl(base: BaseModel, env_cfg: GridConfig | AntConfig, task_set: TaskSet | str, cfg: RawRLConfig,
                 log: Logger | None = None) -> tuple[BaseModel, dict[str, Any]]:
    """PPO on action tokens of (a copy of) the base model until the episode budget is spent."""
    log = log or (lambda step, metrics: None)
    torch.manual_seed(cfg.seed)
    device = next(base.parameters()).device
    model = base
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    env = _make_env(env_cfg, task_set, cfg.batch_episodes, cfg.seed)
    curve: list[dict[str, float]] = []
    episodes, t_start, iteration = 0, time.perf_counter(), 0
    while episodes + cfg.batch_episodes <= cfg.episodes:
        t0 = time.perf_counter()
        model.eval()
        ro = {k: v.to(device) for k, v in _episodes(model, env, gen).items()}
        adv = batch_advantages(ro["returns"])
        stats: dict[str, float] = {}
        if float(ro["returns"].std()) > 0:
            model.train()
            for _ in range(cfg.update_epochs):
                logp = _replay_logp(model, ro)
                # ppo_clip_loss takes (K, N) decisions: here K = time steps
                loss, stats = ppo_clip_loss(logp.T, ro["logp"].T, adv, ro["mask"].T, cfg.clip)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            stats["losses/policy_loss"] = float(loss.detach())
        episodes += cfg.batch_episodes
        iteration += 1
        rate = float(ro["returns"].mean())
        curve.append({"episodes": episodes, "success_rate": rate, "wall_s": time.perf_counter() - t_start})
        log(iteration, {"charts/success_rate": rate, "charts/episodes": episodes,
                        "perf/episodes_per_s": cfg.batch_episodes / (time.perf_counter() - t0), **stats})
    model.eval()
    eval_env = _make_env(env_cfg, task_set, cfg.eval_episodes, cfg.seed + 10_007)
    final = float(_episodes(model, eval_env, torch.Generator(device="cpu").manual_seed(cfg.seed + 1))["returns"].mean())
    wall = time.perf_counter() - t_start
    return model, {"final_success": final, "curve": curve, "episodes": episodes, "wall_s": wall,
                   "episodes_per_s": episodes / max(wall, 1e-9)}


@torch.no_grad()
def random_base_success(base: PinpadTransformer, env_cfg: GridConfig, task_set: TaskSet, episodes: int,
                        batch: int = 4096, seed: int = 0) -> dict[str, float]:
    """Success of the untouched base model sampling actions on the task (the paper: ~1 in 10⁶)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    wins, done = 0, 0
    while done < episodes:
        n = min(batch, episodes - done)
        env = GridPinpadBatch(env_cfg, task_set, n, seed=seed + done)
        wins += int(sample_episodes(base, env, gen)["returns"].sum())
        done += n
    return {"random_base_success": wins / episodes, "random_base_wins": wins, "random_base_episodes": episodes}


@dataclass(frozen=True)
class BaselinesConfig:
    """The baselines of DESIGN.md §1 stage 4 at internal RL's episode budget and seeds.

    methods: raw_action (PPO on action tokens), beta_always (internal RL with a β ≡ 1
    metacontroller), co_trained (internal RL with a metacontroller co-trained with the base model),
    compile (internal RL on CompILE's codes, irl.models.compile). `discover_steps`: training of
    the extra metacontrollers and of CompILE (the rest as `discover_grid`).
    """

    methods: tuple[str, ...] = ("raw_action", "beta_always", "co_trained", "compile")
    raw_lr: float = 3e-5
    discover_steps: int = 1000
    random_episodes: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(self.methods))
        bad = sorted(set(self.methods) - set(BASELINES))
        if bad:
            raise ValueError(f"methods: unknown {bad}; expected some of {list(BASELINES)}")
        if self.discover_steps < 1 or self.random_episodes < 1:
            raise ValueError("discover_steps and random_episodes must be >= 1")


BASELINES = ("raw_action", "beta_always", "co_trained", "compile")
