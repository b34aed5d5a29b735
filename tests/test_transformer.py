"""Invariants of the base model: cached steps = parallel forward, hook points, edits, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irl.models.transformer import PinpadTransformer, TransformerConfig


def _batch(b: int = 4, t: int = 25, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    cells = torch.stack([torch.randperm(49, generator=g)[:12] for _ in range(b)])
    return cells[:, :8], cells[:, 8:], torch.randint(0, 49, (b, t), generator=g)


def _model(encoding: str) -> PinpadTransformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(obs_encoding=encoding, n_layers=3, d_model=32, n_heads=4, d_mlp=64)
    return PinpadTransformer(cfg).eval()


@pytest.mark.parametrize("encoding", ["onehot", "prefix", "egocentric", "egocentric_local"])
def test_kv_cached_steps_equal_the_parallel_forward(encoding: str) -> None:
    model = _model(encoding)
    colors, walls, pos = _batch()
    with torch.no_grad():
        full = model(colors, walls, pos, return_resid=True)
        cache = model.init_cache(colors, walls, pos.shape[1])
        steps = [model.step(cache, pos[:, t], return_resid=True) for t in range(pos.shape[1])]
    for key in ("action_logits", "next_cell_logits"):
        torch.testing.assert_close(torch.stack([s[key] for s in steps], 1), full[key], atol=1e-5, rtol=1e-4)
    for layer in range(model.cfg.n_layers + 1):
        torch.testing.assert_close(torch.stack([s["resid"][layer] for s in steps], 1), full["resid"][layer], atol=1e-5, rtol=1e-4)


def test_onehot_encoding_is_a_linear_map_of_the_637_dim_observation() -> None:
    model = _model("onehot")
    colors, walls, pos = _batch(b=2, t=3)
    obs = torch.zeros(2, 3, 49, 13)
    for b in range(2):
        obs[b, :, colors[b], torch.arange(8)] = 1
        obs[b, :, walls[b], 8 + torch.arange(4)] = 1
        obs[b, torch.arange(3), pos[b], 12] = 1
    linear = obs.reshape(2, 3, 637) @ model.obs_weight.reshape(637, -1) + model.obs_bias
    layout = model.embed_layout(colors, walls)
    torch.testing.assert_close(model.embed_steps(layout, pos), linear, atol=1e-5, rtol=1e-5)


def test_local_view_names_what_each_move_leads_into() -> None:
    """egocentric_local: per move, the object in the neighbouring cell (kind), floor (K) or the edge (K+1),
    checked against the env's own layout map and neighbour table."""
    from irl.envs.grid import GridConfig, GridPinpadBatch
    from irl.envs.tasks import resolve_tasks

    env = GridPinpadBatch(GridConfig(size=7), resolve_tasks("pretrain"), 16, seed=3)
    env.reset()
    model = _model("egocentric_local")
    pos = torch.arange(49).repeat(16, 1)  # every cell of every layout
    idx = model._neighbour_index(torch.from_numpy(np.concatenate([env.colors, env.walls], 1)), pos)
    k = 12
    for b in range(16):
        for cell in range(49):
            for a in range(4):
                r, c = divmod(cell, 7)
                rr, cc = r + (-1, 0, 1, 0)[a], c + (0, 1, 0, -1)[a]
                if not (0 <= rr < 7 and 0 <= cc < 7):
                    want = k + 1
                else:
                    content = env.cell_map[b, rr * 7 + cc]
                    want = int(content) if content >= 0 else k
                assert int(idx[b, cell, a]) == a * (k + 2) + want


@pytest.mark.parametrize("encoding", ["onehot", "prefix", "egocentric", "egocentric_local"])
def test_a_zero_edit_leaves_outputs_bit_identical(encoding: str) -> None:
    model = _model(encoding)
    colors, walls, pos = _batch()
    with torch.no_grad():
        base = model(colors, walls, pos)["action_logits"]
        edited = model(colors, walls, pos, edit_layer=1, edit=lambda x: x + torch.zeros_like(x) @ torch.zeros(32, 32))["action_logits"]
        changed = model(colors, walls, pos, edit_layer=1, edit=lambda x: x + 1.0)["action_logits"]
    assert torch.equal(base, edited)
    assert not torch.allclose(base, changed)


def test_the_edit_is_causal_and_hook_points_see_every_layer() -> None:
    model = _model("prefix")
    colors, walls, pos = _batch(b=2, t=10)
    seen: list[int] = []
    handles = [h.register_forward_hook(lambda m, i, o, k=k: seen.append(k)) for k, h in enumerate(model.hook_resid)]
    with torch.no_grad():
        base = model(colors, walls, pos)["action_logits"]

        def late_edit(x: torch.Tensor) -> torch.Tensor:
            x = x.clone()
            x[:, 6:] += 3.0  # edit only steps 6..
            return x

        edited = model(colors, walls, pos, edit_layer=2, edit=late_edit)["action_logits"]
    for h in handles:
        h.remove()
    assert seen[:4] == [0, 1, 2, 3]
    assert torch.equal(base[:, :6], edited[:, :6])  # the past is untouched by a later edit
    assert not torch.allclose(base[:, 6:], edited[:, 6:])


@pytest.mark.parametrize("encoding,window", [("egocentric", 1), ("egocentric", 3), ("prefix", 2)])
def test_windowed_upper_blocks_step_like_the_parallel_forward_and_see_only_the_window(encoding: str, window: int) -> None:
    torch.manual_seed(0)
    cfg = TransformerConfig(obs_encoding=encoding, n_layers=4, d_model=32, n_heads=4, d_mlp=64, local_window=window)
    model = PinpadTransformer(cfg).eval()
    colors, walls, pos = _batch()
    with torch.no_grad():
        full = model(colors, walls, pos, return_resid=True)
        cache = model.init_cache(colors, walls, pos.shape[1])
        steps = [model.step(cache, pos[:, t]) for t in range(pos.shape[1])]
        torch.testing.assert_close(torch.stack([s["action_logits"] for s in steps], 1), full["action_logits"], atol=1e-5, rtol=1e-4)
        # from L/2 up, a step's output depends on the residual at L/2 of the last (L − L/2)(window − 1) + 1
        # steps only (each windowed block reaches window − 1 further back): perturb every older one
        mid, t = cfg.mid_layer, pos.shape[1] - 1
        old = t - ((cfg.n_layers - mid) * (window - 1) + 1) + 1  # steps before this one are out of reach

        def far_past(x: torch.Tensor) -> torch.Tensor:
            y = x.clone()
            y[:, :old] += torch.randn_like(y[:, :old])
            return y

        edited = model(colors, walls, pos, edit_layer=mid, edit=far_past)
    torch.testing.assert_close(edited["action_logits"][:, t], full["action_logits"][:, t], atol=1e-5, rtol=1e-4)
    assert not torch.allclose(edited["action_logits"][:, :old], full["action_logits"][:, :old])
    assert "local_window" not in TransformerConfig().to_dict()  # off: older configs' dicts and hashes unchanged
