"""The metacontroller: discovers temporally-abstract controllers in a frozen base model's residual
stream, without labels (DESIGN.md §1 stage 3, paper §3).

It reads the residual stream e_1:T at layer l = L/2 and writes a rank-r linear edit back,
ê_t = e_t + A_t B_tᵀ e_t, with (A_t, B_t) = f_hyp(z_t):

- history      h_t = GRU(e_t, h_t−1)                           (causal, `d_history` units)
- sequence     s = f_emb(e_1:T)                                  (non-causal, `d_sequence`)
- encoder      z̃_t ~ N(μ_t, diag σ_t²) = f_enc(e_t, h_t−1, s)   (`n_z`, hidden `d_hidden`)
- switch       β_t = σ(f_switch(e_t, h_t−1, z_t−1)) ∈ [0, 1]     (causal; β_0 = 1)
- integration  z_t = β_t z̃_t + (1 − β_t) z_t−1
- decoder      (A_t, B_t) = f_hyp(z_t)                           (hypernetwork, hidden `d_hyper`)

f_emb is a bidirectional GRU whose two final states are mapped to s. Why a GRU and not a mean
over steps: the subgoal at step t depends on the *order* of the episode (which pair comes after
which), and a mean over steps is blind to order; a Transformer encoder would do as well at several
times the cost, for sequences of ~30–100 steps. `switch="always"` fixes β ≡ 1 (no temporal
abstraction: a fresh code every step), the ablation of DESIGN.md §1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

SWITCH_MODES = ("learned", "always")
# What a code is: a Gaussian z̃ ∈ R^n_z with a KL to N(0, I) (DESIGN.md §1), or one of n_z discrete
# codes, z̃ a one-hot drawn with the straight-through Gumbel-softmax and a KL to the uniform
# distribution over the n_z codes. Discrete codes are shared edits: each one must serve every
# layout and context it is chosen in, as a ground-truth subgoal controller does.
CODE_MODES = ("gaussian", "categorical")
# How the KL term is counted: at every step (DESIGN.md §1), or weighted by β_t — only the share of
# z̃_t that enters z_t pays, so holding a code is free and switching costs information.
RATE_MODES = ("step", "switch")


@dataclass(frozen=True)
class MetacontrollerConfig:
    """Paper sizes for the grid: GRU 32, sequence embedding 32, n_z 8, hidden 64, hypernet 32, rank 16."""

    d_model: int
    layer: int
    n_z: int = 8
    d_history: int = 32
    d_sequence: int = 32
    d_hidden: int = 64
    d_hyper: int = 32
    rank: int = 16
    switch: str = "learned"
    rate: str = "step"
    # Scale of logistic noise added to the switch logit while training (sampled codes): a noisy
    # gate is only reliable near 0 or 1, so β is pushed to be binary instead of the running mean
    # β_t ≈ 1/(steps since the last switch) that pools noisy z̃ samples (README "Controller
    # discovery"). 0 = the plain sigmoid gate of DESIGN.md §1. Never used when acting.
    switch_noise: float = 0.0
    # Train with the gate the agent acts with: z_t integrates with 1[β_t > 0.5] (a held code or a
    # fresh one, never a blend), the gradient passing straight through to β_t. The soft gate can
    # pool the noisy z̃ of a subgoal as a running mean (β_t ≈ 1/k); the hard one cannot. Off: the
    # plain sigmoid gate of DESIGN.md §1.
    hard_switch: bool = False
    code: str = "gaussian"  # CODE_MODES

    def __post_init__(self) -> None:
        if self.switch not in SWITCH_MODES:
            raise ValueError(f"switch={self.switch!r}: expected one of {SWITCH_MODES}")
        if self.code not in CODE_MODES:
            raise ValueError(f"code={self.code!r}: expected one of {CODE_MODES}")
        if self.rate not in RATE_MODES:
            raise ValueError(f"rate={self.rate!r}: expected one of {RATE_MODES}")
        if self.switch_noise < 0:
            raise ValueError(f"switch_noise={self.switch_noise}: must be >= 0")
        for name in ("d_model", "n_z", "d_history", "d_sequence", "d_hidden", "d_hyper", "rank"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.hard_switch:  # off: the dict (and the fingerprints built on it) of older runs
            del d["hard_switch"]
        if self.code == "gaussian":  # likewise
            del d["code"]
        return d


def _mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out))


class Metacontroller(nn.Module):
    """`forward(e, mask)` → codes, switch values and the per-step controllers for a residual sequence."""

    def __init__(self, cfg: MetacontrollerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, h, s, z = cfg.d_model, cfg.d_history, cfg.d_sequence, cfg.n_z
        self.history = nn.GRU(d, h, batch_first=True)
        self.sequence = nn.GRU(d, s, batch_first=True, bidirectional=True)
        self.sequence_out = nn.Linear(2 * s, s)
        self.encoder = _mlp(d + h + s, cfg.d_hidden, (2 if cfg.code == "gaussian" else 1) * z)
        self.switch = _mlp(d + h + z, cfg.d_hidden, 1)
        self.hyper = _mlp(z, cfg.d_hyper, 2 * d * cfg.rank)
        # A_t starts at zero (the edit starts as the identity); B_t keeps the default init so the
        # gradient into A is not zero.
        with torch.no_grad():
            self.hyper[2].weight[: d * cfg.rank].zero_()
            self.hyper[2].bias[: d * cfg.rank].zero_()

    # ------------------------------------------------------------------ parts
    def history_states(self, e: Tensor) -> Tensor:
        """(B, T, d) → h_t−1 for every t, (B, T, d_history), with h_−1 = 0."""
        h, _ = self.history(e)
        return torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)

    def sequence_embedding(self, e: Tensor, lengths: Tensor) -> Tensor:
        """s = f_emb(e_1:T): (B, T, d), (B,) → (B, d_sequence); padding is never read."""
        packed = pack_padded_sequence(e, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        _, last = self.sequence(packed)  # (2, B, s): forward and backward final states
        return self.sequence_out(torch.cat([last[0], last[1]], dim=-1))

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """z (..., n_z) → A, B (..., d, r)."""
        d, r = self.cfg.d_model, self.cfg.rank
        ab = self.hyper(z)
        return ab[..., : d * r].unflatten(-1, (d, r)), ab[..., d * r :].unflatten(-1, (d, r))

    def switch_prob(self, e_t: Tensor, h_prev: Tensor, z_prev: Tensor, noise: Tensor | None = None,
                    pre: Tensor | None = None) -> Tensor:
        """β_t from (e_t, h_t−1, z_t−1): (B, d), (B, h), (B, n_z) → (B,); `noise` (B,) is added to
        the logit (training with `switch_noise`). `pre`: f_switch's first layer on (e_t, h_t−1),
        computed for a whole sequence at once (`switch_inputs`); then only z_t−1's part is added."""
        if pre is None:
            pre = self.switch_inputs(e_t, h_prev)
        w_z = self.switch[0].weight[:, -z_prev.shape[-1]:]
        logit = self.switch[2](torch.relu(pre + z_prev @ w_z.t()))[..., 0]
        return torch.sigmoid(logit if noise is None else logit + noise)

    def switch_inputs(self, e: Tensor, h_prev: Tensor) -> Tensor:
        """f_switch's first layer on (e_t, h_t−1), without z_t−1's part: (..., d), (..., h) → (..., d_hidden)."""
        first, n_eh = self.switch[0], e.shape[-1] + h_prev.shape[-1]
        return nn.functional.linear(torch.cat([e, h_prev], dim=-1), first.weight[:, :n_eh], first.bias)

    @staticmethod
    def apply_edit(e: Tensor, a: Tensor, b: Tensor) -> Tensor:
        """ê = e + A Bᵀ e for e (..., d), A and B (..., d, r)."""
        return e + torch.einsum("...dr,...r->...d", a, torch.einsum("...dr,...d->...r", b, e))

    def apply_codes(self, e: Tensor, z: Tensor) -> Tensor:
        """ê = e + A(z) B(z)ᵀ e for e (..., d) and codes z (..., n_z), the same edit as
        `apply_edit(e, *decode(z))` without forming A and B (..., d, r): the decoder's last layer is
        linear in its hidden units g, so Bᵀe and A·(Bᵀe) are two matrix products over (r × d_hyper)
        features. In a teacher-forced pass A and B are 2·d·r numbers per step (4096 in the grid)
        against d_hyper = 32 hidden units; forming them was most of a discovery step's time."""
        d, r = self.cfg.d_model, self.cfg.rank
        first, last = self.hyper[0], self.hyper[2]
        g = torch.relu(first(z))  # (..., k)
        k = g.shape[-1]
        w_a, w_b = last.weight[: d * r].view(d, r * k), last.weight[d * r :].view(d, r * k)
        b_a, b_b = last.bias[: d * r].view(d, r), last.bias[d * r :].view(d, r)
        u = (e @ w_b).unflatten(-1, (r, k)).mul(g.unsqueeze(-2)).sum(-1) + e @ b_b  # Bᵀe: (..., r)
        return e + (u.unsqueeze(-1) * g.unsqueeze(-2)).flatten(-2) @ w_a.t() + u @ b_a.t()

    # ------------------------------------------------------------------ whole sequences
    def forward(self, e: Tensor, mask: Tensor, sample: bool = True, generator: torch.Generator | None = None,
                switch_noise: bool = True, controllers: bool = True) -> dict[str, Tensor]:
        """Teacher-forced pass over residual sequences e (B, T, d) with mask (B, T).

        Returns mu, logvar (B, T, n_z) of z̃ (categorical codes: the probabilities and their logs),
        beta (B, T), z (B, T, n_z), and the controllers A, B (B, T, d, r). `sample`: z̃ = μ + σ·ε
        (training); otherwise z̃ = μ (categorical: a Gumbel-max draw, or the most likely code).
        `switch_noise`: whether `cfg.switch_noise` applies to a sampled pass (off in a curriculum's
        first phase; no draw is made then, so the random stream is that of a noise-free model).
        `controllers`: also decode A, B (off: `apply_codes` edits from z without them).
        """
        e = e.float()
        lengths = mask.sum(1)
        h_prev = self.history_states(e)
        s = self.sequence_embedding(e, lengths)
        stats = self.encoder(torch.cat([e, h_prev, s[:, None].expand(-1, e.shape[1], -1)], dim=-1))
        if self.cfg.code == "categorical":
            mu, logvar, z_tilde = self._categorical(stats, sample, generator)
        else:
            mu, logvar = stats.chunk(2, dim=-1)
            logvar = logvar.clamp(-10.0, 5.0)
            if sample:
                noise = torch.randn(mu.shape, generator=generator).to(mu.device) if generator is not None else torch.randn_like(mu)
                z_tilde = mu + torch.exp(0.5 * logvar) * noise
            else:
                z_tilde = mu
        z_prev = torch.zeros_like(z_tilde[:, 0])
        noise = None
        if sample and switch_noise and self.cfg.switch_noise > 0:  # logistic noise: log u − log(1 − u)
            u = (torch.rand(e.shape[:2], generator=generator) if generator is not None else torch.rand(e.shape[:2]))
            u = u.clamp(1e-6, 1 - 1e-6).to(e.device)
            noise = self.cfg.switch_noise * (u.log() - (-u).log1p())
        # per-step slices as views of one unbind each (a slice's backward writes a whole (B, T, ·) tensor)
        pre, z_tildes = self.switch_inputs(e, h_prev).unbind(1), z_tilde.unbind(1)
        es, hs = e.unbind(1), h_prev.unbind(1)
        noises = noise.unbind(1) if noise is not None else None
        zs, betas, gates = [], [], []
        for t in range(e.shape[1]):
            if t == 0 or self.cfg.switch == "always":
                beta = torch.ones_like(z_prev[:, 0])
            else:
                beta = self.switch_prob(es[t], hs[t], z_prev, None if noises is None else noises[t], pre=pre[t])
            gate = beta
            if self.cfg.hard_switch and t > 0:  # forward: the acting rule; backward: dβ
                gate = beta + ((beta > 0.5).to(beta.dtype) - beta).detach()
            z_prev = gate[:, None] * z_tildes[t] + (1 - gate[:, None]) * z_prev
            zs.append(z_prev)
            betas.append(beta)
            gates.append(gate)
        z = torch.stack(zs, dim=1)
        out = {"mu": mu, "logvar": logvar, "beta": torch.stack(betas, dim=1), "gate": torch.stack(gates, dim=1), "z": z}
        if controllers:
            out["A"], out["B"] = self.decode(z)
        return out

    @staticmethod
    def _categorical(logits: Tensor, sample: bool, generator: torch.Generator | None) -> tuple[Tensor, Tensor, Tensor]:
        """(probabilities, log-probabilities, z̃) for code logits (B, T, K): z̃ the one-hot of a
        Gumbel-max draw with the softmax's gradient (straight through), or of the argmax."""
        logp = torch.log_softmax(logits, dim=-1)
        if sample:
            u = torch.rand(logits.shape, generator=generator).to(logits.device) if generator is not None else torch.rand_like(logits)
            scores = logp - (-u.clamp(1e-9, 1 - 1e-9).log()).log()
        else:
            scores = logp
        hard = nn.functional.one_hot(scores.argmax(-1), logits.shape[-1]).to(logits.dtype)
        soft = torch.softmax(scores, dim=-1)
        return logp.exp(), logp, hard + soft - soft.detach() if sample else hard

    def rate(self, out: dict[str, Tensor], mask: Tensor) -> Tensor:
        """The KL term per real step: KL(N(μ_t, Σ_t) ‖ N(0, I)) averaged over the steps in `mask`,
        each weighted by the gate that integrated z̃_t when `cfg.rate == "switch"` (β_t, or with
        `hard_switch` 1[β_t > 0.5] with β_t's gradient)."""
        if self.cfg.code == "categorical":  # KL(q ‖ uniform over the K codes); mu, logvar hold p, log p
            kl = (out["mu"] * out["logvar"]).sum(-1) + math.log(self.cfg.n_z)
        else:
            kl = kl_to_standard_normal(out["mu"], out["logvar"])
        if self.cfg.rate == "switch":
            kl = kl * out.get("gate", out["beta"])
        return kl[mask].mean()

    def edit(self, a: Tensor, b: Tensor):
        """The residual edit for the base model's `edit=` argument (per-step controllers)."""
        return lambda x: self.apply_edit(x, a.to(x.dtype), b.to(x.dtype))


def sequence_edit(mc: nn.Module, mask: Tensor, held: dict[str, Tensor], **forward_kw: Any) -> Callable[[Tensor], Tensor]:
    """The base model's `edit=` for a teacher-forced pass: runs `mc` (a metacontroller, or CompILE)
    on the residual sequence it receives at its layer, keeps the outputs in `held` (without the
    per-step A, B), and applies each step's controller from its code."""

    def edit(x: Tensor) -> Tensor:
        held.update(mc(x, mask, controllers=False, **forward_kw))
        return mc.apply_codes(x.float(), held["z"]).to(x.dtype)

    return edit


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(μ, diag e^logvar) ‖ N(0, I)) summed over the last dim."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)
