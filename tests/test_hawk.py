"""Hawk (RG-LRU) base model: the chunked parallel scan equals the step mode, and the controller
interface (hook points, edit at layer l, split step) behaves like the transformer's."""

from __future__ import annotations

import torch

from irl.models.hawk import RGLRU, HawkConfig, HawkModel

CFG = HawkConfig(obs_dim=11, act_dim=8, n_layers=3, d_model=32, n_heads=4, d_mlp=48, chunk=5)


def test_rglru_scan_equals_the_recurrence_across_chunks() -> None:
    torch.manual_seed(0)
    lru = RGLRU(16, 4)
    x = torch.randn(3, 23, 16)
    h0 = torch.randn(3, 16)
    hs, last = lru.scan(x, h0, chunk=4)
    h = h0
    for t in range(23):
        h = lru.step(x[:, t], h)
        torch.testing.assert_close(hs[:, t], h, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(last, h)
    # a stable decay: |h| stays bounded for long inputs
    long, _ = lru.scan(torch.ones(1, 2000, 16), None, chunk=16)
    assert torch.isfinite(long).all() and long.abs().max() < 50
    # a ≈ 0 (log a ≈ −160 per step) and a ≈ 1: values and gradients stay finite and match the step mode
    for log_lambda in (-20.0, 20.0):
        with torch.no_grad():
            lru.log_lambda.fill_(log_lambda)
        x = torch.randn(2, 37, 16, requires_grad=True)
        hs, _ = lru.scan(x, None, chunk=16)
        hs.square().sum().backward()
        assert torch.isfinite(hs).all() and torch.isfinite(x.grad).all()
        h = torch.zeros(2, 16)
        for t in range(37):
            h = lru.step(x[:, t], h)
        torch.testing.assert_close(hs[:, -1], h, rtol=1e-5, atol=1e-5)


def test_parallel_forward_equals_step_mode_with_and_without_an_edit() -> None:
    torch.manual_seed(1)
    model = HawkModel(CFG).eval()
    obs = torch.randn(2, 13, CFG.obs_dim)
    u = torch.randn(32, 32) * 0.1
    edit = lambda x: x + x @ u  # noqa: E731
    for edit_layer, fn in ((None, None), (1, edit)):
        with torch.no_grad():
            full = model(obs, edit_layer=edit_layer, edit=fn)
            state = model.init_state(2)
            for t in range(13):
                out = model.step(state, obs[:, t], edit_layer=edit_layer, edit=fn)
                for k in ("action_mean", "action_log_std", "next_obs"):
                    torch.testing.assert_close(out[k], full[k][:, t], rtol=1e-4, atol=1e-5)


def test_hook_points_and_a_zero_edit_are_exact() -> None:
    torch.manual_seed(2)
    model = HawkModel(CFG).eval()
    obs = torch.randn(2, 7, CFG.obs_dim)
    with torch.no_grad():
        plain = model(obs, return_resid=True)
        zero = model(obs, edit_layer=CFG.mid_layer, edit=lambda x: x + 0 * x)
    assert len(plain["resid"]) == CFG.n_layers + 1 and plain["resid"][0].shape == (2, 7, 32)
    assert torch.equal(plain["action_mean"], zero["action_mean"])
    state = model.init_state(2)
    with torch.no_grad():
        e = model.step_lower(state, obs[:, 0], CFG.mid_layer)
        out = model.step_upper(state, e, CFG.mid_layer)
    torch.testing.assert_close(out["action_mean"], plain["action_mean"][:, 0])
    torch.testing.assert_close(e, plain["resid"][CFG.mid_layer][:, 0])
