"""KV caches for many independent episodes, each at its own step, stepped in one forward pass.

`PinpadTransformer.step` advances a batch of episodes in lockstep (one shared cache length), which
suits rollouts and RL. A service instead holds sessions that start and act at different times.
`SlotPool` keeps one cache row per *slot* with its own length and steps any subset of slots
together: the new keys/values are written at each row's own position, and attention masks the
keys past each row's length and biases by each row's own relative distances. For rows that share
a length this is the same computation as `PinpadTransformer.step` (tested).

An act is ~100 small eager ops, so their count is its latency. What depends only on the frozen
base is computed once: each slot's step token for every cell at `open` (a token depends on the
layout and the agent's cell alone), and the position bias for every cache length at start-up. A
lone row reads and writes its cache through views instead of gathers and scatters.
"""

from __future__ import annotations

import torch
from torch import Tensor

from irl.models.transformer import Block, PinpadTransformer


class SlotPool:
    """`capacity` cache rows of up to `max_steps` steps each for one frozen base model."""

    def __init__(self, base: PinpadTransformer, capacity: int, max_steps: int) -> None:
        if capacity < 1 or max_steps < 1:
            raise ValueError(f"SlotPool: capacity={capacity} and max_steps={max_steps} must be >= 1")
        cfg = base.cfg
        self.base = base.eval()
        self.capacity, self.max_steps = capacity, max_steps
        self.device = next(base.parameters()).device
        self.max_len = cfg.n_prefix + max_steps
        d_head = cfg.d_model // cfg.n_heads
        shape = (capacity, cfg.n_heads, self.max_len, d_head)
        self.k = [torch.zeros(shape, device=self.device) for _ in range(cfg.n_layers)]
        self.v = [torch.zeros(shape, device=self.device) for _ in range(cfg.n_layers)]
        self.length = torch.zeros(capacity, dtype=torch.long, device=self.device)
        self.steps = torch.zeros(capacity, dtype=torch.long, device=self.device)  # step tokens so far
        self.tokens = torch.zeros(capacity, cfg.n_cells, cfg.d_model, device=self.device)  # step token per cell
        with torch.no_grad():  # (max_len, H, 1, max_len): the bias of a query at each cache length
            self.bias_table = self._bias(self.max_len)
            # windowed blocks (TransformerConfig.local_window) get their own
            self.local_table = self._bias(self.max_len, cfg.local_window) if cfg.local_window else self.bias_table
        # the step in progress: rows, their cache lengths, its (full, windowed) biases, and (slot, length)
        # as ints for a lone row
        self._step: tuple[Tensor, Tensor, tuple[Tensor, Tensor], tuple[int, int] | None] | None = None

    @torch.no_grad()
    def open(self, slot: int, colors: Tensor, walls: Tensor) -> None:
        """Start a new episode in `slot` on the layout colors (n_colors,), walls (n_walls,)."""
        cache = self.base.init_cache(colors[None].to(self.device), walls[None].to(self.device), self.max_steps)
        cells = torch.arange(self.base.cfg.n_cells, device=self.device)
        self.tokens[slot] = self.base.embed_steps(cache["layout"], cells[None])[0]
        n = cache["length"]  # prefix tokens already encoded (0 unless obs_encoding == "prefix")
        for i, (k, v) in enumerate(cache["kv"]):
            self.k[i][slot].zero_()
            self.v[i][slot].zero_()
            self.k[i][slot, :, :n] = k[0, :, :n]
            self.v[i][slot, :, :n] = v[0, :, :n]
        self.length[slot] = n
        self.steps[slot] = 0

    def full(self, rows: Tensor) -> Tensor:
        """(B,) bool: rows whose cache holds `max_steps` steps already."""
        return self.steps[rows] >= self.max_steps

    def _bias(self, max_len: int, window: int = 0) -> Tensor:
        """(max_len, H, 1, max_len): the base's attention bias of a query at each cache length."""
        q = torch.arange(max_len, device=self.device)
        return self.base.attention_bias(q, max_len, window).permute(1, 0, 2)[:, :, None, :]

    def _block(self, i: int, block: Block, x: Tensor, rows: Tensor, lengths: Tensor, bias: Tensor,
               lone: tuple[int, int] | None) -> Tensor:
        b, _, d = x.shape
        q, k, v = block.qkv(block.ln1(x)).view(b, 1, 3, block.n_heads, block.d_head).permute(2, 0, 3, 1, 4)
        k_len = bias.shape[-1]
        if lone is not None:  # one row: write and read its cache through views
            slot, length = lone
            k_cache, v_cache = self.k[i][slot : slot + 1], self.v[i][slot : slot + 1]
            k_cache[:, :, length : length + 1] = k
            v_cache[:, :, length : length + 1] = v
            keys, values = k_cache[:, :, :k_len], v_cache[:, :, :k_len]
        else:
            self.k[i][rows, :, lengths] = k[:, :, 0]
            self.v[i][rows, :, lengths] = v[:, :, 0]
            keys, values = self.k[i][rows, :, :k_len], self.v[i][rows, :, :k_len]
        att = torch.softmax(q @ keys.transpose(-1, -2) * block.scale + bias, dim=-1) @ values
        x = x + block.out(att.transpose(1, 2).reshape(b, 1, d))
        return x + block.mlp(block.ln2(x))

    def _run(self, x: Tensor, rows: Tensor, start: int, stop: int) -> Tensor:
        # `upper` finishes the step `lower` began on the same rows: reuse its lengths and bias
        if self._step is not None and self._step[0] is rows:
            _, lengths, biases, lone = self._step
        else:
            lengths = self.length[rows]
            if len(rows) == 1:
                lone = (int(rows[0]), int(lengths[0]))
                biases = tuple(t[lone[1] : lone[1] + 1, :, :, : lone[1] + 1] for t in (self.bias_table, self.local_table))
            else:
                lone = None
                biases = tuple(t[lengths, :, :, : int(lengths.max()) + 1] for t in (self.bias_table, self.local_table))
            self._step = (rows, lengths, biases, lone)
        for i in range(start, stop):
            x = self.base.hook_resid[i](x)
            if i < self.base.cfg.n_layers:
                x = self._block(i, self.base.blocks[i], x, rows, lengths, biases[self.base.cfg.windowed(i)], lone)
        return x

    @torch.no_grad()
    def lower(self, rows: Tensor, pos: Tensor, layer: int) -> Tensor:
        """Embed agent cells pos (B,) for slots `rows` (B,) and run the blocks below `layer` →
        the residual at `layer` before any edit, (B, 1, d). Finish with `upper` (same rows)."""
        if bool(self.full(rows).any()):
            raise ValueError(f"slot cache full: an episode may take at most {self.max_steps} steps")
        x = self.tokens[rows, pos.to(self.device)][:, None]
        self._step = None  # a new step: its bias is computed here and reused by `upper`
        return self._run(x, rows, 0, layer)

    @torch.no_grad()
    def upper(self, rows: Tensor, x: Tensor, layer: int) -> Tensor:
        """From the (possibly edited) residual x (B, 1, d) at `layer` to the action logits (B, n_actions);
        advances the rows. (Acting needs no next-cell head.)"""
        x = self._run(x, rows, layer, self.base.cfg.n_layers + 1)
        self._step = None
        self.length[rows] += 1
        self.steps[rows] += 1
        return self.base.action_head(self.base.ln_f(x[:, 0]))
