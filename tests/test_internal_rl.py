"""Internal RL: the abstract env hands control back exactly at β crossings; PPO-clip without a
critic solves a 2-armed bandit in z-space; raw-action RL and internal RL run end to end."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.rl.abstract_env import AbstractActionEnv
from irl.rl.curves import band, smoothed_first
from irl.rl.internal_rl import InternalRLConfig, collect, train_internal_rl
from irl.rl.policy import CodePolicy, PolicyConfig
from irl.rl.ppo import batch_advantages, ppo_clip_loss
from irl.rl.raw_rl import RawRLConfig, random_base_success, train_raw_rl

CFG = TransformerConfig(obs_encoding="egocentric", n_layers=2, d_model=32, n_heads=4, d_mlp=64)


def models(switch: str = "learned") -> tuple[PinpadTransformer, Metacontroller]:
    torch.manual_seed(0)
    return PinpadTransformer(CFG).eval(), Metacontroller(MetacontrollerConfig(d_model=32, layer=1, switch=switch)).eval()


def test_control_returns_exactly_at_beta_crossings() -> None:
    base, mc = models()
    n = 6
    env = AbstractActionEnv(base, mc, GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), n, seed=1), seed=0)
    # β_t of row i is 1 when (t + i) % 4 == 0, else 0.2; t = the grid step about to be taken
    mc.switch_prob = lambda e, h, z: torch.tensor([1.0 if (int(t) + i) % 4 == 0 else 0.2 for i, t in enumerate(env.env.t)])
    step = env.reset()
    assert step.awaiting.all()
    seen = []
    while step.awaiting.any():
        t = env.env.t.copy()
        expected = np.array([(int(t[i]) + i) % 4 == 0 for i in range(n)]) & ~env.env.done
        if seen:  # after the first decision, control comes back only when some row crosses
            assert np.array_equal(step.awaiting, expected) and expected.any()
        seen.append(int(t.max()))
        step = env.step(torch.randn(n, 8))
    assert env.env.done.all() and len(seen) > 1


def test_codes_are_held_between_decisions_and_beta_always_decides_every_step() -> None:
    base, mc = models(switch="always")
    env = AbstractActionEnv(base, mc, GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 4, seed=2), seed=0)
    step, rounds = env.reset(), 0
    while step.awaiting.any():
        assert np.array_equal(step.awaiting, ~env.env.done)
        step = env.step(torch.randn(4, 8))
        rounds += 1
    assert rounds == env.low_level_steps
    base, mc = models()
    mc.switch_prob = lambda e, h, z: torch.zeros(e.shape[0])  # never switch after t = 0
    env = AbstractActionEnv(base, mc, GridPinpadBatch(GridConfig(), resolve_tasks("pretrain"), 4, seed=2), seed=0)
    env.reset()
    z = torch.randn(4, 8)
    env.step(z)
    assert env.env.done.all() and torch.equal(env.z, z)


def bandit_policy(cfg: PolicyConfig, pays: Callable[[torch.Tensor], torch.Tensor], rounds: int = 60) -> torch.Tensor:
    """PPO without a critic on a one-decision bandit: a code z pays 1 with p = 0.9 where `pays(z)`,
    else 0.1. Returns the trained policy's codes for 256 fresh draws."""
    torch.manual_seed(0)
    policy = CodePolicy(cfg)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-2)
    gen = torch.Generator().manual_seed(0)
    obs, active = torch.ones(1, 256, cfg.d_model), torch.ones(1, 256, dtype=torch.bool)
    for _ in range(rounds):
        with torch.no_grad():
            z, logp, _ = policy.act(obs[0], policy.initial_state(256), active[0], gen)
        if cfg.code == "categorical":  # one-hot codes
            assert torch.equal(z.sum(-1), torch.ones(256)) and set(z.unique().tolist()) <= {0.0, 1.0}
        reward = (torch.rand(256, generator=gen) < torch.where(pays(z), 0.9, 0.1)).float()
        adv = batch_advantages(reward)
        for _ in range(4):
            new, _ = policy.evaluate(obs, active, z[None])
            loss, _ = ppo_clip_loss(new, logp[None], adv, active, 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return policy.act(obs[0], policy.initial_state(256), active[0], gen)[0]


def test_ppo_without_a_critic_solves_a_two_armed_bandit_in_z_space() -> None:
    z = bandit_policy(PolicyConfig(d_model=4, n_z=2, width=16), lambda z: z[:, 0] > 0)  # arm 1: z_0 > 0
    assert float((z[:, 0] > 0).float().mean()) > 0.95


def test_ppo_picks_the_paying_code_of_a_categorical_code_space() -> None:
    z = bandit_policy(PolicyConfig(d_model=4, n_z=4, width=16, code="categorical"), lambda z: z[:, 2] > 0)  # code 2
    assert float(z[:, 2].mean()) > 0.95


def test_advantages_are_zero_when_all_returns_agree() -> None:
    assert torch.equal(batch_advantages(torch.ones(8)), torch.zeros(8))
    a = batch_advantages(torch.tensor([0.0, 1.0]))
    assert a[1] > 0 > a[0]


def test_internal_and_raw_action_rl_run_and_report_curves() -> None:
    base, mc = models()
    post = resolve_tasks("post")
    cfg = InternalRLConfig(episodes=32, batch_episodes=16, eval_episodes=8, seeds=(0,), device="cpu")
    before = {k: v.clone() for k, v in base.state_dict().items()}
    policy, res = train_internal_rl(base, mc, GridConfig(), post, cfg, torch.device("cpu"))
    assert [p["episodes"] for p in res["curve"]] == [16, 32] and 0 <= res["final_success"] <= 1
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())  # internal RL leaves the base alone
    _, raw = train_raw_rl(base, GridConfig(), post, RawRLConfig(episodes=32, batch_episodes=16, eval_episodes=8))
    assert len(raw["curve"]) == 2
    r = random_base_success(base, GridConfig(), post, 40, batch=16)
    assert r["random_base_episodes"] == 40 and r["random_base_wins"] == 0


