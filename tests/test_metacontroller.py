"""Metacontroller invariants: frozen base untouched, β ≡ 1 mode, zero decoder = base model,
causal history, save/load, resume on the same curve, steering bookkeeping."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset, load_dataset, save_dataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.code_use import code_saving, early_saving, saving_by_lag, steps_since_switch
from irl.eval.steering import first_pair
from irl.models.io import load_model, save_model
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.training.batches import EpisodeBatches
from irl.training.discover import DiscoverConfig, discover, discovery_losses, effective_config, switch_rate
from irl.training.select import candidate_seeds, score_candidate, select_seed

CFG = TransformerConfig(obs_encoding="egocentric", n_layers=2, d_model=32, n_heads=4, d_mlp=64)


@pytest.fixture(scope="module")
def d_star(tmp_path_factory: pytest.TempPathFactory) -> PinpadDataset:
    path = tmp_path_factory.mktemp("data") / "D_star"
    r = collect_grid(GridConfig(), resolve_tasks("pretrain"), CollectConfig(96, 0.0, seed=5))
    save_dataset(path, r.arrays, r.meta)
    return load_dataset(path)


def base_model() -> PinpadTransformer:
    torch.manual_seed(0)
    return PinpadTransformer(CFG).eval()


def small_cfg(**kw) -> DiscoverConfig:
    return DiscoverConfig(**{"steps": 6, "batch_size": 16, "heldout_episodes": 16, "checkpoint_every": 3,
                             "log_every": 1, "lr": 1e-2, "device": "cpu", **kw})


def test_frozen_base_stays_bit_identical_through_discovery(d_star: PinpadDataset) -> None:
    base = base_model()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    mc, base_after, res = discover(base, d_star, small_cfg())
    assert all(torch.equal(before[k], v) for k, v in base_after.state_dict().items())
    assert res["steps"] == 6 and np.isfinite(res["nll"])
    # and co-training does change it (the test above can fail)
    _, co, _ = discover(base_model(), d_star, small_cfg(co_train=True))
    assert any(not torch.equal(before[k], v) for k, v in co.state_dict().items())


def test_beta_always_mode_switches_every_step(d_star: PinpadDataset) -> None:
    _, _, res = discover(base_model(), d_star, small_cfg(switch="always", steps=2))
    lengths = np.asarray([len(t["beta"]) for t in res["traces"]])
    assert all(np.all(np.asarray(t["beta"]) == 1.0) for t in res["traces"])
    assert res["beta_nonbinary_fraction"] == 0.0
    assert res["switches_per_episode"] > 10 and lengths.min() > 10


def test_a_zero_decoder_gives_exactly_the_base_models_loss(d_star: PinpadDataset) -> None:
    base = base_model()
    mc = Metacontroller(MetacontrollerConfig(d_model=32, layer=1))
    with torch.no_grad():
        mc.hyper[2].weight.zero_()
        mc.hyper[2].bias.zero_()
    batch = EpisodeBatches(d_star, 16, 0).batch(0, 0)
    with torch.no_grad():
        nll, _, _ = discovery_losses(base, mc, batch)
        logits = base(batch["colors"], batch["walls"], batch["pos"])["action_logits"]
    m = batch["mask"]
    assert torch.equal(nll, F.cross_entropy(logits[m].float(), batch["action"][m]))


def test_the_history_and_the_switch_see_no_future() -> None:
    torch.manual_seed(0)
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1))
    e = torch.randn(2, 9, 16)
    later = e.clone()
    later[:, 5:] = torch.randn(2, 4, 16)
    h1, h2 = mc.history_states(e), mc.history_states(later)
    assert torch.equal(h1[:, :6], h2[:, :6]) and not torch.equal(h1[:, 6:], h2[:, 6:])
    z = torch.randn(2, 8)
    assert torch.equal(mc.switch_prob(e[:, 3], h1[:, 3], z), mc.switch_prob(later[:, 3], h2[:, 3], z))


def test_sequence_embedding_ignores_padding() -> None:
    torch.manual_seed(0)
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1))
    e = torch.randn(1, 5, 16)
    padded = torch.cat([e, torch.randn(1, 3, 16)], dim=1)
    a = mc.sequence_embedding(e, torch.tensor([5]))
    b = mc.sequence_embedding(padded, torch.tensor([5]))
    torch.testing.assert_close(a, b)


def test_the_edit_from_codes_is_the_edit_from_decoded_controllers() -> None:
    """apply_codes (training) and apply_edit(decode(z)) (acting) are one edit: same values, same
    gradients to the residual, the codes and the decoder, for a rank below and equal to d."""
    for rank in (3, 16):
        torch.manual_seed(rank)
        mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1, rank=rank))
        with torch.no_grad():
            for p in mc.parameters():
                p.normal_(0, 0.3)
        e, z = torch.randn(3, 5, 16, requires_grad=True), torch.randn(3, 5, 8, requires_grad=True)
        w = torch.randn(3, 5, 16)
        grads = []
        for edited in (mc.apply_edit(e, *mc.decode(z)), mc.apply_codes(e, z)):
            grads.append((edited, *torch.autograd.grad((edited * w).sum(), [e, z, *mc.hyper.parameters()])))
        for ref, new in zip(*grads):
            torch.testing.assert_close(new, ref, rtol=1e-5, atol=1e-4)
        assert not torch.equal(grads[1][0], e)  # the edit is not the identity


def test_the_teacher_forced_switch_is_the_acting_switch() -> None:
    """forward's β_t (first layer on (e_t, h_t−1) precomputed for the sequence) is switch_prob's
    step by step, as an agent computes it while acting."""
    torch.manual_seed(1)
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1))  # default init: β_t ≈ 0.5
    e, mask = torch.randn(3, 9, 16), torch.ones(3, 9, dtype=torch.bool)
    with torch.no_grad():
        out, h_prev = mc(e, mask, sample=False), mc.history_states(e)
        stepped = [mc.switch_prob(e[:, t], h_prev[:, t], out["z"][:, t - 1]) for t in range(1, 9)]
    torch.testing.assert_close(torch.stack(stepped, 1), out["beta"][:, 1:])
    assert 0.05 < float(out["beta"][:, 1:].mean()) < 0.95  # not a saturated gate


def test_save_load_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1, switch="learned")).eval()
    with torch.no_grad():
        for p in mc.parameters():
            p.normal_(0, 0.3)
    save_model(tmp_path / "mc", mc, {"note": "test"})
    loaded, spec = load_model(tmp_path / "mc")
    e, mask = torch.randn(3, 7, 16), torch.ones(3, 7, dtype=torch.bool)
    with torch.no_grad():
        a, b = mc(e, mask, sample=False), loaded(e, mask, sample=False)
    assert all(torch.equal(a[k], b[k]) for k in a) and spec["meta"]["note"] == "test"


def test_resume_continues_the_same_run(d_star: PinpadDataset, tmp_path: Path) -> None:
    straight, _, r1 = discover(base_model(), d_star, small_cfg(steps=6), tmp_path / "a")
    discover(base_model(), d_star, small_cfg(steps=3), tmp_path / "b")  # stopped after step 3
    resumed, _, r2 = discover(base_model(), d_star, small_cfg(steps=6), tmp_path / "b")
    assert r2["steps"] == 6 and r2["nll"] == r1["nll"]
    assert r1["resumed_from_step"] == 0 and r2["resumed_from_step"] == 3  # the metrics say a run resumed
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True))
    other, _, _ = discover(base_model(), d_star, small_cfg(steps=6, lr=3e-3), tmp_path / "b")  # its own checkpoint
    assert len(list((tmp_path / "b").glob("checkpoint-*"))) == 2
    assert not all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), resumed.state_dict().values(), strict=True))


def test_switch_noise_curriculum_continues_the_noise_free_run(d_star: PinpadDataset, tmp_path: Path) -> None:
    """switch_noise_from = k: the first k steps are the noise-free run bit for bit, so a noise-free
    checkpoint at step k starts the curriculum (and is left as it was); a run that ends by step k
    is the noise-free run; after k the noise changes the training."""
    curriculum = small_cfg(steps=6, switch_noise=2.0, switch_noise_from=3)
    straight, _, r1 = discover(base_model(), d_star, curriculum, tmp_path / "a")
    discover(base_model(), d_star, small_cfg(steps=3), tmp_path / "b")  # the noise-free run, 3 steps
    before = (next((tmp_path / "b").glob("checkpoint-*")) / "state.json").read_text()
    logged: list[int] = []
    resumed, _, r2 = discover(base_model(), d_star, curriculum, tmp_path / "b", log=lambda step, m: logged.append(step))
    assert logged == [4, 5, 6] and r2["steps"] == 6 and r2["nll"] == r1["nll"]  # began at step 3
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True))
    ckpts = sorted((tmp_path / "b").glob("checkpoint-*"))
    assert len(ckpts) == 2 and before in [(c / "state.json").read_text() for c in ckpts]
    free, _, _ = discover(base_model(), d_star, small_cfg(steps=6), tmp_path / "c")
    assert not all(torch.equal(a, b) for a, b in zip(free.state_dict().values(), straight.state_dict().values(), strict=True))
    assert effective_config(small_cfg(steps=3, switch_noise=2.0, switch_noise_from=3)) == small_cfg(steps=3)
    with pytest.raises(ValueError, match="switch_noise_from"):
        small_cfg(switch_noise_from=-1)


def test_late_alpha_continues_the_constant_alpha_run(d_star: PinpadDataset, tmp_path: Path) -> None:
    """late_alpha from step k: the first k steps are the constant-α run bit for bit (its checkpoint
    at k starts the schedule, with the switch-noise curriculum too), and after k the larger KL
    weight changes the training."""
    schedule = small_cfg(steps=6, alpha=0.1, late_alpha=5.0, late_alpha_from=3, switch_noise=2.0, switch_noise_from=2)
    straight, _, r1 = discover(base_model(), d_star, schedule, tmp_path / "a")
    assert r1["late_alpha"] == 5.0 and r1["late_alpha_from"] == 3
    discover(base_model(), d_star, replace(schedule, steps=3), tmp_path / "b")  # = the constant-α run, 3 steps
    assert len(list((tmp_path / "b").glob("checkpoint-*"))) == 1
    logged: list[int] = []
    resumed, _, r2 = discover(base_model(), d_star, schedule, tmp_path / "b", log=lambda step, m: logged.append(step))
    assert logged == [4, 5, 6] and r2["nll"] == r1["nll"] and r2["resumed_from_step"] == 3
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True))
    constant, _, _ = discover(base_model(), d_star, replace(schedule, late_alpha=None, late_alpha_from=0), tmp_path / "c")
    assert not all(torch.equal(a, b) for a, b in zip(constant.state_dict().values(), straight.state_dict().values(), strict=True))
    assert effective_config(replace(schedule, steps=3)) == replace(schedule, steps=3, late_alpha=None, late_alpha_from=0)
    assert schedule.alpha_at(2) == 0.1 and schedule.alpha_at(3) == 5.0
    with pytest.raises(ValueError, match="late_alpha"):
        small_cfg(late_alpha=-1.0)


def test_switch_cost_prices_switches_from_its_step(d_star: PinpadDataset, tmp_path: Path) -> None:
    """switch_cost from step k continues the run without it (resumed from its step-k checkpoint)
    and, with a price far above what a code saves, leaves a lower switch rate than that run."""
    beta, mask = torch.tensor([[1.0, 0.5, 0.0, 1.0]]), torch.tensor([[True, True, True, False]])
    assert float(switch_rate(beta, mask)) == pytest.approx(0.5 / 3)  # t = 0 and padding do not count
    priced = small_cfg(steps=12, switch_cost=20.0, switch_cost_from=3)
    discover(base_model(), d_star, replace(priced, steps=3), tmp_path / "a")  # = the run without it
    logged: list[int] = []
    mc, base, r = discover(base_model(), d_star, priced, tmp_path / "a", log=lambda step, m: logged.append(step))
    assert r["resumed_from_step"] == 3 and logged[0] == 4 and r["switch_cost"] == 20.0
    free, _, _ = discover(base_model(), d_star, small_cfg(steps=12), tmp_path / "b")
    batch = EpisodeBatches(d_star, 64, 0).gather(np.arange(64))
    with torch.no_grad():
        rates = [float(switch_rate(discovery_losses(base, m, batch, sample=False)[2]["beta"], batch["mask"])) for m in (mc, free)]
    assert rates[0] < 0.5 * rates[1]
    with pytest.raises(ValueError, match="switch_cost"):
        small_cfg(switch_cost=-0.1)


def test_first_pair_reads_the_pair_completed_first() -> None:
    env = GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 4, seed=0, any_task=True)
    env.reset()
    assert (first_pair(env) == -1).all()
    with pytest.raises(ValueError, match="any_task"):
        first_pair(GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 2, seed=0))


def test_compile_segments_partition_each_episode_and_round_trip(tmp_path: Path) -> None:
    from irl.models.compile import CompILEConfig, CompILEControl

    torch.manual_seed(0)
    model = CompILEControl(CompILEConfig(d_model=16, layer=1, n_segments=3)).eval()
    e = torch.randn(2, 9, 16)
    mask = torch.tensor([[True] * 9, [True] * 6 + [False] * 3])
    with torch.no_grad():
        out = model(e, mask, sample=True, generator=torch.Generator().manual_seed(1))
    seg = out["segments"]
    torch.testing.assert_close(seg.sum(-1)[mask], torch.ones(int(mask.sum())))
    assert float(seg.sum(-1)[~mask].abs().max()) == 0.0
    assert out["beta"].shape == (2, 9) and torch.equal(out["beta"][:, 0], torch.ones(2))
    save_model(tmp_path / "c", model)
    loaded, _ = load_model(tmp_path / "c")
    with torch.no_grad():
        a, b = model(e, mask, sample=False), loaded(e, mask, sample=False)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_discovery_runs_in_parallel_threads_match_sequential_runs() -> None:
    """rate_distortion and baselines train metacontrollers in a thread pool: a run's weights must
    not depend on what trains beside it."""
    import concurrent.futures as cf

    from irl.training.discover import DiscoverConfig, discover

    torch.manual_seed(0)
    base = PinpadTransformer(TransformerConfig(obs_encoding="egocentric", n_layers=2, d_model=32, n_heads=4, d_mlp=64)).eval()
    r = collect_grid(GridConfig(), resolve_tasks("pretrain"), CollectConfig(40, 0.0, seed=1))
    data = PinpadDataset(None, {"env": {"name": "grid-pinpad", **GridConfig().to_dict()}, "arrays": {}}, r.arrays)
    cfgs = [DiscoverConfig(steps=2, batch_size=8, heldout_episodes=8, alpha=a, seed=s, device="cpu") for a, s in ((0.1, 0), (0.3, 1))]

    def run(cfg: DiscoverConfig) -> dict[str, torch.Tensor]:
        mc, _, _ = discover(base, data, cfg)
        return mc.state_dict()

    sequential = [run(c) for c in cfgs]
    for _ in range(3):
        with cf.ThreadPoolExecutor(2) as pool:
            parallel = list(pool.map(run, cfgs))
        for a, b in zip(sequential, parallel):
            assert all(torch.equal(a[k], b[k]) for k in a)


def test_switch_rate_weights_the_kl_by_beta_and_equals_the_step_rate_when_beta_is_one() -> None:
    torch.manual_seed(0)
    e, mask = torch.randn(3, 9, 32), torch.ones(3, 9, dtype=torch.bool)
    mask[2, 6:] = False
    step = Metacontroller(MetacontrollerConfig(d_model=32, layer=1))
    switch = Metacontroller(MetacontrollerConfig(d_model=32, layer=1, rate="switch"))
    switch.load_state_dict(step.state_dict())
    out = step(e, mask, sample=False)
    kl = 0.5 * (out["mu"] ** 2 + out["logvar"].exp() - 1 - out["logvar"]).sum(-1)
    torch.testing.assert_close(step.rate(out, mask), kl[mask].mean())
    torch.testing.assert_close(switch.rate(out, mask), (kl * out["beta"])[mask].mean())
    assert switch.rate(out, mask) < step.rate(out, mask)  # β < 1 after the first step
    always = Metacontroller(MetacontrollerConfig(d_model=32, layer=1, switch="always", rate="switch"))
    out = always(e, mask, sample=False)
    torch.testing.assert_close(always.rate(out, mask), step.rate(out, mask))
    with pytest.raises(ValueError, match="rate="):
        MetacontrollerConfig(d_model=32, layer=1, rate="sometimes")


def test_switch_noise_perturbs_the_gate_in_training_only() -> None:
    """switch_noise adds logistic noise to the switch logit when codes are sampled; the mean-code
    pass (evaluation, acting) is the plain gate, bit for bit."""
    torch.manual_seed(0)
    e, mask = torch.randn(4, 12, 32), torch.ones(4, 12, dtype=torch.bool)
    plain = Metacontroller(MetacontrollerConfig(d_model=32, layer=1))
    noisy = Metacontroller(MetacontrollerConfig(d_model=32, layer=1, switch_noise=2.0))
    noisy.load_state_dict(plain.state_dict())
    assert torch.equal(plain(e, mask, sample=False)["beta"], noisy(e, mask, sample=False)["beta"])
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = plain(e, mask, generator=g1)["beta"], noisy(e, mask, generator=g2)["beta"]
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1:], b[:, 1:])  # β_0 = 1 either way
    # the noise is the logit's: the same draw again gives the same gate (resumed runs redraw it)
    g3 = torch.Generator().manual_seed(3)
    assert torch.equal(noisy(e, mask, generator=g3)["beta"], b)
    with pytest.raises(ValueError, match="switch_noise"):
        MetacontrollerConfig(d_model=32, layer=1, switch_noise=-1.0)


def test_hard_switch_holds_or_replaces_the_code_and_passes_the_gradient_to_beta() -> None:
    """hard_switch integrates with 1[β_t > 0.5] (the acting rule): z_t is exactly z_t−1 or exactly
    z̃_t, while the switch network still gets a gradient; off, the config dict is the old one."""
    torch.manual_seed(0)
    e, mask = torch.randn(4, 12, 32), torch.ones(4, 12, dtype=torch.bool)
    mc = Metacontroller(MetacontrollerConfig(d_model=32, layer=1, hard_switch=True))
    out = mc(e, mask, generator=torch.Generator().manual_seed(1))
    z, beta = out["z"], out["beta"]
    g = torch.Generator().manual_seed(1)  # the same draw of z̃ as the pass above
    z_tilde = out["mu"] + torch.exp(0.5 * out["logvar"]) * torch.randn(out["mu"].shape, generator=g)
    fired = beta[:, 1:] > 0.5
    assert fired.any() and (~fired).any()
    torch.testing.assert_close(z[:, 1:][fired], z_tilde[:, 1:][fired])
    torch.testing.assert_close(z[:, 1:][~fired], z[:, :-1][~fired])
    z.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in mc.switch.parameters())
    assert "hard_switch" not in MetacontrollerConfig(d_model=32, layer=1).to_dict()


def test_categorical_codes_are_one_hot_draws_with_a_kl_to_uniform_and_a_gradient() -> None:
    """code="categorical": z̃_t is a one-hot (the argmax when not sampling), held codes stay one-hot
    under a binary gate, the KL is to the uniform distribution over the n_z codes (0 for uniform
    probabilities, log n_z for a certain code), and the encoder gets the straight-through gradient."""
    torch.manual_seed(0)
    e, mask = torch.randn(4, 12, 32), torch.ones(4, 12, dtype=torch.bool)
    mc = Metacontroller(MetacontrollerConfig(d_model=32, layer=1, code="categorical", hard_switch=True))
    out = mc(e, mask, generator=torch.Generator().manual_seed(1))
    z = out["z"].detach()  # forward values of the straight-through one-hots (exact up to rounding)
    assert torch.equal(z.round(), F.one_hot(z.argmax(-1), 8).float()) and (z - z.round()).abs().max() < 1e-6
    torch.testing.assert_close(out["mu"].sum(-1), torch.ones(4, 12))
    greedy = mc(e, mask, sample=False)
    assert torch.equal(greedy["z"][:, 0].argmax(-1), greedy["mu"][:, 0].argmax(-1))
    kl = (out["mu"] * out["logvar"]).sum(-1) + np.log(8)
    torch.testing.assert_close(mc.rate(out, mask), kl[mask].mean())
    uniform = {"mu": torch.full((1, 1, 8), 1 / 8), "logvar": torch.full((1, 1, 8), -np.log(8)).float()}
    certain = {"mu": F.one_hot(torch.tensor([[3]]), 8).float(), "logvar": torch.log(F.one_hot(torch.tensor([[3]]), 8).float().clamp(min=1e-30))}
    one = torch.ones(1, 1, dtype=torch.bool)
    assert abs(float(mc.rate(uniform, one))) < 1e-6
    torch.testing.assert_close(mc.rate(certain, one), torch.tensor(float(np.log(8))), atol=1e-5, rtol=0)
    (out["A"].sum() + mc.rate(out, mask)).backward()
    assert mc.encoder[0].weight.grad.abs().sum() > 0
    assert "code" not in MetacontrollerConfig(d_model=32, layer=1).to_dict()
    with pytest.raises(ValueError, match="code="):
        MetacontrollerConfig(d_model=32, layer=1, code="vq")


def test_code_use_counts_steps_from_the_runs_own_switches() -> None:
    # the code drawn at t = 0 is not a switch: steps before a run's first switch have lag −1
    beta = np.array([[1.0, 0.0, 0.0, 0.9, 0.1], [0.2, 0.7, 0.1, 0.1, 0.6], [1.0, 0.1, 0.2, 0.1, 0.0]])
    assert steps_since_switch(beta).tolist() == [[-1, -1, -1, 0, 1], [-1, 0, 1, 2, 0], [-1] * 5]
    saved = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 20.0, 30.0, 40.0, 50.0], [7.0] * 5])
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)  # a padded last step
    sums, counts = saving_by_lag(saved, beta, mask, lags=2)  # lag 1 pools every lag >= 1
    assert sums.tolist() == [4.0 + 20.0 + 50.0, 30.0 + 40.0]
    assert counts.tolist() == [3.0, 2.0]
    # a run that never switches after t = 0 (one code per episode) saves nothing "early"
    profile = saving_by_lag(saved[2:], beta[2:], mask[2:], lags=2)
    assert early_saving(profile[0] / np.maximum(profile[1], 1)) == 0.0
    with pytest.raises(ValueError, match="lags=0"):
        saving_by_lag(saved, beta, mask, lags=0)


def test_a_zero_decoder_code_saves_nothing(d_star: PinpadDataset) -> None:
    base = base_model()
    mc = Metacontroller(MetacontrollerConfig(d_model=32, layer=1)).eval()
    batch = EpisodeBatches(d_star, 16, 0).batch(0, 0)
    torch.manual_seed(1)
    with torch.no_grad():  # the decoder starts at zero: give it a random one first
        mc.hyper[2].weight.normal_(0.0, 0.1)
    saved, beta = code_saving(base, mc, batch)
    assert saved.shape == beta.shape == tuple(batch["mask"].shape)
    assert np.abs(saved[batch["mask"].numpy()]).max() > 1e-3  # a random decoder does move the loss
    with torch.no_grad():
        mc.hyper[2].weight.zero_()
        mc.hyper[2].bias.zero_()
    saved, _ = code_saving(base, mc, batch)
    assert np.all(saved == 0.0)


def test_a_selected_seed_continues_as_if_it_had_trained_alone(d_star: PinpadDataset, tmp_path: Path) -> None:
    """Candidates train to select_at (here inside the noise-free first phase of a curriculum); the
    chosen one resumes from its candidate checkpoint and ends bit-identical to a run never selected."""
    cfg = small_cfg(steps=6, switch_noise=2.0, switch_noise_from=4, candidates=2, select_at=3)
    scores = [score_candidate(base_model(), d_star, replace(cfg, seed=s), tmp_path / "w") for s in candidate_seeds(cfg)]
    assert [(c["seed"], c["step"], c["resumed_from_step"]) for c in scores] == [(0, 3, 0), (1, 3, 0)]
    assert all(np.isfinite(c["early_saving"]) and len(c["saving_by_lag"]) == 4 for c in scores)
    seed = select_seed(scores)
    assert seed == max(scores, key=lambda c: c["early_saving"])["seed"]
    chosen, _, r = discover(base_model(), d_star, replace(cfg, seed=seed), tmp_path / "w")
    alone, _, r1 = discover(base_model(), d_star, replace(cfg, seed=seed), tmp_path / "alone")
    assert r["resumed_from_step"] == 3 and r1["resumed_from_step"] == 0 and r["nll"] == r1["nll"]
    assert all(torch.equal(a, b) for a, b in zip(chosen.state_dict().values(), alone.state_dict().values(), strict=True))


def test_select_seed_takes_the_earliest_paying_candidate_and_the_lowest_seed_on_a_tie() -> None:
    assert select_seed([{"seed": 3, "early_saving": 0.2}, {"seed": 4, "early_saving": 0.6}, {"seed": 5, "early_saving": 0.5}]) == 4
    assert select_seed([{"seed": 7, "early_saving": 0.5}, {"seed": 2, "early_saving": 0.5}]) == 2
    with pytest.raises(ValueError, match="no candidates"):
        select_seed([])
    with pytest.raises(ValueError, match="candidates=0"):
        small_cfg(candidates=0)
    assert small_cfg(steps=6, select_at=0).selection_step() == 6 and small_cfg(steps=6, select_at=9).selection_step() == 6
