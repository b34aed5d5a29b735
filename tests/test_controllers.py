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


@pytest.mark.parametrize("prior_weight", [1.0, 0.5])
def test_controller_training_leaves_the_base_bit_identical_and_lowers_nll(tmp_path, prior_weight: float) -> None:
    from irl.data.collect import CollectConfig, collect_grid
    from irl.data.dataset import load_dataset, save_dataset
    from irl.envs.grid import GridConfig
    from irl.envs.tasks import resolve_tasks
    from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers

    r = collect_grid(GridConfig(), resolve_tasks("pretrain"), CollectConfig(120, 0.0, seed=3))
    save_dataset(tmp_path / "D_star", r.arrays, r.meta)
    data = load_dataset(tmp_path / "D_star")
    torch.manual_seed(0)
    base = PinpadTransformer(CFG).eval()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    cfg = GTControllerConfig(layers=(1,), ranks=(4,), steps=30, batch_size=16, lr=1e-2, eval_episodes=16,
                             prior_weight=prior_weight)
    ctrl, fit = train_controllers(base, data, ControllerConfig(4, 32, 4, layer=1), cfg)
    after = base.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert fit["nll_after"] < fit["nll_before"]
    assert any(p.abs().sum() > 0 for p in ctrl.parameters())
    rate = steered_success(base, ctrl, GridConfig(), resolve_tasks("post"), 8, seed=1)
    assert 0.0 <= rate <= 1.0


def test_prior_weight_outside_unit_interval_is_refused() -> None:
    from irl.training.gt_controllers import GTControllerConfig

    with pytest.raises(ValueError, match="prior_weight"):
        GTControllerConfig(prior_weight=1.5)
