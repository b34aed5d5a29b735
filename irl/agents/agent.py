"""Acting with a trained bundle, one low-level step at a time, for many episodes at once.

Three policies drive the frozen base model (paper Algorithm 1 for the first):
- `internal-rl`: the code policy π(z | e_1:t) emits a code z when the metacontroller's switch fires
  (β_t > 0.5; always at t = 0), z is held, and its decoded controller U = f_hyp(z) edits the
  residual at layer L/2 before the base model picks the action;
- `base`: the base model alone;
- `gt-controllers`: the ground-truth controller of the subgoal the caller names at each step.
A *steer* overrides the code from now on: a fixed z decoded by the metacontroller (any policy), or
for `gt-controllers` a fixed subgoal controller.

Every slot is an independent episode at its own step (`SlotPool`); `act` steps any set of slots in
one forward pass per policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from irl.agents.bundle import ModelBundle
from irl.agents.slots import SlotPool

POLICIES = ("internal-rl", "base", "gt-controllers")


@dataclass(frozen=True)
class StepOut:
    """What one act returned for one slot."""

    action: int
    beta: float | None  # the switch value (None where no metacontroller runs)
    switched: bool  # a new code (or, for gt-controllers, a new subgoal controller) took over
    z: list[float] | None  # the code in force at this step
    subgoal: int | None  # the ground-truth controller in force (gt-controllers)


class Agent:
    """`capacity` slots over one bundle; see the module docstring."""

    def __init__(self, bundle: ModelBundle, capacity: int, threshold: float = 0.5, seed: int = 0) -> None:
        self.bundle = bundle
        self.threshold = threshold
        self.pool = SlotPool(bundle.base, capacity, bundle.env.horizon)
        dev = self.pool.device
        mc, policy = bundle.metacontroller, bundle.policy
        self.h = torch.zeros(capacity, mc.cfg.d_history, device=dev)  # switch history h_t−1
        self.z = torch.zeros(capacity, mc.cfg.n_z, device=dev)  # code in force
        self.state = torch.zeros(capacity, policy.cfg.width, device=dev)  # π's recurrent state
        self.steer_z = torch.zeros(capacity, mc.cfg.n_z, device=dev)
        self.steered = torch.zeros(capacity, dtype=torch.bool, device=dev)
        self.steer_subgoal = np.full(capacity, -1, dtype=np.int64)
        self.last_subgoal = np.full(capacity, -1, dtype=np.int64)
        self.policy = np.array(["base"] * capacity, dtype=object)
        self.greedy = np.zeros(capacity, dtype=bool)
        self.gen = torch.Generator(device="cpu").manual_seed(seed)

    @property
    def capacity(self) -> int:
        return self.pool.capacity

    def reset(self, slot: int, colors: np.ndarray, walls: np.ndarray, policy: str, greedy: bool = False) -> None:
        """A new episode in `slot` on the given layout (cell indices of each color and wall)."""
        if policy not in POLICIES:
            raise ValueError(f"policy {policy!r}: expected one of {POLICIES}")
        if policy == "gt-controllers" and self.bundle.gt_controllers is None:
            raise ValueError("policy 'gt-controllers': no ground-truth controllers are loaded")
        self.pool.open(slot, torch.as_tensor(colors, dtype=torch.long), torch.as_tensor(walls, dtype=torch.long))
        for t in (self.h, self.z, self.state, self.steer_z):
            t[slot].zero_()
        self.steered[slot] = False
        self.steer_subgoal[slot] = self.last_subgoal[slot] = -1
        self.policy[slot], self.greedy[slot] = policy, greedy

    def check_steer(self, policy: str, z: list[float] | None, subgoal: int | None) -> tuple[list[float] | None, int]:
        """Validate a steer for a slot running `policy` → (code to hold or None, gt subgoal or −1)."""
        b = self.bundle
        if z is not None and subgoal is not None:
            raise ValueError("steer: give z or subgoal, not both")
        if subgoal is not None:
            if not 0 <= subgoal < b.n_subgoals:
                raise ValueError(f"subgoal {subgoal}: expected 0..{b.n_subgoals - 1}")
            if policy == "gt-controllers":
                return None, subgoal
            if subgoal >= len(b.subgoal_codes):
                raise ValueError(f"subgoal {subgoal}: the metacontroller has no discovered code for it")
            z = b.subgoal_codes[subgoal]
        if z is not None and (len(z) != b.metacontroller.cfg.n_z or not all(np.isfinite(z))):
            raise ValueError(f"z: expected {b.metacontroller.cfg.n_z} finite numbers, got {len(z)}")
        return z, -1

    def steer(self, slot: int, z: list[float] | None = None, subgoal: int | None = None) -> None:
        """Force code z (or a subgoal's controller / discovered code) from the next step on;
        both None clears the steer."""
        code, sub = self.check_steer(self.policy[slot], z, subgoal)
        self.steer_subgoal[slot] = sub
        self.steered[slot] = code is not None
        if code is not None:
            self.steer_z[slot] = torch.tensor(code, dtype=torch.float32)

    def steps_taken(self, slot: int) -> int:
        return int(self.pool.steps[slot])

    @torch.no_grad()
    def act(self, slots: list[int], pos: list[int], subgoals: list[int | None] | None = None) -> list[StepOut]:
        """One step for each slot: the agent stands on cell pos[i]; returns its action etc."""
        if len(set(slots)) != len(slots):
            raise ValueError("act: a slot appears twice in one batch")
        subgoals = subgoals or [None] * len(slots)
        out: dict[int, StepOut] = {}
        for policy in POLICIES:
            idx = [i for i, s in enumerate(slots) if self.policy[s] == policy]
            if idx:
                rows = [slots[i] for i in idx]
                res = self._act(policy, rows, [pos[i] for i in idx], [subgoals[i] for i in idx])
                out.update(zip(idx, res))
        return [out[i] for i in range(len(slots))]

    def _sample(self, logits: Tensor, rows: list[int]) -> list[int]:
        greedy = torch.from_numpy(self.greedy[rows])
        sampled = torch.multinomial(torch.softmax(logits.float().cpu(), -1), 1, generator=self.gen)[:, 0]
        return torch.where(greedy, logits.float().cpu().argmax(-1), sampled).tolist()

    def _act(self, policy: str, rows: list[int], pos: list[int], subgoals: list[int | None]) -> list[StepOut]:
        b, dev = self.bundle, self.pool.device
        r = torch.tensor(rows, dtype=torch.long, device=dev)
        p = torch.tensor(pos, dtype=torch.long, device=dev)
        first = self.pool.steps[r] == 0
        mc = b.metacontroller
        if policy == "gt-controllers":
            g = np.array([s if s is not None else -1 for s in subgoals], dtype=np.int64)
            g = np.where(self.steer_subgoal[rows] >= 0, self.steer_subgoal[rows], g)
            if (g < 0).any() or (g >= b.n_subgoals).any():
                raise ValueError(f"gt-controllers: each step needs a subgoal in 0..{b.n_subgoals - 1}")
            layer = b.gt_controllers.cfg.layer
            e = self.pool.lower(r, p, layer)
            x = b.gt_controllers.edit(torch.from_numpy(g).to(dev))(e)
            logits = self.pool.upper(r, x, layer)
            switched = (g != self.last_subgoal[rows]).tolist()
            self.last_subgoal[rows] = g
            return [StepOut(a, None, s, None, int(k)) for a, s, k in zip(self._sample(logits, rows), switched, g)]

        e = self.pool.lower(r, p, b.layer)
        e0 = e[:, 0].float()
        steered = self.steered[r]
        if policy == "internal-rl":
            if mc.cfg.switch == "always":
                beta = torch.ones(len(rows), device=dev)
            else:
                beta = torch.where(first, torch.ones(len(rows), device=dev), mc.switch_prob(e0, self.h[r], self.z[r]))
            switch = beta > self.threshold
            z, _, state = b.policy.act(e0, self.state[r], switch, generator=self.gen)
            greedy = torch.from_numpy(self.greedy[rows]).to(dev)
            z = torch.where(greedy[:, None], b.policy.mean(state), z)  # greedy sessions act on π's mean
            self.state[r] = state
            z = torch.where(switch[:, None], z, self.z[r])
            switched = switch | (steered & first)
        else:  # base: no code unless steered
            beta = None
            z = self.z[r]
            switched = steered & first
        z = torch.where(steered[:, None], self.steer_z[r], z)
        self.z[r] = z
        edit_rows = steered | torch.tensor(policy == "internal-rl", device=dev).expand(len(rows))
        x = e
        if bool(edit_rows.any()):
            a_, b_ = mc.decode(z)
            x = torch.where(edit_rows[:, None, None], mc.apply_edit(e, a_[:, None], b_[:, None]), e)
        logits = self.pool.upper(r, x, b.layer)
        _, h = mc.history(e0[:, None], self.h[r][None])
        self.h[r] = h[0]
        actions = self._sample(logits, rows)
        codes = z.cpu().tolist()
        betas = beta.cpu().tolist() if beta is not None else [None] * len(rows)
        uses_code = edit_rows.cpu().tolist()
        return [StepOut(a, bt, bool(s), zc if u else None, None)
                for a, bt, s, zc, u in zip(actions, betas, switched.cpu().tolist(), codes, uses_code)]
