"""Hawk: the recurrent base model of the ant (Griffin/Hawk, De et al. 2024; DESIGN.md §3).

Each residual block: x = x + RecurrentBlock(RMSNorm(x)); x = x + GatedMLP(RMSNorm(x)), where the
recurrent block is  Linear → GeLU  ⊙  Linear → causal Conv1D (width 4) → RG-LRU,  then Linear.
RG-LRU, per channel (gates block-diagonal over `n_heads`):
    r_t = σ(W_a x_t + b_a),  i_t = σ(W_x x_t + b_x),  log a_t = −c · softplus(−Λ) · r_t   (a = σ(Λ), c = 8)
    h_t = a_t ⊙ h_t−1 + √(1 − a_t²) ⊙ (i_t ⊙ x_t)
The sequence form scans in chunks (every chunk from h = 0 at once, then the chunks' starts carried
across, scaled by products of a from sums of log a ≤ 0: stable), the step form advances one step
from a state; the two agree (tested).
Same interface as the transformer for controllers: residual hook points after every block, an
`edit` at layer l, and a split step (`step_lower` → edit → `step_upper`). Heads: a Gaussian over
the ant's 8 torques and the next observation (weight λ in the loss).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Edit = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class HawkConfig:
    obs_dim: int
    act_dim: int = 8
    n_layers: int = 8
    d_model: int = 256
    n_heads: int = 8
    d_mlp: int = 512
    d_rnn: int | None = None  # default d_model
    conv_width: int = 4
    chunk: int = 16  # scan chunk: chunk + T/chunk elementwise steps per block (16: fastest at T ≈ 250-500)

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads or (self.d_rnn or self.d_model) % self.n_heads:
            raise ValueError(f"hawk: d_model={self.d_model} and d_rnn must be multiples of n_heads={self.n_heads}")

    @property
    def width(self) -> int:
        return self.d_rnn or self.d_model

    @property
    def mid_layer(self) -> int:
        return self.n_layers // 2

    def to_dict(self) -> dict:
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.scale


class BlockDiagonal(nn.Module):
    """A linear map that is block-diagonal over heads (the RG-LRU gates)."""

    def __init__(self, width: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.d_head = n_heads, width // n_heads
        self.weight = nn.Parameter(torch.randn(n_heads, self.d_head, self.d_head) / math.sqrt(self.d_head))
        self.bias = nn.Parameter(torch.zeros(n_heads, self.d_head))

    def forward(self, x: Tensor) -> Tensor:
        h = x.unflatten(-1, (self.n_heads, self.d_head))
        return (torch.einsum("...hi,hij->...hj", h, self.weight) + self.bias).flatten(-2)


class RGLRU(nn.Module):
    C = 8.0

    def __init__(self, width: int, n_heads: int) -> None:
        super().__init__()
        self.gate_a, self.gate_x = BlockDiagonal(width, n_heads), BlockDiagonal(width, n_heads)
        # a = σ(Λ) ∈ [0.9, 0.999]^(1/c) at init, as in Griffin
        a = torch.empty(width).uniform_(0.9**2, 0.999**2)
        self.log_lambda = nn.Parameter(torch.log(a ** (1 / self.C)) - torch.log1p(-(a ** (1 / self.C))))

    def coefficients(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(log a_t, b_t) with h_t = a_t h_t−1 + b_t."""
        r, i = torch.sigmoid(self.gate_a(x)), torch.sigmoid(self.gate_x(x))
        log_a = -self.C * F.softplus(-self.log_lambda) * r
        b = torch.sqrt((1 - torch.exp(2 * log_a)).clamp(min=1e-12)) * (i * x)
        return log_a, b

    def scan(self, x: Tensor, h0: Tensor | None, chunk: int) -> tuple[Tensor, Tensor]:
        """x (B, T, w) → all h_t (B, T, w) and the last h.

        In chunks of `chunk` steps: every chunk's recurrence from h = 0, all chunks at once (`chunk`
        elementwise steps), then the chunks' starts carried across (T / chunk steps), each step
        adding Π a_j (within the chunk, from the cumulative sum of log a ≤ 0: no overflow) times
        its start. ~6× faster forward + backward than the pairwise (t, k) form on a CPU."""
        log_a, b = self.coefficients(x)
        n_batch, steps, width = x.shape
        pad = (-steps) % chunk
        if pad:  # a = 1, b = 0 past the end: the padded steps only carry h, and are dropped
            log_a, b = F.pad(log_a, (0, 0, 0, pad)), F.pad(b, (0, 0, 0, pad))
        n_chunks = (steps + pad) // chunk
        log_a = log_a.view(n_batch, n_chunks, chunk, width)
        b = b.view(n_batch, n_chunks, chunk, width)
        a = torch.exp(log_a)
        h = torch.zeros_like(b[:, :, 0])
        local = []
        for t in range(chunk):
            h = a[:, :, t] * h + b[:, :, t]
            local.append(h)
        within = torch.stack(local, 2)  # each chunk's h_t from a zero start
        decay = torch.exp(torch.cumsum(log_a, dim=2))  # Π_{j≤t} a_j within the chunk
        carry = torch.zeros_like(x[:, 0]) if h0 is None else h0
        starts = []
        for c in range(n_chunks):
            starts.append(carry)
            carry = within[:, c, -1] + decay[:, c, -1] * carry
        hs = (within + decay * torch.stack(starts, 1)[:, :, None]).reshape(n_batch, n_chunks * chunk, width)[:, :steps]
        return hs, hs[:, -1]

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        log_a, b = self.coefficients(x)
        return torch.exp(log_a) * h + b


