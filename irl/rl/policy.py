"""The internal-RL policy π(z | e_1:t): a 1-layer recurrent network (width 256) over the residual
observations it is given at its decision points, with a Gaussian head over codes z — or, for a
metacontroller with discrete codes, a categorical head over its n_z one-hot codes.

The mean starts at 0 and the standard deviation at 1 (the logits at 0), so the untrained policy
samples codes from the metacontroller's prior N(0, I) (uniform over the codes) — the exploration
the paper relies on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from irl.models.metacontroller import CODE_MODES


@dataclass(frozen=True)
class PolicyConfig:
    d_model: int
    n_z: int = 8
    width: int = 256
    init_log_std: float = 0.0
    code: str = "gaussian"  # the metacontroller's code (irl.models.metacontroller.CODE_MODES)

    def __post_init__(self) -> None:
        if self.code not in CODE_MODES:
            raise ValueError(f"code={self.code!r}: expected one of {CODE_MODES}")

    def to_dict(self) -> dict:
        return asdict(self)


class CodePolicy(nn.Module):
    def __init__(self, cfg: PolicyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = nn.LayerNorm(cfg.d_model)
        self.cell = nn.GRUCell(cfg.d_model, cfg.width)
        self.mean = nn.Linear(cfg.width, cfg.n_z)
        nn.init.zeros_(self.mean.weight)
        nn.init.zeros_(self.mean.bias)
        if cfg.code == "gaussian":  # a categorical head's spread is its logits
            self.log_std = nn.Parameter(torch.full((cfg.n_z,), float(cfg.init_log_std)))

    def initial_state(self, n: int, device: torch.device | str = "cpu") -> Tensor:
        return torch.zeros(n, self.cfg.width, device=device)

    def advance(self, obs: Tensor, state: Tensor, active: Tensor) -> Tensor:
        """New recurrent state; rows where `active` is False keep theirs (and cost nothing)."""
        idx = torch.nonzero(active, as_tuple=True)[0]
        if idx.numel() == 0:
            return state
        return state.index_copy(0, idx, self.cell(self.norm(obs[idx].float()), state[idx]))

    def log_prob(self, mean: Tensor, z: Tensor) -> Tensor:
        """log π(z) for the head's output `mean` (Gaussian mean, or logits with one-hot z)."""
        if self.cfg.code == "categorical":
            return (torch.log_softmax(mean, dim=-1) * z).sum(-1)
        std = self.log_std.exp()
        return (-0.5 * ((z - mean) / std).pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def act(self, obs: Tensor, state: Tensor, active: Tensor, generator: torch.Generator | None = None,
            deterministic: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """(z, log π(z), new state) for every row; only `active` rows advance their state."""
        state = self.advance(obs, state, active)
        mean = self.mean(state)
        if self.cfg.code == "categorical":
            if deterministic:
                pick = mean.argmax(-1)
            else:
                pick = torch.multinomial(torch.softmax(mean.float(), -1).cpu(), 1, generator=generator)[:, 0].to(mean.device)
            z = nn.functional.one_hot(pick, self.cfg.n_z).to(mean.dtype)
        elif deterministic:
            z = mean
        else:
            noise = torch.randn(mean.shape, generator=generator).to(mean.device)
            z = mean + self.log_std.exp() * noise
        return z, self.log_prob(mean, z), state

    def evaluate(self, obs: Tensor, active: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Replay K decision rounds: obs (K, N, d), active (K, N), z (K, N, n_z) → log π (K, N)
        and the entropy: of the Gaussian (per decision, a scalar), or the mean over active decisions
        of the categorical's."""
        state = self.initial_state(obs.shape[1], obs.device)
        out, ent = [], []
        for k in range(obs.shape[0]):
            state = self.advance(obs[k], state, active[k])
            head = self.mean(state)
            if self.cfg.code == "categorical":
                logp = torch.log_softmax(head, dim=-1)
                out.append((logp * z[k]).sum(-1))
                ent.append(-(logp.exp() * logp).sum(-1))
            else:
                out.append(self.log_prob(head, z[k]))
        if self.cfg.code == "categorical":
            entropy = (torch.stack(ent) * active).sum() / active.sum().clamp(min=1)
        else:
            entropy = (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum()
        return torch.stack(out), entropy
