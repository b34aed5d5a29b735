"""PPO for the ant expert (CleanRL's ppo_continuous_action, adapted; DESIGN.md §2).

One file, read top to bottom: config → rollout → GAE → clipped update → checkpoint. Differences
from CleanRL: the envs are `AntExpertEnv`s (direction input, intrinsic reward) stepped in one
process with same-step autoreset; a truncated episode bootstraps from the value of its last
observation; the observation normaliser is a module buffer (saved with the weights; observations
are stored normalised as collected, as CleanRL's NormalizeObservation does) and the reward scaler's
statistics go into the checkpoint, and so do the episodes in flight (each env's `get_state`: MuJoCo's
integration state, layout, progress, random stream) and the rollout's random streams, so a killed
run resumes from its last checkpoint bit for bit as if it had never stopped (same thread count;
tested). Training runs on `threads` torch threads (1): a run's floats depend on the count.

Metrics follow CleanRL's names: charts/episodic_return, charts/success_rate, losses/*,
perf/steps_per_s.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irl.envs.ant import AntConfig, AntPinpadEnv, episode_outcome
from irl.experts.ant_expert import FRAMES, AntExpertEnv, AntExpertPolicy, AntRewardConfig, ExpertNetConfig
from irl.training.checkpoint import checkpoint_dir, load_checkpoint, save_checkpoint

Logger = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class PPOAntConfig:
    total_steps: int = 1_000_000
    num_envs: int = 8
    num_steps: int = 256           # per env per rollout
    gamma: float = 0.99
    gae_lambda: float = 0.95
    num_minibatches: int = 32
    update_epochs: int = 10
    lr: float = 3e-4
    anneal_lr: bool = True
    clip: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: int = 256
    task_set: str = "pretrain"
    reward: dict[str, float] = field(default_factory=dict)  # AntRewardConfig fields
    frame: str = "world"           # the policy's observation (irl.experts.ant_expert.FRAMES)
    open_floor_steps: int = 0      # the first steps on the open floor (random directions), then the pinpad
    open_turn_every: int = 100     # the open floor's direction is redrawn every this many steps
    lookahead: float = 0.0         # waypoint rule (cells): 0 the next cell's centre, > 0 pure pursuit of the path
    checkpoint_every: int = 10     # updates
    eval_episodes: int = 200       # per task set, after training (not part of the fingerprint)
    seed: int = 0
    threads: int = 1               # torch threads while training (not in the fingerprint): the small MLPs gain
                                   # nothing from more, and the floats, so the run, depend on the count
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("total_steps", "num_envs", "num_steps", "num_minibatches", "update_epochs", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"expert_ant.{name}={getattr(self, name)}: must be >= 1")
        if (self.num_envs * self.num_steps) % self.num_minibatches:
            raise ValueError(f"expert_ant: num_envs·num_steps={self.num_envs * self.num_steps} is not divisible "
                             f"by num_minibatches={self.num_minibatches}")
        AntRewardConfig(**self.reward)  # unknown reward keys fail here
        if self.frame not in FRAMES:
            raise ValueError(f"expert_ant.frame={self.frame!r}: expected one of {FRAMES}")
        if self.lookahead < 0:
            raise ValueError(f"expert_ant.lookahead={self.lookahead}: must be >= 0 (cells)")
        if self.open_floor_steps < 0 or self.open_turn_every < 1:
            raise ValueError(f"expert_ant: open_floor_steps={self.open_floor_steps} must be >= 0, "
                             f"open_turn_every={self.open_turn_every} >= 1")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def num_updates(self) -> int:
        return max(1, self.total_steps // self.batch_size)


def make_envs(env_cfg: AntConfig, task_set: str, n: int, reward: AntRewardConfig, frame: str = "world",
              open_turn_every: int = 100, lookahead: float = 0.0) -> list[AntExpertEnv]:
    return [AntExpertEnv(AntPinpadEnv(task=task_set, **env_cfg.to_dict()), reward, frame=frame,
                         open_turn_every=open_turn_every, lookahead=lookahead) for _ in range(n)]


# fields added after runs were checkpointed: left out of the fingerprint while they are off (0), so
# those runs keep their fingerprints and resume (lookahead after run 10, reward.lateral after run 11)
_ADDED_LATER = {"ppo": ("lookahead",), "reward": ("lateral",)}


def _fingerprint(env_cfg: AntConfig, cfg: PPOAntConfig) -> str:
    # the resolved reward (defaults included), so a changed default never resumes an old run
    parts = {"env": env_cfg.to_dict(),
             "ppo": {k: v for k, v in asdict(cfg).items() if k not in ("device", "eval_episodes", "reward", "threads")},
             "reward": AntRewardConfig(**cfg.reward).to_dict()}
    for part, names in _ADDED_LATER.items():
        for name in names:
            if not parts[part][name]:
                del parts[part][name]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


class ReturnScaler:
    """CleanRL's NormalizeReward: divide rewards by the running std of the discounted return."""

    def __init__(self, n: int, gamma: float) -> None:
        self.gamma, self.ret = gamma, np.zeros(n)
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + reward
        b_mean, b_var, n = float(self.ret.mean()), float(self.ret.var()), self.ret.size
        delta, tot = b_mean - self.mean, self.count + n
        self.mean += delta * n / tot
        self.var = (self.var * self.count + b_var * n + delta**2 * self.count * n / tot) / tot
        self.count = tot
        self.ret[done] = 0.0
        return reward / np.sqrt(self.var + 1e-8)

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "var": self.var, "count": self.count, "ret": self.ret.tolist()}

    def load(self, s: dict[str, Any]) -> None:
        self.mean, self.var, self.count = s["mean"], s["var"], s["count"]
        if "ret" in s:  # checkpoints before the episodes in flight were kept restart them at 0
            self.ret = np.asarray(s["ret"], dtype=np.float64)


