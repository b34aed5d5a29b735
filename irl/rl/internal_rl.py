"""Internal RL (DESIGN.md §1 stage 4): PPO-clip, no critic, on the metacontroller's codes z.

One iteration: `batch_episodes` fresh layouts of the task in the abstract-action environment, the
policy emits a code at every decision point (β > 0.5), the episode's reward is 1 only if the
whole task is completed; then `update_epochs` PPO-clip passes over the batch. Logged as CleanRL
does: charts/success_rate, charts/episodes, perf/episodes_per_s, losses/*.
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
from irl.models.hawk import HawkModel
from irl.models.metacontroller import Metacontroller
from irl.models.transformer import PinpadTransformer
from irl.rl.abstract_env import AbstractActionEnv
from irl.rl.policy import CodePolicy, PolicyConfig
from irl.rl.ppo import batch_advantages, ppo_clip_loss
from irl.training.seeding import seeded

Logger = Callable[[int, dict[str, float]], None]
BaseModel = PinpadTransformer | HawkModel


@dataclass(frozen=True)
class InternalRLConfig:
    """The paper (grid): 100k steps × 1024 episodes, lr 3e-5, entropy 0."""

    episodes: int = 200_000
    batch_episodes: int = 512
    lr: float = 3e-4
    update_epochs: int = 4
    clip: float = 0.2
    width: int = 256
    init_log_std: float = 0.0
    eval_episodes: int = 1024
    seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)  # the stage trains one policy per seed (`seed` is set to each)
    workers: int = 2  # seeds trained at once
    device: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if not self.seeds or self.workers < 1:
            raise ValueError(f"seeds={list(self.seeds)}, workers={self.workers}: need >= 1 seed and >= 1 worker")
        if self.episodes < self.batch_episodes or self.batch_episodes < 2:
            raise ValueError(f"episodes={self.episodes}, batch_episodes={self.batch_episodes}: need episodes >= batch_episodes >= 2")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Rollout:
    obs: torch.Tensor  # (K, N, d)
    active: torch.Tensor  # (K, N) bool
    z: torch.Tensor  # (K, N, n_z)
    logp: torch.Tensor  # (K, N)
    returns: torch.Tensor  # (N,)
    low_level_steps: int


@torch.no_grad()
def collect(policy: CodePolicy, env: AbstractActionEnv, generator: torch.Generator, deterministic: bool = False) -> Rollout:
    """One batch of episodes in the abstract env; records every decision round."""
    step = env.reset()
    n = env.num_envs
    device = env.device
    state = policy.initial_state(n, device)
    obs, active, zs, logps = [], [], [], []
    returns = np.zeros(n, dtype=np.float32)
    while step.awaiting.any():
        mask = torch.from_numpy(step.awaiting).to(device)
        z, logp, state = policy.act(step.obs, state, mask, generator, deterministic)
        obs.append(step.obs.float())
        active.append(mask)
        zs.append(z)
        logps.append(logp)
        step = env.step(z)
        returns += step.reward
    return Rollout(torch.stack(obs), torch.stack(active), torch.stack(zs), torch.stack(logps),
                   torch.from_numpy(returns).to(device), env.low_level_steps)


def make_env(base: BaseModel, mc: Metacontroller, env_cfg: GridConfig | AntConfig, task_set: TaskSet | str, n: int,
             seed: int) -> AbstractActionEnv:
    """The abstract env over n grid episodes (a TaskSet) or n ants (a task set name, e.g. "post")."""
    if isinstance(env_cfg, AntConfig):
        return AbstractActionEnv(base, mc, AntPinpadBatch(env_cfg, str(task_set), n, seed=seed), seed=seed)
    return AbstractActionEnv(base, mc, GridPinpadBatch(env_cfg, task_set, n, seed=seed), seed=seed)


def train_internal_rl(base: BaseModel, mc: Metacontroller, env_cfg: GridConfig | AntConfig, task_set: TaskSet | str,
                      cfg: InternalRLConfig, device: torch.device, log: Logger | None = None) -> tuple[CodePolicy, dict[str, Any]]:
    """PPO on codes until the episode budget is spent; returns the policy and its learning curve."""
    log = log or (lambda step, metrics: None)
    for p in list(base.parameters()) + list(mc.parameters()):
        p.requires_grad_(False)
    with seeded(cfg.seed):  # seeds train in parallel threads (irl/training/seeding.py)
        policy = CodePolicy(PolicyConfig(base.cfg.d_model, mc.cfg.n_z, cfg.width, cfg.init_log_std, mc.cfg.code)).to(device)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    env = make_env(base, mc, env_cfg, task_set, cfg.batch_episodes, cfg.seed)
    curve: list[dict[str, float]] = []
    episodes, t_start, iteration = 0, time.perf_counter(), 0
    while episodes + cfg.batch_episodes <= cfg.episodes:
        t0 = time.perf_counter()
        ro = collect(policy, env, gen)
        adv = batch_advantages(ro.returns)
        stats: dict[str, float] = {}
        if float(ro.returns.std()) > 0:
            for _ in range(cfg.update_epochs):
                logp, entropy = policy.evaluate(ro.obs, ro.active, ro.z)
                loss, stats = ppo_clip_loss(logp, ro.logp, adv, ro.active, cfg.clip)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            stats["losses/policy_loss"] = loss.item()
            stats["charts/policy_entropy"] = entropy.item()
        episodes += cfg.batch_episodes
        iteration += 1
        rate = float(ro.returns.mean())
        decisions = float(ro.active.sum()) / cfg.batch_episodes
        curve.append({"episodes": episodes, "success_rate": rate, "wall_s": time.perf_counter() - t_start})
        log(iteration, {"charts/success_rate": rate, "charts/episodes": episodes, "charts/decisions_per_episode": decisions,
                        "perf/episodes_per_s": cfg.batch_episodes / (time.perf_counter() - t0), **stats})
    policy.eval()
    eval_env = make_env(base, mc, env_cfg, task_set, cfg.eval_episodes, cfg.seed + 10_007)
    final = float(collect(policy, eval_env, torch.Generator(device="cpu").manual_seed(cfg.seed + 1)).returns.mean())
    wall = time.perf_counter() - t_start
    return policy, {"final_success": final, "curve": curve, "episodes": episodes, "wall_s": wall,
                    "episodes_per_s": episodes / max(wall, 1e-9)}


@torch.no_grad()
def oracle_code_success(base: BaseModel, mc: Metacontroller, codes: torch.Tensor, env_cfg: GridConfig | AntConfig,
                        task_set: TaskSet | str, episodes: int, seed: int) -> dict[str, float]:
    """Success when every decision gets the code of the episode's true current subgoal (`codes`:
    (n_subgoals, n_z), e.g. `codes_by_subgoal`): what internal RL can reach with these codes."""
    env = make_env(base, mc, env_cfg, task_set, episodes, seed)
    step = env.reset()
    device = env.device
    while step.awaiting.any():
        g = torch.from_numpy(np.maximum(env.env.subgoal, 0)).to(device)
        step = env.step(codes.to(device)[g])
    return {"oracle_code_success": float(env.env.success.mean()),
            "oracle_decisions_per_episode": float(env.decisions.mean())}
