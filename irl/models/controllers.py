"""Linear residual-stream controllers: ê_t = e_t + U_g e_t (DESIGN.md §1 evidence (b)).

One controller per subgoal g; `rank` r gives U_g = A_g B_gᵀ (A: d×r, B: d×r), None gives a full
d×d matrix. A starts at zero, so an untrained controller is exactly the identity edit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from irl.models.transformer import Edit


@dataclass(frozen=True)
class ControllerConfig:
    n_controllers: int
    d_model: int
    rank: int | None = 16
    layer: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


class LinearControllers(nn.Module):
    """U_g for g = 0..n−1; `edit(g)` returns the residual edit for per-row controller indices g."""

    def __init__(self, cfg: ControllerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n, d, r = cfg.n_controllers, cfg.d_model, cfg.rank
        if r is None:
            self.U = nn.Parameter(torch.zeros(n, d, d))
        else:
            self.A = nn.Parameter(torch.zeros(n, d, r))
            self.B = nn.Parameter(torch.randn(n, d, r) / d**0.5)

    def delta(self, x: Tensor, g: Tensor) -> Tensor:
        """U_g x for x (B, T, d) and g (B, T) or (B,) controller indices."""
        if g.dim() == 1:
            g = g[:, None].expand(x.shape[0], x.shape[1])
        if self.cfg.rank is None:
            every = torch.einsum("btd,ged->btge", x, self.U)  # (B, T, G, d): U_g x for all g
        else:
            every = torch.einsum("btgr,gdr->btgd", torch.einsum("btd,gdr->btgr", x, self.B), self.A)
        pick = g[:, :, None, None].expand(x.shape[0], x.shape[1], 1, x.shape[2])
        return every.gather(2, pick).squeeze(2)  # (B, T, d)

    def edit(self, g: Tensor) -> Edit:
        return lambda x: x + self.delta(x, g)
