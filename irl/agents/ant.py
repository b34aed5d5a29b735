"""Serving the ant: its trained models as one bundle and a traced rollout (xy trace, torques, codes,
switches, optional frames rendered by MuJoCo).

The same loop as internal RL's abstract env (paper Algorithm 1) for one ant: the code policy emits
z when the switch fires (β_t > 0.5, always at t = 0), the decoded full-rank controller edits the
Hawk's residual at layer L/2, the Gaussian head gives the torques. `base` runs the Hawk alone.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from irl.agents.bundle import ModelInfo, load_local, load_registry
from irl.envs.ant import AntConfig, AntPinpadEnv, episode_outcome
from irl.models.hawk import HawkModel
from irl.models.metacontroller import Metacontroller
from irl.rl.policy import CodePolicy

ANT_ROLES: dict[str, tuple[str, str, bool]] = {
    "base": ("base", "irl-ant-base", True),
    "metacontroller": ("metacontroller", "irl-ant-metacontroller", True),
    "policy": ("policy", "irl-ant-policy", True),
}
ANT_POLICIES = ("internal-rl", "base")


@dataclass
class AntBundle:
    base: HawkModel
    metacontroller: Metacontroller
    policy: CodePolicy
    env: AntConfig
    info: list[ModelInfo] = field(default_factory=list)

    @property
    def layer(self) -> int:
        return self.metacontroller.cfg.layer


def _assemble_ant(models: dict[str, tuple[torch.nn.Module, dict[str, Any]]], info: list[ModelInfo]) -> AntBundle:
    expected = {"base": HawkModel, "metacontroller": Metacontroller, "policy": CodePolicy}
    for role, (model, _) in models.items():
        if not isinstance(model, expected[role]):
            raise ValueError(f"ant model for {role!r} is a {type(model).__name__}, expected {expected[role].__name__}")
    base, spec = models["base"]
    mc, policy = models["metacontroller"][0], models["policy"][0]
    if mc.cfg.d_model != base.cfg.d_model or policy.cfg.d_model != base.cfg.d_model or policy.cfg.n_z != mc.cfg.n_z:
        raise ValueError(f"ant models do not fit together: base d_model {base.cfg.d_model}, metacontroller "
                         f"{mc.cfg.d_model} (n_z {mc.cfg.n_z}), policy {policy.cfg.d_model} (n_z {policy.cfg.n_z})")
    env = AntConfig(**spec.get("meta", {}).get("params", {}).get("ant_env", {}))
    return AntBundle(base.eval(), mc.eval(), policy.eval(), env, info)


def load_ant_local(store: str | Path, device: str = "cpu") -> AntBundle:
    """The ant bundle from `models/ant/` (the ant pipeline's DVC outs)."""
    return load_local(store, device, ANT_ROLES, _assemble_ant)


def load_ant_registry(alias: str = "champion", device: str = "cpu") -> AntBundle:
    return load_registry(alias, device, ANT_ROLES, _assemble_ant)


@dataclass
class AntTrajectory:
    size: int
    cell_size: float
    colors: list[int]  # cell of color c (row * size + col, row 0 at +y)
    walls: list[int]
    task: list[int]
    policy: str
    xy: list[list[float]]  # torso (x, y) before each step and after the last (len = steps + 1)
    torques: list[list[float]]  # the 8 executed torques per step
    beta: list[float | None]
    z: list[list[float] | None]
    target: list[int]  # the color being sought at each step (evaluation only)
    switches: list[int]
    reward: float = 0.0
    success: bool = False
    progress: int = 0
    steps: int = 0
    outcome: str | None = None  # success, wrong_color, wall, left_grid, fell, timeout; None if cut short
    truncated: bool = False  # stopped at max_steps before the episode ended

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AntStep:
    torques: np.ndarray  # (8,) in [−1, 1], what the ant executes
    beta: float | None  # the switch value (internal-rl)
    switched: bool  # a new code took over at this step
    z: list[float] | None  # the code in force (internal-rl)


class AntActor:
    """One ant episode's acting state (Hawk recurrent state, switch history, code, π's state):
    `act(obs)` → the torques for this step. What a rollout and a REST session step through."""

    def __init__(self, bundle: AntBundle, policy: str = "internal-rl", greedy: bool = False, seed: int = 0) -> None:
        if policy not in ANT_POLICIES:
            raise ValueError(f"policy {policy!r}: expected one of {ANT_POLICIES}")
        self.bundle, self.policy, self.greedy = bundle, policy, greedy
        self.obs_dim = bundle.base.cfg.obs_dim
        self.device = next(bundle.base.parameters()).device
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        self.reset()

    def reset(self) -> None:
        b, dev = self.bundle, self.device
        self.state = b.base.init_state(1, dev)
        self.h = torch.zeros(1, b.metacontroller.cfg.d_history, device=dev)
        self.z = torch.zeros(1, b.metacontroller.cfg.n_z, device=dev)
        self.pstate = b.policy.initial_state(1, dev)
        self.steps = 0

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> AntStep:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (self.obs_dim,) or not np.isfinite(obs).all():
            raise ValueError(f"observation: expected {self.obs_dim} finite numbers, got shape {obs.shape}")
        b = self.bundle
        base, mc, pi = b.base, b.metacontroller, b.policy
        dev = self.device
        o = torch.as_tensor(obs, device=dev)[None]
        beta, switched = None, False
        if self.policy == "internal-rl":
            e = base.step_lower(self.state, o, b.layer)
            beta = 1.0 if self.steps == 0 or mc.cfg.switch == "always" else float(mc.switch_prob(e.float(), self.h, self.z)[0])
            if beta > 0.5:
                self.z, _, self.pstate = pi.act(e.float(), self.pstate, torch.ones(1, dtype=torch.bool, device=dev),
                                                self.gen, deterministic=self.greedy)
                switched = True
            a_, b_ = mc.decode(self.z)
            out = base.step_upper(self.state, mc.apply_edit(e, a_, b_), b.layer)
            _, hh = mc.history(e.float()[:, None], self.h[None])
            self.h = hh[0]
        else:
            out = base.step(self.state, o)
        mean, std = out["action_mean"].float().cpu(), out["action_log_std"].float().exp().cpu()
        a = mean if self.greedy else mean + std * torch.randn(mean.shape, generator=self.gen)
        self.steps += 1
        return AntStep(a.clamp(-1.0, 1.0)[0].numpy(), beta, switched,
                       self.z[0].tolist() if self.policy == "internal-rl" else None)


def trace_ant_episode(bundle: AntBundle, task: str = "post", seed: int = 0, policy: str = "internal-rl",
                      max_steps: int | None = None, greedy: bool = False, frames: bool = False,
                      frame_size: int = 160) -> tuple[AntTrajectory, list[np.ndarray]]:
    """One ant episode of `task` ("post", "pretrain" or colors like "0-1-2") on a layout drawn from `seed`;
    with `frames`, the overhead camera's RGB image before each step and after the last."""
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps={max_steps}: must be >= 1")
    actor = AntActor(bundle, policy, greedy, seed)
    # AntPinpadEnv refuses a task spec the ant's task table does not hold (ValueError)
    env = AntPinpadEnv(task=task, render_mode="rgb_array" if frames else None, width=frame_size, height=frame_size,
                       **bundle.env.to_dict())
    obs, _ = env.reset(seed=seed)
    limit = env.cfg.horizon if max_steps is None else min(max_steps, env.cfg.horizon)
    traj = AntTrajectory(env.cfg.size, env.cfg.cell_size, env.colors.tolist(), env.walls.tolist(), list(env.task), policy,
                         [env.data.qpos[:2].tolist()], [], [], [], [], [])
    images = [env.render()] if frames else []
    done = False
    while not done and traj.steps < limit:
        step = actor.act(obs)
        traj.target.append(int(env.task[min(env.progress, len(env.task) - 1)]))
        if step.switched:
            traj.switches.append(traj.steps)
        obs, r, term, trunc, info = env.step(step.torques)
        done = term or trunc
        traj.torques.append([round(float(x), 4) for x in step.torques])
        traj.beta.append(step.beta)
        traj.z.append(step.z)
        traj.xy.append(env.data.qpos[:2].tolist())
        traj.reward += float(r)
        traj.steps += 1
        if frames:
            images.append(env.render())
        if done:
            traj.outcome = episode_outcome(info, term)
    traj.success, traj.progress, traj.truncated = traj.outcome == "success", int(env.progress), not done
    env.close()
    return traj, images


def encode_frames(images: list[np.ndarray], kind: str, ms_per_step: int = 50) -> list[bytes] | bytes:
    """RGB arrays → a PNG per frame (kind "png") or one animated GIF ("gif")."""
    pics = [Image.fromarray(img) for img in images]
    if kind == "png":
        out = []
        for p in pics:
            buf = io.BytesIO()
            p.save(buf, format="PNG")
            out.append(buf.getvalue())
        return out
    buf = io.BytesIO()
    pics[0].save(buf, format="GIF", save_all=True, append_images=pics[1:], duration=ms_per_step, loop=0)
    return buf.getvalue()