def _rollout_state(envs: list[AntExpertEnv], obs: np.ndarray, ep_ret: np.ndarray, ep_len: np.ndarray,
                   rng: np.random.Generator, device: torch.device) -> dict[str, Any]:
    """The episodes in flight and the random streams, JSON-ready: what a resume needs to go on
    exactly where the run stopped."""
    torch_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()
    return {"envs": [e.get_state() for e in envs], "obs": obs.tolist(), "ep_ret": ep_ret.tolist(),
            "ep_len": ep_len.tolist(), "rng": rng.bit_generator.state,
            "torch_rng": base64.b64encode(torch_rng.numpy().tobytes()).decode(), "device": device.type}


def _restore_rollout(s: dict[str, Any], envs: list[AntExpertEnv], rng: np.random.Generator,
                     device: torch.device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Put `_rollout_state` back; return obs, ep_ret, ep_len."""
    if len(s["envs"]) != len(envs):
        raise ValueError(f"checkpoint has {len(s['envs'])} envs in flight, this run {len(envs)}")
    for env, es in zip(envs, s["envs"]):
        env.set_state(es)
    rng.bit_generator.state = s["rng"]
    if s["device"] == device.type:  # a run moved to another device keeps its envs, not its sampling stream
        torch_rng = torch.from_numpy(np.frombuffer(base64.b64decode(s["torch_rng"]), dtype=np.uint8).copy())
        torch.cuda.set_rng_state(torch_rng, device) if device.type == "cuda" else torch.set_rng_state(torch_rng)
    return (np.asarray(s["obs"], dtype=np.float32), np.asarray(s["ep_ret"], dtype=np.float64),
            np.asarray(s["ep_len"], dtype=np.int64))


def train_ant_expert(env_cfg: AntConfig, cfg: PPOAntConfig, workdir: Path, log: Logger | None = None,
                     progress: bool = False) -> tuple[AntExpertPolicy, dict[str, Any]]:
    """Train (or resume) the expert on `cfg.threads` torch threads; return it and a summary (steps,
    wall time, last episode stats)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return _train(env_cfg, cfg, workdir, log, progress)
    finally:
        torch.set_num_threads(threads)


def _train(env_cfg: AntConfig, cfg: PPOAntConfig, workdir: Path, log: Logger | None,
           progress: bool) -> tuple[AntExpertPolicy, dict[str, Any]]:
    from tqdm.auto import tqdm

    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          "cpu" if cfg.device == "auto" else cfg.device)
    torch.manual_seed(cfg.seed)
    reward_cfg = AntRewardConfig(**cfg.reward)
    envs = make_envs(env_cfg, cfg.task_set, cfg.num_envs, reward_cfg, cfg.frame, cfg.open_turn_every, cfg.lookahead)
    obs_dim = envs[0].observation_space.shape[0]
    policy = AntExpertPolicy(ExpertNetConfig(obs_dim, envs[0].action_space.shape[0], cfg.hidden, cfg.frame,
                                             cfg.lookahead)).to(device)
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, eps=1e-5)
    scaler = ReturnScaler(cfg.num_envs, cfg.gamma)
    ckpt = checkpoint_dir(workdir, _fingerprint(env_cfg, cfg))
    state: dict[str, Any] = {"update": 0, "global_step": 0, "train_s": 0.0, "episodes": 0}
    if (ckpt / "state.json").is_file():
        state = load_checkpoint(ckpt, policy, opt, device)
        scaler.load(state.pop("return_scaler"))
    log = log or (lambda step, metrics: None)
    rng = np.random.default_rng([cfg.seed, state["update"]])

    def mode() -> str:  # the curriculum: the open floor for the first open_floor_steps, then the pinpad
        return "open" if state["global_step"] < cfg.open_floor_steps else "task"

    for e in envs:
        e.mode = mode()
    obs = np.stack([e.reset(seed=int(rng.integers(2**31)))[0] for e in envs])
    n, T = cfg.num_envs, cfg.num_steps
    buf_obs = torch.zeros((T, n, obs_dim), device=device)
    buf_act = torch.zeros((T, n, policy.cfg.act_dim), device=device)
    buf_logp, buf_rew, buf_done, buf_val = (torch.zeros((T, n), device=device) for _ in range(4))
    recent: list[dict[str, float]] = []
    ep_ret, ep_len = np.zeros(n), np.zeros(n, dtype=np.int64)
    rollout = state.pop("rollout", None)
    if rollout is not None:  # the episodes in flight when the checkpoint was written go on
        obs, ep_ret, ep_len = _restore_rollout(rollout, envs, rng, device)
    bar = tqdm(total=cfg.num_updates, initial=state["update"], desc="ppo ant expert", disable=not progress)
    while state["update"] < cfg.num_updates:
        t0 = time.perf_counter()
        if envs[0].mode != mode():  # the curriculum moves on: episodes in flight restart on the pinpad
            for e in envs:
                e.mode = mode()
            obs = np.stack([e.reset(seed=int(rng.integers(2**31)))[0] for e in envs])
            ep_ret[:], ep_len[:] = 0.0, 0
        frac = 1.0 - state["update"] / cfg.num_updates
        for g in opt.param_groups:
            g["lr"] = cfg.lr * frac if cfg.anneal_lr else cfg.lr
        for t in range(T):
            # as CleanRL's NormalizeObservation: update the running statistics with each new
            # observation, then store it normalised, so the update sees what the policy saw
            o = torch.as_tensor(obs, dtype=torch.float32, device=device)
            policy.norm.update(o)
            o = policy.norm(o)
            with torch.no_grad():
                d = policy.dist_n(o)
                a = d.sample()
                buf_logp[t], buf_val[t] = d.log_prob(a).sum(-1), policy.value_n(o)
            buf_obs[t], buf_act[t] = o, a
            actions = a.clamp(-1, 1).cpu().numpy()
            rewards, dones = np.zeros(n), np.zeros(n, dtype=bool)
            next_obs = np.empty_like(obs)
            for i, env in enumerate(envs):
                ob, r, term, trunc, info = env.step(actions[i])
                ep_ret[i] += r
                ep_len[i] += 1
                if trunc and not term:  # bootstrap the cut-off tail from the last observation's value
                    with torch.no_grad():
                        r += cfg.gamma * float(policy.value(torch.as_tensor(ob[None], dtype=torch.float32, device=device)))
                if term or trunc:
                    recent.append({"return": ep_ret[i], "length": ep_len[i], "success": float(info["success"]),
                                   "fell": float(info["event"] == "fell")})
                    state["episodes"] += 1
                    ep_ret[i], ep_len[i] = 0.0, 0
                    ob, _ = env.reset(seed=int(rng.integers(2**31)))
                rewards[i], dones[i], next_obs[i] = r, term or trunc, ob
            buf_rew[t] = torch.as_tensor(scaler(rewards, dones), dtype=torch.float32, device=device)
            buf_done[t] = torch.as_tensor(dones, dtype=torch.float32, device=device)
            obs = next_obs
        # GAE; buf_done[t] marks that step t ended its episode (the next obs is a fresh reset)
        with torch.no_grad():
            next_val = policy.value(torch.as_tensor(obs, dtype=torch.float32, device=device))
            adv = torch.zeros_like(buf_rew)
            last = torch.zeros(n, device=device)
            for t in reversed(range(T)):
                nv = next_val if t == T - 1 else buf_val[t + 1]
                nonterminal = 1.0 - buf_done[t]
                delta = buf_rew[t] + cfg.gamma * nv * nonterminal - buf_val[t]
                last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
                adv[t] = last
            ret = adv + buf_val
        b_obs, b_act = buf_obs.reshape(-1, obs_dim), buf_act.reshape(-1, policy.cfg.act_dim)
        b_logp, b_adv, b_ret, b_val = buf_logp.reshape(-1), adv.reshape(-1), ret.reshape(-1), buf_val.reshape(-1)
        mb = cfg.batch_size // cfg.num_minibatches
        clipfracs, gen = [], torch.Generator().manual_seed(cfg.seed * 100_003 + state["update"])
        for _ in range(cfg.update_epochs):
            perm = torch.randperm(cfg.batch_size, generator=gen).to(device)
            for s in range(0, cfg.batch_size, mb):
                idx = perm[s : s + mb]
                d = policy.dist_n(b_obs[idx])
                logp = d.log_prob(b_act[idx]).sum(-1)
                ratio = (logp - b_logp[idx]).exp()
                a = b_adv[idx]
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
                v = policy.value_n(b_obs[idx])
                v_clip = b_val[idx] + (v - b_val[idx]).clamp(-cfg.clip, cfg.clip)
                v_loss = 0.5 * torch.max((v - b_ret[idx]) ** 2, (v_clip - b_ret[idx]) ** 2).mean()
                entropy = d.entropy().sum(-1).mean()
                loss = pg - cfg.ent_coef * entropy + cfg.vf_coef * v_loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(policy.parameters(), cfg.max_grad_norm)
                opt.step()
                clipfracs.append(float(((ratio - 1).abs() > cfg.clip).float().mean()))
        state["update"] += 1
        state["global_step"] += cfg.batch_size
        dt = time.perf_counter() - t0
        state["train_s"] += dt
        metrics = {"losses/policy_loss": pg.item(), "losses/value_loss": v_loss.item(), "losses/entropy": entropy.item(),
                   "losses/clipfrac": float(np.mean(clipfracs)), "charts/learning_rate": opt.param_groups[0]["lr"],
                   "perf/steps_per_s": cfg.batch_size / dt, "charts/episodes": state["episodes"],
                   "charts/open_floor": float(envs[0].mode == "open")}
        if recent:
            for key in ("return", "length", "success", "fell"):
                metrics[f"charts/episodic_{key}" if key != "success" else "charts/success_rate"] = float(
                    np.mean([r[key] for r in recent]))
            state["last_episodes"] = {k: float(v) for k, v in metrics.items() if k.startswith("charts/")}
            recent = []
        log(state["global_step"], metrics)
        bar.update(1)
        bar.set_postfix(ret=f"{metrics.get('charts/episodic_return', float('nan')):.1f}",
                        succ=f"{metrics.get('charts/success_rate', float('nan')):.2f}")
        if state["update"] % cfg.checkpoint_every == 0 or state["update"] == cfg.num_updates:
            save_checkpoint(ckpt, policy, opt, {**state, "return_scaler": scaler.state(),
                                                "rollout": _rollout_state(envs, obs, ep_ret, ep_len, rng, device)})
    bar.close()
    for e in envs:
        e.close()
    return policy.eval(), state


