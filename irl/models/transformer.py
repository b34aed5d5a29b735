"""Causal pre-norm Transformer over pinpad trajectories (DESIGN.md §3, grid base model).

One token per environment step (plus, for the `prefix` encoding, one token per layout object
before the first step). Relative-position attention biases (T5 buckets, causal). The residual
stream after the embedding and after every block passes a named hook point `hook_resid[l]`,
l = 0..L, so probes, controllers and tests attach without editing the model; `forward(...,
edit_layer=l, edit=f)` runs "blocks below l → x ← f(x) → blocks above", the one path used by
ground-truth controllers, the metacontroller, internal RL and serving.

Observation encodings (`obs_encoding`):
- `onehot` (paper): the G²(W+O+1) one-hot observation through one linear map, every step.
- `prefix`: the colored cells and walls as prefix tokens (object type + cell embeddings), then
  one token per step embedding the agent's cell. See ../shared/CPU-PROTOTYPE.md for why.
- `egocentric`: one token per step, the same information as the one-hot seen from the agent:
  its cell, the content of its cell (which color it stands on: visits become visible), and each
  object's offset from the agent (object type × relative offset embeddings, summed).
- `egocentric_local`: `egocentric` plus what each of the four neighbouring cells holds (a color,
  a wall, floor, or the edge; direction × content embeddings): the same observation, with the
  cells one move away named outright, since most closed-loop failures of `egocentric` models
  were moves into a wrong color next to the agent (README "Finding the regime").
Losses: −log p(a_t | o_≤t) − λ·log p(o_t+1 | o_≤t), where the next observation is represented by
the agent's next cell (the only part of the grid observation that changes).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from irl.envs.grid_paths import ACTION_DELTAS

Edit = Callable[[Tensor], Tensor]
ENCODINGS = ("onehot", "prefix", "egocentric", "egocentric_local")
EGOCENTRIC = ("egocentric", "egocentric_local")


@dataclass(frozen=True)
class TransformerConfig:
    """Base model shape; the paper's grid model is 6 layers, d 256, 4 heads × 64, MLP 512."""

    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    pos_buckets: int = 32
    pos_max_distance: int = 128
    obs_encoding: str = "prefix"
    grid_size: int = 7
    n_colors: int = 8
    n_walls: int = 4
    n_actions: int = 4
    # > 0: the blocks from the controlled layer L/2 up attend only to the last `local_window` steps
    # (the current one included; the layout prefix stays visible), so whatever they need of the
    # episode's history — the subgoal — must pass through the residual stream at L/2, where the
    # controllers write it. 0: full causal attention in every block (the paper's model).
    local_window: int = 0

    def __post_init__(self) -> None:
        if self.local_window < 0:
            raise ValueError(f"local_window={self.local_window}: expected 0 (off) or a number of steps >= 1")
        if self.obs_encoding not in ENCODINGS:
            raise ValueError(f"obs_encoding={self.obs_encoding!r}: expected one of {ENCODINGS}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}")

    @property
    def n_cells(self) -> int:
        return self.grid_size * self.grid_size

    @property
    def n_prefix(self) -> int:
        return self.n_colors + self.n_walls if self.obs_encoding == "prefix" else 0

    @property
    def mid_layer(self) -> int:
        """l = L/2, where controllers read and write the residual stream."""
        return self.n_layers // 2

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.local_window:  # off: the dict (and the fingerprints and hashes built on it) of older runs
            del d["local_window"]
        return d

    def windowed(self, layer: int) -> bool:
        """Whether block `layer` attends to the last `local_window` steps only."""
        return bool(self.local_window) and layer >= self.mid_layer


def relative_bucket(distance: Tensor, n_buckets: int, max_distance: int) -> Tensor:
    """T5 causal buckets of distance = query − key ≥ 0: exact below n/2, log-spaced up to max."""
    exact = n_buckets // 2
    log_bucket = exact + (
        torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact) * (n_buckets - exact)
    ).long()
    return torch.where(distance < exact, distance, log_bucket.clamp(max=n_buckets - 1))


class HookPoint(nn.Identity):
    """A named identity on the residual stream: attach torch forward hooks to read or replace it."""


