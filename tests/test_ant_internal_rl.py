"""Internal RL on the ant: the abstract env drives MuJoCo ants through the Hawk's recurrent state
with the grid's code path (control returns exactly at β crossings, β ≡ 1 decides every step, a
zero decoder leaves the base model's torques), and a tiny internal-RL run goes end to end."""

from __future__ import annotations

import numpy as np
import torch

from irl.envs.ant import AntConfig
from irl.envs.ant_batch import AntPinpadBatch
from irl.models.hawk import HawkConfig, HawkModel
from irl.models.metacontroller import Metacontroller, MetacontrollerConfig
from irl.rl.abstract_env import AbstractActionEnv
from irl.rl.internal_rl import InternalRLConfig, oracle_code_success, train_internal_rl
from irl.rl.raw_rl import RawRLConfig, sample_ant_episodes, train_raw_rl

ENV = AntConfig(horizon=12)


def models(switch: str = "learned") -> tuple[HawkModel, Metacontroller]:
    obs_dim = AntPinpadBatch(ENV, "post", 1).obs.shape[1]
    torch.manual_seed(0)
    base = HawkModel(HawkConfig(obs_dim=obs_dim, act_dim=8, n_layers=2, d_model=16, n_heads=4, d_mlp=32)).eval()
    mc = Metacontroller(MetacontrollerConfig(d_model=16, layer=1, switch=switch, rank=16)).eval()
    return base, mc


def test_ant_control_returns_exactly_at_beta_crossings() -> None:
    base, mc = models()
    n = 3
    env = AbstractActionEnv(base, mc, AntPinpadBatch(ENV, "post", n, seed=1), seed=0)
    mc.switch_prob = lambda e, h, z: torch.tensor([1.0 if (int(t) + i) % 3 == 0 else 0.2 for i, t in enumerate(env.env.t)])
    step = env.reset()
    assert step.awaiting.all() and step.obs.shape == (n, 16)
    rounds = 0
    while step.awaiting.any():
        t = env.env.t.copy()
        if rounds:
            expected = np.array([(int(t[i]) + i) % 3 == 0 for i in range(n)]) & ~env.env.done
            assert np.array_equal(step.awaiting, expected) and expected.any()
        step = env.step(torch.randn(n, 8))
        rounds += 1
    assert env.env.done.all() and rounds > 1 and env.low_level_steps <= ENV.horizon


def test_ant_beta_always_decides_every_step_and_a_zero_decoder_is_the_base_model() -> None:
    base, mc = models(switch="always")
    env = AbstractActionEnv(base, mc, AntPinpadBatch(ENV, "post", 2, seed=2), seed=0)
    step, rounds = env.reset(), 0
    while step.awaiting.any():
        assert np.array_equal(step.awaiting, ~env.env.done)
        step = env.step(torch.randn(2, 8))
        rounds += 1
    assert rounds == env.low_level_steps
    # the metacontroller's decoder starts at A = 0: the ants move exactly as the base model alone
    # would with the same noise (same layouts, same generator)
    _, mc0 = models()
    env = AbstractActionEnv(base, mc0, AntPinpadBatch(ENV, "post", 2, seed=3), seed=5)
    step = env.reset()
    while step.awaiting.any():
        step = env.step(torch.randn(2, 8) * 3)
    xy_codes = [e.data.qpos[:2].copy() for e in env.env.envs]
    batch = AntPinpadBatch(ENV, "post", 2, seed=3)
    obs = batch.reset()
    state, gen = base.init_state(2), torch.Generator().manual_seed(5)
    with torch.no_grad():
        while not batch.done.all():
            out = base.step(state, torch.as_tensor(obs, dtype=torch.float32))
            a = (out["action_mean"] + out["action_log_std"].exp() * torch.randn(out["action_mean"].shape, generator=gen)).clamp(-1, 1)
            batch.step(a.numpy())
            obs = batch.obs
    for got, want in zip(xy_codes, [e.data.qpos[:2] for e in batch.envs], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_internal_rl_runs_on_the_ant() -> None:
    base, mc = models()
    cfg = InternalRLConfig(episodes=4, batch_episodes=2, update_epochs=1, width=16, eval_episodes=2, device="cpu")
    policy, res = train_internal_rl(base, mc, ENV, "post", cfg, torch.device("cpu"))
    assert res["episodes"] == 4 and len(res["curve"]) == 2 and 0.0 <= res["final_success"] <= 1.0
    oracle = oracle_code_success(base, mc, torch.zeros(4, 8), ENV, "post", episodes=2, seed=0)
    assert 0.0 <= oracle["oracle_code_success"] <= 1.0 and oracle["oracle_decisions_per_episode"] >= 1


def test_raw_action_rl_on_the_ant_scores_the_sampled_torques_and_trains_the_hawk() -> None:
    base, _ = models()
    batch = AntPinpadBatch(ENV, "post", 2, seed=4)
    ro = sample_ant_episodes(base, batch, torch.Generator().manual_seed(0))
    # the recorded log-probs are the replayed ones under unchanged weights (one parallel pass)
    with torch.no_grad():
        out = base(ro["obs"])
    from irl.models.hawk import gaussian_nll
    replay = -gaussian_nll(ro["action"], out["action_mean"], out["action_log_std"])
    torch.testing.assert_close(replay[ro["mask"]], ro["logp"][ro["mask"]], rtol=1e-4, atol=1e-4)
    assert ro["mask"].sum(1).tolist() == batch.t.tolist()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    model, res = train_raw_rl(base, ENV, "post", RawRLConfig(episodes=4, batch_episodes=2, update_epochs=1, eval_episodes=2))
    assert res["episodes"] == 4 and 0 <= res["final_success"] <= 1 and len(res["curve"]) == 2
    # no reward on a 12-step horizon: zero advantages, no update (the grid's rule)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # with a reward signal the PPO-clip loss on the replayed torques reaches every Hawk weight
    from irl.rl.ppo import ppo_clip_loss
    from irl.rl.raw_rl import _replay_logp
    loss, _ = ppo_clip_loss(_replay_logp(base, ro).T, ro["logp"].T, torch.tensor([1.0, -1.0]), ro["mask"].T, 0.2)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in base.named_parameters() if not n.startswith("next_obs"))