@torch.no_grad()
def evaluate_expert(policy: AntExpertPolicy, env_cfg: AntConfig, task_set: str, episodes: int, seed: int,
                    deterministic: bool = True, num_envs: int = 16) -> dict[str, Any]:
    """Success rate (and mean length, failure events) of the expert on fresh layouts of `task_set`."""
    envs = make_envs(env_cfg, task_set, min(num_envs, episodes), AntRewardConfig(), policy.cfg.frame,
                     lookahead=policy.cfg.lookahead)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    results: list[dict[str, Any]] = []
    started = 0
    live: list[int] = []
    obs: dict[int, np.ndarray] = {}
    for i, e in enumerate(envs):
        obs[i] = e.reset(seed=int(rng.integers(2**31)))[0]
        live.append(i)
        started += 1
    while live:
        acts = policy.act(np.stack([obs[i] for i in live]), deterministic, gen)
        still = []
        for i, a in zip(live, acts):
            ob, _, term, trunc, info = envs[i].step(a)
            if term or trunc:
                results.append({"success": bool(info["success"]), "length": envs[i].ant.t, "outcome": episode_outcome(info, term)})
                if started < episodes:
                    obs[i] = envs[i].reset(seed=int(rng.integers(2**31)))[0]
                    started += 1
                    still.append(i)
            else:
                obs[i] = ob
                still.append(i)
        live = still
    for e in envs:
        e.close()
    events: dict[str, int] = {}
    for r in results:
        events[r["outcome"]] = events.get(r["outcome"], 0) + 1
    return {"success": float(np.mean([r["success"] for r in results])), "episodes": len(results),
            "mean_length": float(np.mean([r["length"] for r in results])), "outcomes": events}