class Block(nn.Module):
    """x = x + attn(ln(x)); x = x + mlp(ln(x))."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.n_heads, self.d_head = cfg.n_heads, cfg.d_model // cfg.n_heads
        self.scale = 1.0 / math.sqrt(self.d_head)
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_mlp), nn.ReLU(), nn.Linear(cfg.d_mlp, cfg.d_model))

    def forward(self, x: Tensor, bias: Tensor, cache: tuple[Tensor, Tensor, int] | None = None) -> Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.n_heads, self.d_head).permute(2, 0, 3, 1, 4)  # (B, H, T, dh) each
        if cache is not None:  # step mode: append this step's keys/values, attend to all so far
            k_cache, v_cache, length = cache
            k_cache[:, :, length : length + t] = k
            v_cache[:, :, length : length + t] = v
            k, v = k_cache[:, :, : length + t], v_cache[:, :, : length + t]
        # Written out rather than F.scaled_dot_product_attention: with an additive float mask its CPU
        # kernel took 2.3x as long for one query (the KV-cached step of rollouts and internal RL) and
        # the same at training shapes (torch 2.13, this 2-core machine).
        att = torch.softmax(q @ k.transpose(-1, -2) * self.scale + bias, dim=-1) @ v  # (B, H, T, dh)
        x = x + self.out(att.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class PinpadTransformer(nn.Module):
    """The grid base model: causal Transformer, action head, next-cell head, hook points."""

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, g2 = cfg.d_model, cfg.n_cells
        n_channels = cfg.n_colors + cfg.n_walls + 1
        if cfg.obs_encoding in EGOCENTRIC:
            span = 2 * cfg.grid_size - 1
            self.agent_cell = nn.Embedding(g2, d)
            self.standing_on = nn.Embedding(cfg.n_colors + 1, d)  # a color, or n_colors = floor
            self.relative = nn.Embedding((cfg.n_colors + cfg.n_walls) * span * span, d)
            if cfg.obs_encoding == "egocentric_local":  # per move: an object kind, floor or edge
                self.neighbour = nn.Embedding(len(ACTION_DELTAS) * (cfg.n_colors + cfg.n_walls + 2), d)
        elif cfg.obs_encoding == "onehot":
            # Linear(G²·channels → d) applied to the one-hot, stored as (G², channels, d) so that a
            # token is a sum of rows: identical to the matrix product, without the 637-wide input.
            self.obs_weight = nn.Parameter(torch.randn(g2, n_channels, d) / math.sqrt(n_channels * 2))
            self.obs_bias = nn.Parameter(torch.zeros(d))
        else:
            self.object_type = nn.Embedding(cfg.n_colors + cfg.n_walls, d)
            self.cell = nn.Embedding(g2, d)
            self.agent_cell = nn.Embedding(g2, d)
            self.step_type = nn.Parameter(torch.zeros(d))
        self.pos_bias = nn.Embedding(cfg.pos_buckets, cfg.n_heads)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.hook_resid = nn.ModuleList(HookPoint() for _ in range(cfg.n_layers + 1))
        self.ln_f = nn.LayerNorm(d)
        self.action_head = nn.Linear(d, cfg.n_actions)
        self.next_cell_head = nn.Linear(d, g2)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    # ------------------------------------------------------------------ embedding
    def embed_layout(self, colors: Tensor, walls: Tensor) -> Tensor:
        """(B, n_colors), (B, n_walls) cells → (B, P, d) prefix tokens, or (B, 1, d) layout term."""
        cfg = self.cfg
        cells = torch.cat([colors, walls], dim=1).long()  # (B, C+W)
        kinds = torch.arange(cfg.n_colors + cfg.n_walls, device=cells.device)
        if cfg.obs_encoding == "prefix":
            return self.object_type(kinds)[None] + self.cell(cells)  # (B, P, d)
        if cfg.obs_encoding in EGOCENTRIC:
            return cells  # (B, C+W) object cells; tokens are built per step
        return self.obs_weight[cells, kinds].sum(dim=1, keepdim=True) + self.obs_bias  # (B, 1, d)

    def embed_steps(self, layout: Tensor, pos: Tensor) -> Tensor:
        """(B, T) agent cells → (B, T, d) step tokens."""
        cfg = self.cfg
        pos = pos.long()
        if cfg.obs_encoding == "prefix":
            return self.agent_cell(pos) + self.step_type
        if cfg.obs_encoding in EGOCENTRIC:
            g, span = cfg.grid_size, 2 * cfg.grid_size - 1
            cells = layout  # (B, K) with K = n_colors + n_walls
            on_color = cells[:, None, : cfg.n_colors] == pos[:, :, None]  # (B, T, n_colors)
            standing = torch.where(on_color.any(-1), on_color.float().argmax(-1), cfg.n_colors)
            dr = cells[:, None, :] // g - pos[:, :, None] // g + g - 1  # (B, T, K)
            dc = cells[:, None, :] % g - pos[:, :, None] % g + g - 1
            kinds = torch.arange(cells.shape[1], device=pos.device)
            rel = self.relative((kinds * span + dr) * span + dc).sum(dim=2)  # (B, T, d)
            tok = self.agent_cell(pos) + self.standing_on(standing) + rel
            if cfg.obs_encoding == "egocentric_local":
                tok = tok + self.neighbour(self._neighbour_index(cells, pos)).sum(dim=2)
            return tok
        return layout + self.obs_weight[pos, -1]

    def _neighbour_index(self, cells: Tensor, pos: Tensor) -> Tensor:
        """(B, K) object cells, (B, T) agent cells → (B, T, 4) embedding index per move: the object
        kind in that cell (0..K−1), K for floor, K+1 beyond the edge."""
        g, k = self.cfg.grid_size, cells.shape[1]
        moves = torch.as_tensor(ACTION_DELTAS, device=pos.device)  # (4, 2) (dr, dc) per action
        r = pos[:, :, None] // g + moves[:, 0]  # (B, T, 4)
        c = pos[:, :, None] % g + moves[:, 1]
        inside = (r >= 0) & (r < g) & (c >= 0) & (c < g)
        hit = cells[:, None, None, :] == (r * g + c)[..., None]  # (B, T, 4, K)
        content = torch.where(hit.any(-1), hit.float().argmax(-1), k)
        content = torch.where(inside, content, k + 1)
        return torch.arange(len(ACTION_DELTAS), device=pos.device) * (k + 2) + content

    def attention_bias(self, q_pos: Tensor, k_len: int, window: int = 0) -> Tensor:
        """(H, Tq, Tk) relative-position bias, −inf above the diagonal (causal) and, with `window`,
        on step tokens `window` or more steps back (prefix tokens stay visible)."""
        k_pos = torch.arange(k_len, device=q_pos.device)
        dist = q_pos[:, None] - k_pos[None, :]  # (Tq, Tk)
        bias = self.pos_bias(relative_bucket(dist.clamp(min=0), self.cfg.pos_buckets, self.cfg.pos_max_distance))
        bias = bias.permute(2, 0, 1)  # (H, Tq, Tk)
        hidden = dist < 0
        if window:
            hidden = hidden | ((dist >= window) & (k_pos[None, :] >= self.cfg.n_prefix))
        return bias.masked_fill(hidden, float("-inf"))

    def layer_biases(self, q_pos: Tensor, k_len: int) -> list[Tensor]:
        """The attention bias of every block (windowed blocks get the windowed one)."""
        full = self.attention_bias(q_pos, k_len)
        local = self.attention_bias(q_pos, k_len, self.cfg.local_window) if self.cfg.local_window else full
        return [local if self.cfg.windowed(i) else full for i in range(self.cfg.n_layers)]

    # ------------------------------------------------------------------ forward
    def forward(
        self,
        colors: Tensor,
        walls: Tensor,
        pos: Tensor,
        edit_layer: int | None = None,
        edit: Edit | None = None,
        return_resid: bool = False,
    ) -> dict[str, Tensor | list[Tensor]]:
        """Parallel forward over whole episodes.

        colors (B, n_colors), walls (B, n_walls), pos (B, T) agent cell at each step.
        Returns `action_logits` (B, T, n_actions), `next_cell_logits` (B, T, G²) and, with
        return_resid, `resid`: the L+1 residual streams at the step tokens, each (B, T, d).
        `edit` replaces the residual at layer `edit_layer` (0 = after embedding) by edit(x),
        for step tokens only (the prefix tokens are layout, not behaviour).
        """
        layout = self.embed_layout(colors, walls)
        steps = self.embed_steps(layout, pos)
        p = self.cfg.n_prefix
        x = torch.cat([layout, steps], dim=1) if p else steps  # (B, P+T, d)
        biases = self.layer_biases(torch.arange(x.shape[1], device=x.device), x.shape[1])
        resid: list[Tensor] = []
        for layer in range(self.cfg.n_layers + 1):
            if layer == edit_layer and edit is not None:
                x = torch.cat([x[:, :p], edit(x[:, p:])], dim=1) if p else edit(x)
            x = self.hook_resid[layer](x)
            if return_resid:
                resid.append(x[:, p:])
            if layer < self.cfg.n_layers:
                x = self.blocks[layer](x, biases[layer])
        out: dict[str, Tensor | list[Tensor]] = self._heads(x[:, p:])
        if return_resid:
            out["resid"] = resid
        return out

    def forward_batch(self, batch: dict[str, Tensor], **kw) -> dict[str, Tensor | list[Tensor]]:
        """forward on a gathered dataset batch (irl.training.batches): the model-agnostic entry."""
        return self(batch["colors"], batch["walls"], batch["pos"], **kw)

    def action_nll(self, batch: dict[str, Tensor], edit_layer: int | None = None, edit: Edit | None = None) -> Tensor:
        """Mean −log p(a_t | o_≤t) of the batch's recorded actions over its real steps."""
        out = self.forward_batch(batch, edit_layer=edit_layer, edit=edit)
        m = batch["mask"]
        return F.cross_entropy(out["action_logits"][m], batch["action"][m])

    def _heads(self, x: Tensor) -> dict[str, Tensor | list[Tensor]]:
        h = self.ln_f(x)
        return {"action_logits": self.action_head(h), "next_cell_logits": self.next_cell_head(h)}

    # ------------------------------------------------------------------ step mode
    def init_cache(self, colors: Tensor, walls: Tensor, max_steps: int) -> dict:
        """KV cache for B episodes stepping together; the prefix (if any) is encoded now."""
        cfg = self.cfg
        b = colors.shape[0]
        total = cfg.n_prefix + max_steps
        d_head = cfg.d_model // cfg.n_heads
        kv = [
            (torch.zeros(b, cfg.n_heads, total, d_head, device=colors.device),
             torch.zeros(b, cfg.n_heads, total, d_head, device=colors.device))
            for _ in range(cfg.n_layers)
        ]
        cache = {"kv": kv, "length": 0, "layout": self.embed_layout(colors, walls), "max_len": total}
        if cfg.n_prefix:
            x = cache["layout"]
            bias = self.attention_bias(torch.arange(x.shape[1], device=x.device), x.shape[1])
            for layer, block in enumerate(self.blocks):
                x = block(x, bias, (*kv[layer], 0))
            cache["length"] = x.shape[1]
        return cache

    def step(self, cache: dict, pos: Tensor, edit_layer: int | None = None, edit: Edit | None = None,
             return_resid: bool = False) -> dict[str, Tensor | list[Tensor]]:
        """One step for B episodes: pos (B,) → logits (B, ·) and optionally resid (L+1 × (B, d))."""
        resid: list[Tensor] = []
        split = self.cfg.n_layers + 1 if edit_layer is None else edit_layer
        x = self.step_lower(cache, pos, split, resid if return_resid else None)
        if edit_layer is not None and edit is not None:
            x = edit(x)
        out = self.step_upper(cache, x, split, resid if return_resid else None)
        if return_resid:
            out["resid"] = resid
        return out

    def step_lower(self, cache: dict, pos: Tensor, layer: int, resid: list[Tensor] | None = None) -> Tensor:
        """First half of a step: embed pos (B,) and run the blocks below `layer` → (B, 1, d), the
        residual at `layer` before any edit. Finish the step with `step_upper` (same `layer`)."""
        length = cache["length"]
        if length >= cache["max_len"]:
            raise ValueError(f"KV cache full ({cache['max_len']} tokens): init_cache with a larger max_steps")
        x = self.embed_steps(cache["layout"], pos[:, None])  # (B, 1, d)
        biases = self.layer_biases(torch.tensor([length], device=x.device), length + 1)
        for i in range(min(layer, self.cfg.n_layers + 1)):
            x = self.hook_resid[i](x)
            if resid is not None:
                resid.append(x[:, 0])
            if i < self.cfg.n_layers:
                x = self.blocks[i](x, biases[i], (*cache["kv"][i], length))
        return x

    def step_upper(self, cache: dict, x: Tensor, layer: int, resid: list[Tensor] | None = None) -> dict[str, Tensor]:
        """Second half of a step: from the (possibly edited) residual x (B, 1, d) at `layer` to the
        heads; advances the cache by one token."""
        length = cache["length"]
        biases = self.layer_biases(torch.tensor([length], device=x.device), length + 1)
        for i in range(layer, self.cfg.n_layers + 1):
            x = self.hook_resid[i](x)
            if resid is not None:
                resid.append(x[:, 0])
            if i < self.cfg.n_layers:
                x = self.blocks[i](x, biases[i], (*cache["kv"][i], length))
        cache["length"] = length + 1
        return {k: v[:, 0] for k, v in self._heads(x).items()}
