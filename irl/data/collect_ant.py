"""Ant datasets from the trained expert (DESIGN.md §2): `D` with sampled actions, `D*` with the
mean action, in the pinpad dataset format (schema `ANT_ARRAYS`).

The expert reads the env observation plus its shortest-path direction; the dataset stores only the
env observation (what the base model will see), the torques, the torso xy and — for evaluation
only — the target color. Episodes the expert fails are dropped when `successful_only` (the count is
kept in the manifest), so the base model imitates completed tasks.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from irl import __version__
from irl.envs.ant import AntConfig
from irl.experts.ant_expert import AntExpertPolicy, AntRewardConfig
from irl.rl.ppo_ant import make_envs


@dataclass(frozen=True)
class AntCollectConfig:
    episodes: int
    deterministic: bool  # False: D (sampled actions), True: D* (mean actions)
    seed: int = 0
    task_set: str = "pretrain"
    num_envs: int = 16
    successful_only: bool = True

    def __post_init__(self) -> None:
        if self.episodes < 1 or self.num_envs < 1:
            raise ValueError(f"collect_ant: episodes={self.episodes}, num_envs={self.num_envs} must be >= 1")


@torch.no_grad()
def collect_ant(env_cfg: AntConfig, expert: AntExpertPolicy, cfg: AntCollectConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Roll the expert until `cfg.episodes` episodes are kept; return (arrays, manifest meta)."""
    envs = make_envs(env_cfg, cfg.task_set, min(cfg.num_envs, cfg.episodes), AntRewardConfig(), expert.cfg.frame,
                     lookahead=expert.cfg.lookahead)
    task_strings = envs[0].ant.tasks.task_strings()
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    episodes: list[dict[str, Any]] = []
    rolled, failed = 0, 0
    t0 = time.perf_counter()

    def start(i: int) -> tuple[np.ndarray, dict[str, list]]:
        ob, _ = envs[i].reset(seed=int(rng.integers(2**31)))
        return ob, {"obs": [], "action": [], "xy": [], "target": []}

    state = {i: start(i) for i in range(len(envs))}
    while len(episodes) < cfg.episodes:
        if rolled >= 20 * cfg.episodes + 100:
            raise RuntimeError(f"collect_ant: the expert completed {rolled - failed} of {rolled} episodes; "
                               f"{cfg.episodes} successful ones are out of reach — train the expert further")
        live = sorted(state)
        acts = expert.act(np.stack([state[i][0] for i in live]), cfg.deterministic, gen)
        for i, a in zip(live, acts):
            ob, trace = state[i]
            ant = envs[i].ant
            trace["obs"].append(envs[i].env_obs)
            trace["action"].append(a)
            trace["xy"].append(ant.data.qpos[:2].astype(np.float32))
            trace["target"].append(ant.task[ant.progress])
            nxt, _, term, trunc, info = envs[i].step(a)
            if term or trunc:
                rolled += 1
                ok = bool(info["success"])
                failed += not ok
                if ok or not cfg.successful_only:
                    episodes.append({**{k: np.asarray(v) for k, v in trace.items()}, "success": ok,
                                     "final_obs": envs[i].env_obs, "colors": ant.colors.copy(), "walls": ant.walls.copy(),
                                     "task_id": task_strings.index("-".join(map(str, ant.task)))})
                state[i] = start(i)
            else:
                state[i] = (nxt, trace)
    for e in envs:
        e.close()
    episodes = episodes[: cfg.episodes]
    lengths = np.array([len(e["action"]) for e in episodes], dtype=np.int32)
    target = np.concatenate([e["target"] for e in episodes]).astype(np.int8)
    arrays = {
        "layout_colors": np.stack([e["colors"] for e in episodes]).astype(np.int8),
        "layout_walls": np.stack([e["walls"] for e in episodes]).astype(np.int8),
        "task_id": np.array([e["task_id"] for e in episodes], dtype=np.int16),
        "episode_lengths": lengths,
        "success": np.array([e["success"] for e in episodes]),
        "final_obs": np.stack([e["final_obs"] for e in episodes]).astype(np.float32),
        "obs": np.concatenate([e["obs"] for e in episodes]).astype(np.float32),
        "action": np.concatenate([e["action"] for e in episodes]).astype(np.float32),
        "xy": np.concatenate([e["xy"] for e in episodes]).astype(np.float32),
        "target": target,
        "subgoal": target,  # one color per subgoal in the ant (DESIGN.md §2)
    }
    meta = {
        "env": {"name": "ant-pinpad", **env_cfg.to_dict()},
        "task_set": {"name": cfg.task_set, "tasks": task_strings, "colors_per_subgoal": 1},
        "expert": {"name": "ant-ppo", "actions": "mean" if cfg.deterministic else "sampled"},
        "collect": asdict(cfg),
        "seed": cfg.seed,
        "rolled_episodes": rolled,
        "expert_success": 1.0 - failed / max(rolled, 1),
        "collect_s": time.perf_counter() - t0,
        "irl_version": __version__,
    }
    return arrays, meta