def test_internal_rl_runs_on_every_code_model() -> None:
    """The policy's head follows the controller model's codes: Gaussian for CompILE, categorical
    for a metacontroller with discrete codes (which then receives one-hot codes)."""
    from irl.models.compile import CompILEConfig, CompILEControl

    base, _ = models()
    cfg = InternalRLConfig(episodes=16, batch_episodes=16, eval_episodes=8, seeds=(0,), device="cpu")
    torch.manual_seed(0)
    for ctrl in (CompILEControl(CompILEConfig(d_model=32, layer=1)).eval(),
                 Metacontroller(MetacontrollerConfig(d_model=32, layer=1, code="categorical")).eval()):
        policy, res = train_internal_rl(base, ctrl, GridConfig(), resolve_tasks("post"), cfg, torch.device("cpu"))
        assert policy.cfg.code == ctrl.cfg.code and len(res["curve"]) == 1


def test_collect_records_one_decision_per_awaiting_row() -> None:
    base, mc = models()
    env = AbstractActionEnv(base, mc, GridPinpadBatch(GridConfig(), resolve_tasks("post"), 5, seed=3), seed=0)
    policy = CodePolicy(PolicyConfig(d_model=32))
    ro = collect(policy, env, torch.Generator().manual_seed(0))
    assert ro.active[0].all() and ro.obs.shape[:2] == ro.active.shape
    assert int(ro.active.sum()) == int(env.decisions.sum())


def test_band_takes_median_and_quartiles_over_seeds() -> None:
    curves = [[{"episodes": 10, "success_rate": r}, {"episodes": 20, "success_rate": r + 0.5}] for r in (0.0, 0.2, 0.4)]
    b = band(curves, points=2)
    assert [p["episodes"] for p in b] == [10, 20]
    assert b[0]["median"] == pytest.approx(0.2) and b[1]["q25"] == pytest.approx(0.6) and b[1]["q75"] == pytest.approx(0.8)
    assert smoothed_first(curves[2], 0.6, window=1) == 20 and smoothed_first(curves[0], 0.9) is None


def test_seeds_trained_in_parallel_threads_match_sequential_runs() -> None:
    """The flow trains seeds in a thread pool: each seed's policy must not depend on the others'
    timing (their inits draw from the global RNG, which the threads would otherwise interleave)."""
    import concurrent.futures as cf

    base, mc = models()
    post = resolve_tasks("post")
    cfgs = [InternalRLConfig(episodes=16, batch_episodes=16, eval_episodes=4, seeds=(s,), seed=s, device="cpu") for s in (0, 1)]

    def train(cfg: InternalRLConfig) -> dict[str, torch.Tensor]:
        policy, _ = train_internal_rl(base, mc, GridConfig(), post, cfg, torch.device("cpu"))
        return policy.state_dict()

    sequential = [train(c) for c in cfgs]
    for _ in range(3):
        with cf.ThreadPoolExecutor(2) as pool:
            parallel = list(pool.map(train, cfgs))
        for a, b in zip(sequential, parallel):
            assert all(torch.equal(a[k], b[k]) for k in a)


def test_expert_code_sequence_reads_one_code_per_subgoal_and_a_zero_decoder_is_the_base() -> None:
    """The code oracle: z at each true subgoal start (β patched to fire exactly there, then never),
    and with an untouched (zero) decoder the code-driven base is the base alone, layout by layout."""
    from irl.data.collect import CollectConfig, collect_grid
    from irl.data.dataset import PinpadDataset
    from irl.eval.code_oracle import expert_code_sequence, subgoal_codes
    from irl.training.batches import EpisodeBatches
    from irl.training.discover import discovery_losses

    base, mc = models()
    post = resolve_tasks("post")
    sol = collect_grid(GridConfig(size=6, horizon=100), post, CollectConfig(8, 0.0, seed=3, task_set="post"))
    data = PinpadDataset(None, {"arrays": {}}, sol.arrays)
    assert data["success"].all()
    batch = EpisodeBatches(data, 8, 0).gather(np.arange(8))
    sub = batch["subgoal"]
    starts = torch.zeros_like(sub, dtype=torch.bool)
    starts[:, 1:] = (sub[:, 1:] != sub[:, :-1]) & (sub[:, 1:] >= 0)
    calls = iter(range(10**6))
    t_of_call = lambda: next(calls) + 1  # forward calls switch_prob once per t >= 1, in order
    mc.switch_prob = lambda e, h, z, noise=None, pre=None: starts[:, t_of_call()].float()
    codes, switched = subgoal_codes(base, mc, batch, 6)
    calls = iter(range(10**6))
    _, _, out = discovery_losses(base, mc, batch, sample=False)
    for i in range(8):
        where = [0] + torch.nonzero(starts[i]).flatten().tolist()
        assert len(where) == 6 and torch.equal(codes[i], out["mu"][i, where].float())
    assert switched == 1.0
    mc.switch_prob = lambda e, h, z, noise=None, pre=None: torch.zeros(e.shape[0])
    assert subgoal_codes(base, mc, batch, 6)[1] == pytest.approx(1 / 6)  # only t = 0
    base, mc = models()
    res = expert_code_sequence(base, mc, GridConfig(size=6, horizon=100), post, 16, seed=4)
    assert res["expert_codes_episodes"] == 16
    assert res["expert_codes_subgoals_done"] == res["other_layout_codes_subgoals_done"] == res["base_subgoals_done"]