class HawkBlock(nn.Module):
    def __init__(self, cfg: HawkConfig) -> None:
        super().__init__()
        d, w = cfg.d_model, cfg.width
        self.norm1, self.norm2 = RMSNorm(d), RMSNorm(d)
        self.gate_branch, self.rnn_branch = nn.Linear(d, w), nn.Linear(d, w)
        self.conv = nn.Conv1d(w, w, cfg.conv_width, groups=w, padding=0)
        self.rglru = RGLRU(w, cfg.n_heads)
        self.out = nn.Linear(w, d)
        self.mlp_gate, self.mlp_up, self.mlp_down = nn.Linear(d, cfg.d_mlp), nn.Linear(d, cfg.d_mlp), nn.Linear(cfg.d_mlp, d)
        self.cfg = cfg

    def _mlp(self, x: Tensor) -> Tensor:
        y = self.norm2(x)
        return x + self.mlp_down(F.gelu(self.mlp_gate(y)) * self.mlp_up(y))

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm1(x)
        u = self.rnn_branch(y).transpose(1, 2)  # (B, w, T)
        u = self.conv(F.pad(u, (self.cfg.conv_width - 1, 0))).transpose(1, 2)
        h, _ = self.rglru.scan(u, None, self.cfg.chunk)
        x = x + self.out(F.gelu(self.gate_branch(y)) * h)
        return self._mlp(x)

    def step(self, x: Tensor, state: dict[str, Tensor]) -> Tensor:
        """x (B, d) one step; state: conv window (B, w, width − 1) and h (B, w), updated in place."""
        y = self.norm1(x)
        u = self.rnn_branch(y)
        window = torch.cat([state["conv"], u[:, :, None]], dim=2)  # (B, w, width)
        state["conv"] = window[:, :, 1:]
        u = (window * self.conv.weight[:, 0]).sum(-1) + self.conv.bias
        state["h"] = self.rglru.step(u, state["h"])
        x = x + self.out(F.gelu(self.gate_branch(y)) * state["h"])
        return self._mlp(x)


class HawkModel(nn.Module):
    """The ant base model: obs (B, T, obs_dim) → action mean/log_std (B, T, act), next-obs (B, T, obs)."""

    def __init__(self, cfg: HawkConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.obs_dim, cfg.d_model)
        self.blocks = nn.ModuleList(HawkBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model)
        self.action_mean = nn.Linear(cfg.d_model, cfg.act_dim)
        self.action_log_std = nn.Linear(cfg.d_model, cfg.act_dim)
        self.next_obs = nn.Linear(cfg.d_model, cfg.obs_dim)

    def _heads(self, x: Tensor) -> dict[str, Tensor]:
        h = self.norm(x)
        return {"action_mean": self.action_mean(h), "action_log_std": self.action_log_std(h).clamp(-5, 2),
                "next_obs": self.next_obs(h)}

    def forward(self, obs: Tensor, edit_layer: int | None = None, edit: Edit | None = None,
                return_resid: bool = False) -> dict[str, Tensor | list[Tensor]]:
        x = self.embed(obs)
        resid: list[Tensor] = []
        for layer in range(self.cfg.n_layers + 1):
            if layer == edit_layer and edit is not None:
                x = edit(x)
            if return_resid:
                resid.append(x)
            if layer < self.cfg.n_layers:
                x = self.blocks[layer](x)
        out: dict[str, Tensor | list[Tensor]] = dict(self._heads(x))
        if return_resid:
            out["resid"] = resid
        return out

    def forward_batch(self, batch: dict[str, Tensor], **kw) -> dict[str, Tensor | list[Tensor]]:
        """forward on a gathered dataset batch (irl.training.batches): the model-agnostic entry."""
        return self(batch["obs"], **kw)

    def action_nll(self, batch: dict[str, Tensor], edit_layer: int | None = None, edit: Edit | None = None) -> Tensor:
        """Mean Gaussian −log p(a_t | o_≤t) (summed over the torques) over the batch's real steps."""
        out = self.forward_batch(batch, edit_layer=edit_layer, edit=edit)
        m = batch["mask"]
        return gaussian_nll(batch["action"][m], out["action_mean"][m], out["action_log_std"][m]).mean()


    def init_state(self, batch: int, device: torch.device | str = "cpu") -> list[dict[str, Tensor]]:
        w, k = self.cfg.width, self.cfg.conv_width - 1
        return [{"conv": torch.zeros(batch, w, k, device=device), "h": torch.zeros(batch, w, device=device)}
                for _ in range(self.cfg.n_layers)]

    def step_lower(self, state: list[dict[str, Tensor]], obs: Tensor, layer: int) -> Tensor:
        """Embed one step's obs (B, obs_dim) and run the blocks below `layer` → the residual (B, d)."""
        x = self.embed(obs)
        for i in range(min(layer, self.cfg.n_layers)):
            x = self.blocks[i].step(x, state[i])
        return x

    def step_upper(self, state: list[dict[str, Tensor]], x: Tensor, layer: int) -> dict[str, Tensor]:
        for i in range(layer, self.cfg.n_layers):
            x = self.blocks[i].step(x, state[i])
        return self._heads(x)

    def step(self, state: list[dict[str, Tensor]], obs: Tensor, edit_layer: int | None = None,
             edit: Edit | None = None) -> dict[str, Tensor]:
        split = self.cfg.n_layers if edit_layer is None else edit_layer
        x = self.step_lower(state, obs, split)
        if edit is not None and edit_layer is not None:
            x = edit(x)
        return self.step_upper(state, x, split)


def gaussian_nll(a: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """−log N(a; mean, exp(log_std)²), summed over the last axis."""
    return (0.5 * ((a - mean) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)
