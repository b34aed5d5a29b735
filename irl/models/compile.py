"""CompILE (Kipf et al. 2019) adapted to control the base model: the baseline of DESIGN.md §1.

Training (on D*, base frozen) follows CompILE: a bidirectional GRU over the residual sequence
e_1:T at layer l proposes `n_segments` boundaries, each a relaxed one-hot over positions
(Gumbel-softmax, each after the previous one), which cut the episode into soft segments; a
Gaussian code z_k per segment is pooled from the encoder states inside it; the code of step t is
Σ_k mask_k(t) z_k. Instead of CompILE's action decoder, the same hypernetwork as the
metacontroller turns z_t into a rank-r residual edit, and the reconstruction loss is the base
model's action NLL under that edit (+ α·KL of each z_k to N(0, I)).

For internal RL the model needs what CompILE lacks, a *causal* termination signal: a switch
β_t = σ(f_switch(e_t, h_t−1, z_t−1)) with h_t = GRU(e_t, h_t−1), trained jointly by binary
cross-entropy to fire where CompILE's own (hard) boundaries fall. It then exposes the
metacontroller's interface (`history`, `switch_prob`, `decode`, `apply_edit`, `cfg.layer`,
`cfg.n_z`, `cfg.d_history`, `cfg.switch`), so the same abstract-action environment and the same
internal RL run on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from irl.models.metacontroller import Metacontroller, MetacontrollerConfig, kl_to_standard_normal


@dataclass(frozen=True)
class CompILEConfig:
    d_model: int
    layer: int
    n_z: int = 8
    n_segments: int = 4
    d_encoder: int = 32
    d_history: int = 32
    d_hidden: int = 64
    d_hyper: int = 32
    rank: int = 16
    temperature: float = 1.0
    switch: str = "learned"

    @property
    def code(self) -> str:
        """CompILE's per-segment codes are Gaussian (the internal-RL policy's head follows this)."""
        return "gaussian"

    def to_dict(self) -> dict:
        return asdict(self)


class CompILEControl(nn.Module):
    def __init__(self, cfg: CompILEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # the causal switch, history GRU and hypernetwork decoder are the metacontroller's modules
        self.core = Metacontroller(MetacontrollerConfig(d_model=cfg.d_model, layer=cfg.layer, n_z=cfg.n_z,
                                                        d_history=cfg.d_history, d_hidden=cfg.d_hidden,
                                                        d_hyper=cfg.d_hyper, rank=cfg.rank))
        self.encoder = nn.GRU(cfg.d_model, cfg.d_encoder, batch_first=True, bidirectional=True)
        self.boundary = nn.Sequential(nn.Linear(2 * cfg.d_encoder, cfg.d_hidden), nn.ReLU(),
                                      nn.Linear(cfg.d_hidden, cfg.n_segments))
        self.code = nn.Sequential(nn.Linear(2 * cfg.d_encoder, cfg.d_hidden), nn.ReLU(), nn.Linear(cfg.d_hidden, 2 * cfg.n_z))

    # the metacontroller interface used by the abstract-action environment
    @property
    def history(self) -> nn.GRU:
        return self.core.history

    def switch_prob(self, e_t: Tensor, h_prev: Tensor, z_prev: Tensor) -> Tensor:
        return self.core.switch_prob(e_t, h_prev, z_prev)

    def decode(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.core.decode(z)

    apply_edit = staticmethod(Metacontroller.apply_edit)

    def apply_codes(self, e: Tensor, z: Tensor) -> Tensor:
        return self.core.apply_codes(e, z)

    @staticmethod
    def rate(out: dict[str, Tensor], mask: Tensor) -> Tensor:
        """The KL term per real step: Σ_k KL(z_k ‖ N(0, I)) over the segments, per step in `mask`."""
        return kl_to_standard_normal(out["mu"], out["logvar"]).sum() / mask.sum()

    def forward(self, e: Tensor, mask: Tensor, sample: bool = True, generator: torch.Generator | None = None,
                switch_noise: bool = True, controllers: bool = True) -> dict[str, Tensor]:
        """Segments, codes and the per-step controllers (`controllers`) for residual sequences e (B, T, d).
        `switch_noise` is the metacontroller's argument, accepted for one calling convention:
        CompILE's segments have no switch noise."""
        e = e.float()
        b, t_max, _ = e.shape
        lengths = mask.sum(1)
        packed = pack_padded_sequence(e, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        feats, _ = pad_packed_sequence(self.encoder(packed)[0], batch_first=True, total_length=t_max)  # (B, T, 2h)
        logits = self.boundary(feats)  # (B, T, K)
        valid = mask.float()
        after_prev = valid.clone()  # P(position t is after the previous boundary)
        masks, mus, logvars = [], [], []
        for k in range(self.cfg.n_segments):
            if k == self.cfg.n_segments - 1:  # the last segment runs to the end
                ends = torch.zeros_like(valid)
                ends[torch.arange(b), (lengths - 1).clamp(min=0)] = 1.0
            else:
                lk = logits[..., k] + torch.log(after_prev.clamp(min=1e-6))
                lk = lk.masked_fill(~mask, -1e9)
                if sample:
                    u = torch.rand(lk.shape, generator=generator).to(lk.device).clamp(1e-6, 1 - 1e-6)
                    lk = lk - torch.log(-torch.log(u))
                ends = torch.softmax(lk / self.cfg.temperature, dim=-1)
            ended_before = torch.cumsum(ends, dim=1) - ends  # P(boundary < t)
            seg = (after_prev - ended_before).clamp(min=0) * valid  # soft membership of segment k
            masks.append(seg)
            pooled = (seg[..., None] * feats).sum(1) / seg.sum(1, keepdim=True).clamp(min=1e-6)
            mu, logvar = self.code(pooled).chunk(2, dim=-1)
            mus.append(mu)
            logvars.append(logvar.clamp(-10.0, 5.0))
            after_prev = (after_prev - seg).clamp(min=0)  # positions not yet covered
        seg_masks = torch.stack(masks, dim=-1)  # (B, T, K)
        mu, logvar = torch.stack(mus, 1), torch.stack(logvars, 1)  # (B, K, n_z)
        if sample:
            noise = torch.randn(mu.shape, generator=generator).to(mu.device) if generator is not None else torch.randn_like(mu)
            z_k = mu + torch.exp(0.5 * logvar) * noise
        else:
            z_k = mu
        z = torch.einsum("btk,bkz->btz", seg_masks, z_k)
        # CompILE's hard boundaries (the segment holding the most mass changes) supervise the switch
        hard = seg_masks.argmax(-1)
        target = torch.zeros_like(valid)
        target[:, 1:] = (hard[:, 1:] != hard[:, :-1]).float()
        h_prev = self.core.history_states(e)
        z_prev = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], dim=1).detach()
        beta_logit = self.core.switch(torch.cat([e, h_prev, z_prev], dim=-1))[..., 0]
        switch_loss = F.binary_cross_entropy_with_logits(beta_logit[:, 1:][mask[:, 1:]], target[:, 1:][mask[:, 1:]])
        beta = torch.sigmoid(beta_logit)
        beta = torch.cat([torch.ones_like(beta[:, :1]), beta[:, 1:]], dim=1)
        out = {"mu": mu, "logvar": logvar, "z": z, "beta": beta, "segments": seg_masks, "switch_loss": switch_loss}
        if controllers:
            out["A"], out["B"] = self.decode(z)
        return out
