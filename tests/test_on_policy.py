"""On-policy expert relabelling (DAgger): hindsight targets, expert labels, a rebuildable buffer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import load_dataset, save_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import GRID_PRETRAIN, parse_task, resolve_tasks
from irl.experts.grid_expert import optimal_moves
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.training.batches import EpisodeBatches
from irl.training.blocks import batch_tokens, split_parts
from irl.training.on_policy import OnPolicyBatches, OnPolicyConfig, collect_on_policy
from irl.training.pretrain import PretrainConfig, sequence_losses

ENV = GridConfig(size=5, horizon=40)
TASKS = [parse_task(t, 8) for t in GRID_PRETRAIN]


def _continues(visited: list[int], color: int) -> bool:
    """Some pretraining task starts with visited + [color]."""
    prefix = tuple(visited) + (color,)
    return any(task[: len(prefix)] == prefix for task in TASKS)


@pytest.fixture(scope="module")
def model() -> PinpadTransformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(grid_size=5, n_colors=8, n_walls=4, obs_encoding="egocentric", n_layers=2, d_model=32,
                            n_heads=4, d_mlp=64)
    return PinpadTransformer(cfg).eval()


def test_hindsight_targets_are_the_visits_or_a_pretraining_continuation(model: PinpadTransformer) -> None:
    d = collect_on_policy(model, ENV, resolve_tasks("pretrain"), 256, seed=1)
    n_valid_entries = n_wrong_entries = 0
    for e in range(256):
        visited: list[int] = []
        cell_color = {int(c): i for i, c in enumerate(d["colors"][e])}
        for t in range(int(d["length"][e])):
            target, labelled = int(d["target"][e, t]), bool(d["labelled"][e, t])
            if labelled:
                # the target continues a pretraining task after what was visited: never a post-task transition
                assert _continues(visited, target), (e, t, visited, target)
                expect = optimal_moves(d["colors"][e : e + 1], d["walls"][e : e + 1], d["pos"][e, t : t + 1],
                                       np.array([target]), ENV.size)[0]
                assert (d["optimal"][e, t] == expect).all()
                if len(visited) % 2 == 1:  # inside a pair: the partner of the color just visited
                    assert target == visited[-1] + 1
            else:
                assert not d["optimal"][e, t].any()
            entered = cell_color.get(int(d["next_pos"][e, t]))
            if entered is not None and d["next_pos"][e, t] != d["pos"][e, t]:
                if _continues(visited, entered):  # a valid visit: the step was heading there
                    assert target == entered
                    visited.append(entered)
                    n_valid_entries += 1
                else:  # the episode's end by a wrong color: the label points elsewhere
                    assert t == d["length"][e] - 1 and not d["success"][e]
                    assert target != entered or not labelled
                    n_wrong_entries += 1
    assert n_valid_entries > 20 and n_wrong_entries > 20  # the random model visits both kinds
    assert d["labelled"][np.arange(ENV.horizon)[None] < d["length"][:, None]].mean() > 0.8


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    r = collect_grid(ENV, resolve_tasks("pretrain"), CollectConfig(200, 0.1, seed=3))
    root = tmp_path_factory.mktemp("d")
    save_dataset(root / "D", r.arrays, r.meta)
    return load_dataset(root / "D")


def test_batches_extend_d_and_rebuild_the_same_buffer(model: PinpadTransformer, data) -> None:
    cfg = OnPolicyConfig(batch_episodes=8, every=4, episodes=32, start=4)

    def source() -> OnPolicyBatches:
        return OnPolicyBatches(EpisodeBatches(data, 16, 0), model, cfg, ENV, resolve_tasks("pretrain"), seed=0)

    a, b = source(), source()
    plain = EpisodeBatches(data, 16, 0)
    before = a.batch(0, 3)
    assert set(before) == set(plain.batch(0, 3)) and all(torch.equal(before[k], plain.batch(0, 3)[k]) for k in before)
    first = a.batch(0, 6)  # built at step 4: D's batch unchanged, plus a block of 8 on-policy rows
    d, op = split_parts(first)
    assert all(torch.equal(d[k], plain.batch(0, 6)[k]) for k in plain.batch(0, 6))
    assert op["mask"].shape[0] == 8 and not op["next_mask"].any()
    assert op["optimal"][op["mask"]].any(-1).all() and not op["optimal"][~op["mask"]].any()
    assert op["mask"][:, -1].any()  # padded only to the longest labelled row of the block
    assert batch_tokens(first) == int(d["mask"].sum() + op["mask"].sum())
    again = b.batch(0, 6)  # a fresh source (a resumed run) rebuilds the buffer from the same weights and seed
    assert set(first) == set(again) and all(torch.equal(first[k], again[k]) for k in first)
    assert a._buffer is not None and a._buffer[0] == 4
    a.batch(0, 8)
    assert a._buffer[0] == 8


def test_two_blocks_give_the_loss_of_one_padded_batch(model: PinpadTransformer, data) -> None:
    """Running the on-policy rows as their own block changes no loss: the means are those of the
    single batch both blocks padded to one length would give."""
    cfg = OnPolicyConfig(batch_episodes=8, every=4, episodes=32, start=0)
    batch = OnPolicyBatches(EpisodeBatches(data, 16, 0), model, cfg, ENV, resolve_tasks("pretrain"), seed=0).batch(0, 1)
    d, op = split_parts(batch)
    t = max(d["mask"].shape[1], op["mask"].shape[1])

    def pad(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, torch.zeros((x.shape[0], t - x.shape[1]) + x.shape[2:], dtype=x.dtype)], 1)

    d = {**d, "optimal": torch.zeros(d["mask"].shape + (4,), dtype=torch.bool), "next_mask": d["mask"]}
    merged = {k: torch.cat([d[k] if k in ("colors", "walls") else pad(d[k]),
                            op[k] if k in ("colors", "walls") else pad(op[k].to(d[k].dtype))]) for k in op}
    split_action, split_next = sequence_losses(model, batch)
    one_action, one_next = sequence_losses(model, merged)
    torch.testing.assert_close(split_action, one_action)
    torch.testing.assert_close(split_next, one_next)
    assert split_next.item() == pytest.approx(sequence_losses(model, split_parts(batch)[0])[1].item(), rel=1e-5)


def test_config_refuses_a_buffer_a_resume_could_not_rebuild() -> None:
    with pytest.raises(ValueError, match="multiples of on_policy_every"):
        PretrainConfig(steps=10, checkpoint_every=25, on_policy_batch_episodes=8, on_policy_every=10)
    with pytest.raises(ValueError, match="on_policy"):
        PretrainConfig(steps=10, on_policy_batch_episodes=-1)
    PretrainConfig(steps=10, checkpoint_every=25, on_policy_every=10)  # off: no constraint
