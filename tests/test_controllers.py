"""Controllers: a zero controller is the base model exactly; training leaves the base untouched."""

from __future__ import annotations

import pytest
import torch

from irl.models.controllers import ControllerConfig, LinearControllers
from irl.models.transformer import PinpadTransformer, TransformerConfig

CFG = TransformerConfig(obs_encoding="egocentric", n_layers=2, d_model=32, n_heads=4, d_mlp=64)


@pytest.mark.parametrize("rank", [4, None])
def test_an_untrained_controller_leaves_outputs_bit_identical(rank: int | None) -> None:
    torch.manual_seed(0)
    base = PinpadTransformer(CFG).eval()
    ctrl = LinearControllers(ControllerConfig(4, 32, rank, layer=1))
    cells = torch.randperm(49)[:12][None].repeat(3, 1)
    pos = torch.randint(0, 49, (3, 12))
    g = torch.randint(0, 4, (3, 12))
    with torch.no_grad():
        a = base(cells[:, :8], cells[:, 8:], pos)["action_logits"]
        b = base(cells[:, :8], cells[:, 8:], pos, edit_layer=1, edit=ctrl.edit(g))["action_logits"]
    assert torch.equal(a, b)


@pytest.mark.parametrize("rank", [4, None])
def test_delta_applies_the_controller_of_each_step(rank: int | None) -> None:
    torch.manual_seed(0)
    ctrl = LinearControllers(ControllerConfig(3, 8, rank))
    with torch.no_grad():
        for p in ctrl.parameters():
            p.normal_()
    x = torch.randn(2, 5, 8)
    g = torch.tensor([[0, 1, 2, 1, 0], [2, 2, 0, 1, 1]])
    for b in range(2):
        for t in range(5):
            k = int(g[b, t])
            u = ctrl.U[k] if rank is None else ctrl.A[k] @ ctrl.B[k].T
            torch.testing.assert_close(ctrl.delta(x, g)[b, t], u @ x[b, t])
