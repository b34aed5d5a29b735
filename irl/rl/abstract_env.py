"""The abstract-action environment of internal RL (paper Algorithm 1, DESIGN.md §1 stage 4).

The frozen base model, the metacontroller's switch unit and its decoder become part of the
environment. An *observation* is the residual stream e_t at layer l = L/2 (before any edit); an
*action* is a code z ∈ R^{n_z}. Inside, the low-level loop runs on every episode at once with the
base model's KV cache: hold z, edit the residual with U = f_hyp(z), sample a grid action, step
the grid, update the switch's history h_t = GRU(e_t, h_t−1), compute the next e_t+1 and
β_t+1 = f_switch(e_t+1, h_t, z); control returns to the agent as soon as some live episode has
β > 0.5 (it is then *awaiting* a code) or every episode has ended.

Episodes advance in lockstep (one shared KV cache), so `step(z)` takes a code for every row and
uses it only where `awaiting` is set; the other rows keep their code. With `switch="always"`
(β ≡ 1) every live row awaits a code at every step: RL on a fresh code per action.

Two worlds, one loop: the grid (`GridPinpadBatch`, the Transformer's KV cache, a sampled discrete
move) and the ant (`AntPinpadBatch`, the Hawk's recurrent state, torques sampled from its Gaussian
head and clipped to [−1, 1]).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from irl.envs.ant_batch import AntPinpadBatch
from irl.envs.grid import GridPinpadBatch
from irl.models.hawk import HawkModel
from irl.models.metacontroller import Metacontroller
from irl.models.transformer import PinpadTransformer


@dataclass
class AbstractStep:
    obs: Tensor  # (N, d) residual at layer l at the current step (meaningful where awaiting)
    awaiting: np.ndarray  # (N,) bool: rows that must be given a new code
    reward: np.ndarray  # (N,) reward collected since the previous return
    done: np.ndarray  # (N,) bool: episode over


class AbstractActionEnv:
    """N episodes (grid or ant) driven through codes z; see the module docstring."""

    def __init__(self, base: PinpadTransformer | HawkModel, mc: Metacontroller, env: GridPinpadBatch | AntPinpadBatch,
                 seed: int = 0, threshold: float = 0.5) -> None:
        if isinstance(env, AntPinpadBatch) != isinstance(base, HawkModel):
            raise TypeError(f"{type(base).__name__} cannot drive {type(env).__name__}: the grid needs the "
                            "Transformer, the ant the Hawk")
        self.base, self.mc, self.env = base.eval(), mc.eval(), env
        self.layer = mc.cfg.layer
        self.threshold = threshold
        self.device = next(base.parameters()).device
        self.gen = torch.Generator(device="cpu").manual_seed(seed)
        n = env.num_envs
        self.h = torch.zeros(1, n, mc.cfg.d_history, device=self.device)
        self.z = torch.zeros(n, mc.cfg.n_z, device=self.device)
        self.e: Tensor | None = None
        self.awaiting = np.zeros(n, dtype=bool)
        self.low_level_steps = 0
        self.decisions = np.zeros(n, dtype=np.int64)

    @property
    def num_envs(self) -> int:
        return self.env.num_envs

    def _lower(self) -> Tensor:
        """This step's residual at layer l, (N, 1, d), before any edit."""
        if isinstance(self.env, AntPinpadBatch):
            obs = torch.as_tensor(self.env.obs, dtype=torch.float32, device=self.device)
            return self.base.step_lower(self.cache, obs, self.layer)[:, None]
        return self.base.step_lower(self.cache, torch.from_numpy(self.env.pos).to(self.device), self.layer)

    def _act(self, x: Tensor) -> np.ndarray:
        """Finish the step from the edited residual x (N, 1, d): sample an action, step the world."""
        if isinstance(self.env, AntPinpadBatch):
            out = self.base.step_upper(self.cache, x[:, 0], self.layer)
            mean, std = out["action_mean"].float().cpu(), out["action_log_std"].float().exp().cpu()
            torques = (mean + std * torch.randn(mean.shape, generator=self.gen)).clamp(-1.0, 1.0)
            return self.env.step(torques.numpy())[0]
        logits = self.base.step_upper(self.cache, x, self.layer)["action_logits"].float().cpu()
        actions = torch.multinomial(torch.softmax(logits, -1), 1, generator=self.gen)[:, 0]
        return self.env.step(actions.numpy())[0]

    @torch.no_grad()
    def reset(self) -> AbstractStep:
        """New episodes (the env draws solvable layouts); every row awaits its first code."""
        self.env.reset()
        n = self.env.num_envs
        if isinstance(self.env, AntPinpadBatch):
            self.cache = self.base.init_state(n, self.device)
        else:
            self.cache = self.base.init_cache(torch.from_numpy(self.env.colors).to(self.device),
                                              torch.from_numpy(self.env.walls).to(self.device), self.env.config.horizon)
        self.h.zero_()
        self.z.zero_()
        self.e = self._lower()
        self.awaiting = ~self.env.done
        self.decisions = self.awaiting.astype(np.int64)
        self.low_level_steps = 0
        return AbstractStep(self.e[:, 0], self.awaiting.copy(), np.zeros(n, dtype=np.float32), self.env.done.copy())

    @torch.no_grad()
    def step(self, z: Tensor) -> AbstractStep:
        """Give the awaiting rows their code (z: (N, n_z), other rows ignored) and run the low-level
        loop until some live row awaits a code or all episodes are over."""
        if self.e is None:
            raise RuntimeError("AbstractActionEnv.step before reset")
        if z.shape != self.z.shape:
            raise ValueError(f"z: expected shape {tuple(self.z.shape)}, got {tuple(z.shape)}")
        take = torch.from_numpy(self.awaiting).to(self.device)
        self.z = torch.where(take[:, None], z.to(self.device, self.z.dtype), self.z)
        reward = np.zeros(self.env.num_envs, dtype=np.float32)
        while True:
            a, b = self.mc.decode(self.z)
            x = self.mc.apply_edit(self.e, a[:, None], b[:, None])
            reward += self._act(x)
            self.low_level_steps += 1
            _, self.h = self.mc.history(self.e.float(), self.h)
            if self.env.done.all():
                self.awaiting = np.zeros_like(self.awaiting)
                return AbstractStep(self.e[:, 0], self.awaiting.copy(), reward, self.env.done.copy())
            self.e = self._lower()
            if self.mc.cfg.switch == "always":
                beta = torch.ones(self.env.num_envs, device=self.device)
            else:
                beta = self.mc.switch_prob(self.e[:, 0].float(), self.h[0], self.z)
            self.awaiting = (beta > self.threshold).cpu().numpy() & ~self.env.done
            if self.awaiting.any():
                self.decisions += self.awaiting
                return AbstractStep(self.e[:, 0], self.awaiting.copy(), reward, self.env.done.copy())
