"""Pretraining: resume after a kill continues the same loss curve; save → load → same outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset, load_dataset, save_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.io import load_model, save_model
from irl.models.transformer import TransformerConfig
from irl.training.pretrain import PretrainConfig, pretrain

MODEL = TransformerConfig(obs_encoding="egocentric", n_layers=2, d_model=32, n_heads=4, d_mlp=64)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[PinpadDataset, PinpadDataset]:
    root = tmp_path_factory.mktemp("data")
    out = []
    for name, eps, n in (("D", 0.1, 400), ("D_star", 0.0, 150)):
        r = collect_grid(GridConfig(), resolve_tasks("pretrain"), CollectConfig(n, eps, seed=len(name)))
        save_dataset(root / name, r.arrays, r.meta)
        out.append(load_dataset(root / name))
    return out[0], out[1]


def _cfg(**kw) -> PretrainConfig:
    base = dict(steps=12, batch_size=16, eval_every=100, eval_episodes=16, final_eval_episodes=16,
                probe_episodes=60, checkpoint_every=6, log_every=1, warmup_steps=3)
    return PretrainConfig(**{**base, **kw})


class Killed(Exception):
    pass


ON_POLICY = dict(on_policy_batch_episodes=4, on_policy_every=3, on_policy_episodes=16, on_policy_start=3)


@pytest.mark.parametrize("extra", [{}, ON_POLICY], ids=["D", "D+on-policy"])
def test_resume_after_a_kill_continues_the_same_loss_curve(datasets, tmp_path: Path, extra: dict) -> None:
    d, ds = datasets
    full: dict[int, float] = {}
    _, straight = pretrain(MODEL, _cfg(**extra), d, ds, GridConfig(), resolve_tasks("pretrain"), tmp_path / "a",
                           log=lambda s, m: full.__setitem__(s, m["losses/total"]) if "losses/total" in m else None)
    assert straight["resumed_from_step"] == 0

    def kill_at_8(step: int, m: dict) -> None:
        if step == 8:
            raise Killed()

    with pytest.raises(Killed):
        pretrain(MODEL, _cfg(**extra), d, ds, GridConfig(), resolve_tasks("pretrain"), tmp_path / "b", log=kill_at_8)
    (ckpt,) = (tmp_path / "b").glob("checkpoint-*")
    assert json.loads((ckpt / "state.json").read_text())["step"] == 6
    resumed: dict[int, float] = {}
    _, final = pretrain(MODEL, _cfg(**extra), d, ds, GridConfig(), resolve_tasks("pretrain"), tmp_path / "b",
                        log=lambda s, m: resumed.__setitem__(s, m["losses/total"]) if "losses/total" in m else None)
    assert sorted(resumed) == list(range(7, 13))
    assert final["resumed_from_step"] == 6  # its wall_s counts from here; train_s covers both calls
    for step in resumed:
        assert resumed[step] == pytest.approx(full[step], rel=1e-5, abs=1e-6), step


def test_another_config_starts_afresh_beside_the_old_checkpoint(datasets, tmp_path: Path) -> None:
    d, ds = datasets
    pretrain(MODEL, _cfg(steps=6), d, ds, GridConfig(), resolve_tasks("pretrain"), tmp_path)
    (first,) = tmp_path.glob("checkpoint-*")
    before = (first / "model.safetensors").read_bytes()
    steps: list[int] = []
    pretrain(MODEL, _cfg(steps=6, lr=0.5), d, ds, GridConfig(), resolve_tasks("pretrain"), tmp_path,
             log=lambda s, m: steps.append(s) if "losses/total" in m else None)
    assert steps[0] == 1  # not resumed from the other run's step 6
    assert len(list(tmp_path.glob("checkpoint-*"))) == 2 and (first / "model.safetensors").read_bytes() == before


def test_training_lowers_the_action_loss_and_reports_metrics(datasets, tmp_path: Path) -> None:
    d, ds = datasets
    losses: list[float] = []
    _, final = pretrain(MODEL, _cfg(steps=40, checkpoint_every=40, eval_every=20), d, ds, GridConfig(),
                        resolve_tasks("pretrain"), tmp_path,
                        log=lambda s, m: losses.append(m["losses/action_nll"]) if "losses/action_nll" in m else None)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.05
    assert [h["step"] for h in final["history"]] == [20, 40]
    for key in ("rollout_success", "optimal_action_rate", "optimal_action_rate_determined", "action_nll", "tokens_per_s"):
        assert key in final
    assert 0.0 <= final["history"][-1]["probe_mid_layer"] <= 1.0


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    from irl.models.transformer import PinpadTransformer

    model = PinpadTransformer(MODEL).eval()
    save_model(tmp_path / "m", model, {"note": "test"})
    loaded, spec = load_model(tmp_path / "m")
    assert spec["meta"] == {"note": "test"} and spec["kind"] == "pinpad-transformer"
    cells = torch.randperm(49)[:12][None]
    pos = torch.randint(0, 49, (1, 10))
    with torch.no_grad():
        assert torch.equal(model(cells[:, :8], cells[:, 8:], pos)["action_logits"], loaded(cells[:, :8], cells[:, 8:], pos)["action_logits"])
    assert not list((tmp_path / "m").glob("*.pt")) and not list((tmp_path / "m").glob("*.pkl"))


def test_optimal_targets_mark_the_expert_moves(datasets) -> None:
    """The DART-style targets are the shortest moves toward each step's target: on D* (ε = 0)
    they always contain the recorded action; on D (ε = 0.1) they miss exactly the noisy detours."""
    import numpy as np

    from irl.experts.grid_expert import optimal_moves
    from irl.training.batches import EpisodeBatches

    d, ds = datasets
    for data, clean in ((ds, True), (d, False)):
        opt = EpisodeBatches(data, 16, 0, optimal=True).steps["optimal"].numpy()
        ep = np.repeat(np.arange(data.num_episodes), data["episode_lengths"])
        ref = optimal_moves(data["layout_colors"][ep], data["layout_walls"][ep], data["pos"].astype(np.int64),
                            data["target"].astype(np.int64), GridConfig().size)
        assert (opt == ref).all()
        hit = opt[np.arange(opt.shape[0]), data["action"].astype(np.int64)]
        assert hit.all() if clean else 0.8 < hit.mean() < 1.0


def test_optimal_target_loss_equals_cross_entropy_on_single_moves_and_trains(datasets, tmp_path: Path) -> None:
    from irl.models.transformer import PinpadTransformer
    from irl.training.batches import EpisodeBatches
    from irl.training.pretrain import sequence_losses

    d, ds = datasets
    torch.manual_seed(0)
    model = PinpadTransformer(MODEL)
    batch = EpisodeBatches(ds, 16, 0, optimal=True).batch(0, 0)
    single = batch["optimal"].sum(-1) == 1
    batch["mask"] &= single  # steps with one shortest move: the target is the one-hot action
    assert batch["mask"].any()
    with torch.no_grad():
        soft, _ = sequence_losses(model, batch)
        hard, _ = sequence_losses(model, {k: v for k, v in batch.items() if k != "optimal"})
    assert soft.item() == pytest.approx(hard.item(), rel=1e-6)
    losses: list[float] = []
    pretrain(MODEL, _cfg(steps=30, action_target="optimal", lr_schedule="cosine", checkpoint_every=30), d, ds,
             GridConfig(), resolve_tasks("pretrain"), tmp_path,
             log=lambda s, m: losses.append(m["losses/action_nll"]) if "losses/action_nll" in m else None)
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.05


def test_lr_schedules_and_bad_options() -> None:
    const = _cfg(steps=100, lr=1e-3, warmup_steps=10)
    cos = _cfg(steps=100, lr=1e-3, warmup_steps=10, lr_schedule="cosine", min_lr_ratio=0.1)
    assert const.lr_at(0) == cos.lr_at(0) == pytest.approx(1e-4)
    assert const.lr_at(10) == const.lr_at(99) == 1e-3
    assert cos.lr_at(10) == pytest.approx(1e-3) and cos.lr_at(100) == pytest.approx(1e-4)
    assert cos.lr_at(55) == pytest.approx(1e-4 + 0.5 * 9e-4)
    lrs = [cos.lr_at(s) for s in range(10, 101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    with pytest.raises(ValueError, match="action_target"):
        _cfg(action_target="noisy")
    with pytest.raises(ValueError, match="lr_schedule"):
        _cfg(lr_schedule="linear")
    with pytest.raises(ValueError, match="min_lr_ratio"):
        _cfg(min_lr_ratio=2.0)
