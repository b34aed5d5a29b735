"""Serving-side acting: per-slot KV caches give the lockstep model's logits whatever the
interleaving; the agent switches codes exactly when β crosses 0.5 and obeys steering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from irl.agents.agent import Agent
from irl.agents.bundle import load_local
from irl.agents.render import gif, png_frames
from irl.agents.slots import SlotPool
from irl.agents.trace import trace_episode
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.models.transformer import PinpadTransformer, TransformerConfig
from tests.bundle_helpers import make_store


@pytest.mark.parametrize("encoding,window", [("egocentric", 0), ("egocentric_local", 0), ("prefix", 0), ("onehot", 0),
                                             ("egocentric", 2), ("prefix", 1)])
def test_slots_at_different_steps_match_the_lockstep_model(encoding: str, window: int) -> None:
    torch.manual_seed(0)
    base = PinpadTransformer(TransformerConfig(grid_size=5, obs_encoding=encoding, n_layers=3, d_model=32, n_heads=4, d_mlp=64,
                                               local_window=window)).eval()
    env = GridPinpadBatch(GridConfig(size=5, horizon=20), resolve_tasks("pretrain"), 3, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    paths = rng.integers(0, 25, size=(3, 12))
    colors, walls = torch.from_numpy(env.colors), torch.from_numpy(env.walls)
    ref = []
    for i in range(3):  # each episode alone, lockstep cache
        cache = base.init_cache(colors[i : i + 1], walls[i : i + 1], 20)
        ref.append([base.step(cache, torch.tensor([p]))["action_logits"][0] for p in paths[i]])
    pool = SlotPool(base, capacity=5, max_steps=20)
    slots = [4, 0, 2]
    for i, s in enumerate(slots):
        pool.open(s, colors[i], walls[i])
    done = [0, 0, 0]
    schedule = [[0], [0], [0], [1, 2], [0, 2], [0, 1, 2]] + [[0, 1, 2]] * 9 + [[1], [1, 2], [1, 2]]
    for group in schedule:
        group = [i for i in group if done[i] < 12]
        if not group:
            continue
        rows = torch.tensor([slots[i] for i in group])
        pos = torch.tensor([paths[i][done[i]] for i in group])
        x = pool.lower(rows, pos, 1)
        logits = pool.upper(rows, x, 1)
        for j, i in enumerate(group):
            torch.testing.assert_close(logits[j], ref[i][done[i]], rtol=1e-5, atol=1e-5)
            done[i] += 1
    assert done == [12, 12, 12]


def test_full_slot_is_refused() -> None:
    base = PinpadTransformer(TransformerConfig(grid_size=5, n_layers=1, d_model=16, n_heads=2, d_mlp=32)).eval()
    pool = SlotPool(base, capacity=1, max_steps=2)
    pool.open(0, torch.arange(8), torch.arange(8, 12))
    r = torch.tensor([0])
    for _ in range(2):
        pool.upper(r, pool.lower(r, torch.tensor([20]), 1), 1)
    with pytest.raises(ValueError, match="at most 2 steps"):
        pool.lower(r, torch.tensor([20]), 1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory):
    return load_local(make_store(tmp_path_factory.mktemp("store")))


def test_internal_rl_switches_exactly_when_beta_crosses_the_threshold(bundle) -> None:
    traj = trace_episode(bundle, "post", seed=1, policy="internal-rl", max_steps=30)
    assert traj.switches[0] == 0 and traj.beta[0] == 1.0
    crossings = [t for t, b in enumerate(traj.beta) if b > 0.5]
    assert traj.switches == crossings
    for t in range(1, traj.steps):  # the code is held between switches
        if t not in traj.switches:
            assert traj.z[t] == traj.z[t - 1]
    assert len(traj.positions) == traj.steps + 1 and len(traj.actions) == traj.steps


def test_trace_is_reproducible_by_seed_and_steering_holds_the_code(bundle) -> None:
    a = trace_episode(bundle, "pretrain", seed=5, policy="internal-rl")
    b = trace_episode(bundle, "pretrain", seed=5, policy="internal-rl")
    assert a.to_dict() == b.to_dict()
    agent = Agent(bundle, capacity=2, seed=0)
    env = GridPinpadBatch(bundle.env, resolve_tasks("post"), 1, seed=0)
    env.reset()
    for slot in (0, 1):
        agent.reset(slot, env.colors[0], env.walls[0], "internal-rl" if slot == 0 else "base")
    agent.steer(0, z=[0.5] * 8)
    agent.steer(1, subgoal=2)
    outs = [agent.act([0, 1], [int(env.pos[0])] * 2) for _ in range(3)]
    assert all(o[0].z == [0.5] * 8 for o in outs)
    assert all(o[1].z == pytest.approx(bundle.subgoal_codes[2]) for o in outs)
    assert outs[0][1].switched and not outs[1][1].switched and outs[0][1].beta is None
    with pytest.raises(ValueError, match="subgoal 9"):
        agent.steer(0, subgoal=9)
    with pytest.raises(ValueError, match="expected 8 finite"):
        agent.steer(0, z=[1.0, float("nan")])


def test_gt_controllers_need_a_subgoal_and_render(bundle) -> None:
    traj = trace_episode(bundle, "post", seed=2, policy="gt-controllers", greedy=True)
    assert traj.switches[0] == 0
    assert [t for t in range(1, traj.steps) if traj.subgoal[t] != traj.subgoal[t - 1]] == traj.switches[1:]
    assert len(png_frames(traj)) == traj.steps + 1 and gif(traj)[:6] == b"GIF89a"
    agent = Agent(bundle, capacity=1)
    agent.reset(0, np.arange(8), np.arange(8, 12), "gt-controllers")
    with pytest.raises(ValueError, match="needs a subgoal"):
        agent.act([0], [20])


def test_missing_model_is_named(tmp_path: Path) -> None:
    store = make_store(tmp_path / "s")
    import shutil
    shutil.rmtree(store / "policy")
    with pytest.raises(FileNotFoundError, match="policy"):
        load_local(store)
