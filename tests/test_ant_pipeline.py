"""The ant pipeline (ant/dvc.yaml) on the smoke profile: every stage through `dvc repro`, on
Prefect's temporary server and a SQLite MLflow under tmp; and the expert's building blocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
import torch

from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig, AntPinpadEnv, episode_outcome
from irl.experts.ant_expert import (AntExpertEnv, AntRewardConfig, CellPaths, RunningNorm, lookahead_point, path_cells,
                                    shortest_path_direction)
from tests.conftest import copy_project
from tests.servers import prefect_server
from tests.test_ant_env import layout, place


def test_direction_points_along_a_shortest_cell_path() -> None:
    env = AntExpertEnv(AntPinpadEnv(task="0-1-2"))
    env.reset(seed=0)
    ant = env.ant
    layout(ant, (0, 1, 2))  # colors 0-3 in cells 5, 6, 9, 10; wall in 0; ant in 15 (row 3, col 3)
    env.paths = CellPaths(ant)
    # from 15 to color 0 (cell 5): first step to 11 or 14; the path may not cross colors 1-3 (cells 6, 9, 10)
    nxt = env.paths.next_cell(15, 0)
    assert nxt in (11, 14)
    d = shortest_path_direction(ant, env.paths)
    want = ant.cell_center(nxt) - ant.data.qpos[:2]
    assert np.allclose(d[:2], want / np.linalg.norm(want), atol=1e-6)
    assert np.isclose(np.linalg.norm(d[2:]), 1.0, atol=1e-5)  # the same vector in the heading frame
    # never through another color: from cell 1 toward color 2 (cell 9) the path avoids 5 and 6
    place(ant, 1)
    ant.cell = 1
    assert env.paths.next_cell(1, 2) not in (5, 6, 0)


def test_lookahead_waypoint_follows_the_cell_centre_line_and_turns_inside_the_turning_cell() -> None:
    env = AntExpertEnv(AntPinpadEnv(task="0-1-2"), lookahead=0.5)
    env.reset(seed=0)
    ant = env.ant
    layout(ant, (0, 1, 2))  # colors 0-3 in cells 5, 6, 9, 10; wall in 0; ant in 15
    ant.cell = 15
    env.paths = CellPaths(ant)
    cells = path_cells(env.paths, 15, 0)
    assert cells[0] == 15 and cells[-1] == 5 and len(cells) == env.paths.dist[0, 15] + 1
    points = ant.cell_center(np.array(cells))
    # at the centre of its cell the ant is sent along the path's first segment
    d = shortest_path_direction(ant, env.paths, lookahead=0.5)
    first = points[1] - points[0]
    assert np.allclose(d[:2], first / np.linalg.norm(first), atol=1e-6)
    # off the centre line, the waypoint is back on it, half a cell ahead of the torso's projection
    side = np.array([-first[1], first[0]]) / np.linalg.norm(first)
    xy = points[0] + 0.3 * first + 0.6 * side
    assert np.allclose(lookahead_point(points, xy, 1.0), points[0] + 0.3 * first + first / np.linalg.norm(first))
    # entering a turning cell at its edge, the waypoint is inside that cell (no corner cut through a neighbour)
    k = next(i for i in range(1, len(cells) - 1) if not np.allclose(points[i] - points[i - 1], points[i + 1] - points[i]))
    entry = (points[k - 1] + points[k]) / 2 + 0.05 * (points[k] - points[k - 1])
    w = lookahead_point(points[k:], entry, 0.45 * ant.cfg.cell_size)
    assert np.all(np.abs(w - points[k]) < ant.cfg.cell_size / 2)
    assert lookahead_point(points, points[0], 100.0) == pytest.approx(points[-1])  # it stops at the target
    with pytest.raises(ValueError, match="lookahead"):
        AntExpertEnv(AntPinpadEnv(), lookahead=-1)


def test_intrinsic_reward_is_velocity_along_the_direction() -> None:
    env = AntExpertEnv(AntPinpadEnv(), reward=AntRewardConfig(progress=1.0, healthy=0.0, ctrl_cost=0.0))
    _, info = env.reset(seed=3)
    d = info["direction"]
    _, r, term, _, _ = env.step(np.zeros(8, dtype=np.float32))
    assert not term and r == pytest.approx(float(env.ant.data.qvel[:2] @ d[:2]), rel=1e-6)


def test_lateral_penalty_is_the_speed_across_the_direction() -> None:
    env = AntExpertEnv(AntPinpadEnv(), reward=AntRewardConfig(progress=0.0, healthy=0.0, ctrl_cost=0.0, lateral=2.0))
    _, info = env.reset(seed=3)
    d = info["direction"][:2]
    env.ant.data.qvel[:2] = 3.0 * np.array([-d[1], d[0]]) + 0.5 * d  # mostly sideways
    _, r, _, _, _ = env.step(np.zeros(8, dtype=np.float32))
    v = env.ant.data.qvel[:2]
    assert r == pytest.approx(-2.0 * float(np.linalg.norm(v - (v @ d) * d)), rel=1e-6) and r < -1.0


def test_episode_outcome_counts_a_visit_on_the_horizon_step_as_a_timeout() -> None:
    assert episode_outcome({"success": False, "event": "visit"}, terminated=False) == "timeout"
    assert episode_outcome({"success": False, "event": None}, terminated=False) == "timeout"
    assert episode_outcome({"success": False, "event": "wrong_color"}, terminated=True) == "wrong_color"
    assert episode_outcome({"success": True, "event": "success"}, terminated=True) == "success"


def test_visits_and_success_pay_their_bonuses_and_success_keeps_the_healthy_bonus() -> None:
    """Finishing must not forfeit the healthy bonus still to come (else standing still wins)."""
    cfg = AntRewardConfig(progress=0.0, healthy=0.5, ctrl_cost=0.0, visit=5.0, success=10.0, success_healthy_steps=100)
    env = AntExpertEnv(AntPinpadEnv(task="0-1-2"), reward=cfg)
    env.reset(seed=0)
    ant = env.ant
    layout(ant, (0, 1))  # color 0 in cell 5, color 1 in cell 6
    env.paths = CellPaths(ant)
    place(ant, 5)
    _, r, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term) == ("visit", False) and r == pytest.approx(0.5 + 5.0)
    place(ant, 6)
    _, r, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term) == ("success", True) and r == pytest.approx(0.5 + 5.0 + 10.0 + 0.5 * 100)
    env.reset(seed=1)  # a wrong color ends the episode with no bonus
    layout(ant, (0, 1))
    place(ant, 6)
    _, r, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term, r) == ("wrong_color", True, 0.0)


def _expert_on_fixed_layout(reward: AntRewardConfig) -> AntExpertEnv:
    """An expert env on task 0-1-2 with test_ant_env's fixed layout (colors in 5, 6, 9, 10; wall 0)."""
    env = AntExpertEnv(AntPinpadEnv(task="0-1-2"), reward=reward)
    env.reset(seed=0)
    layout(env.ant, (0, 1))
    env.paths = CellPaths(env.ant)
    return env


def test_training_may_ignore_missteps_but_not_falls() -> None:
    """task_terminations=False (expert training): a wrong color is reported, not terminal; a fall still ends it."""
    env = _expert_on_fixed_layout(AntRewardConfig(task_terminations=False))
    ant = env.ant
    place(ant, 6)  # color 1 before color 0
    _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term) == ("wrong_color", False)
    place(ant, 5)  # the task goes on: color 0 is still the next target
    _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term, ant.progress) == ("visit", False, 1)
    place(ant, 10, z=1.5)  # a misstep while out of the healthy height range ends it
    _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert term and info["event"] == "wrong_color"
    env.reset(seed=1)
    layout(ant, (0, 1))
    place(ant, 14, z=1.5)  # a plain "fall" (torso height out of range)
    _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert term and info["event"] == "fell"


def test_running_norm_matches_numpy() -> None:
    x = torch.randn(3, 50, 5, dtype=torch.float64) * 3 + 1
    norm = RunningNorm(5)
    for chunk in x:
        norm.update(chunk)
    flat = x.reshape(-1, 5).numpy()
    assert np.allclose(norm.mean.numpy(), flat.mean(0), atol=1e-4)
    assert np.allclose(norm.var.numpy(), flat.var(0), rtol=1e-3)


def test_dvc_repro_runs_the_ant_pipeline(isolated_tracking: Path) -> None:
    """Every ant stage through `dvc repro ant/dvc.yaml`, the flows reporting to one Prefect server
    (the grid's smoke repro covers Prefect's temporary server; one server here saves a start per stage)."""
    repo = copy_project(isolated_tracking / "repo", profile="smoke")
    with prefect_server(isolated_tracking / "prefect-server") as api:
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PREFECT_API_URL": api}
        out = subprocess.run(["dvc", "repro", "ant/dvc.yaml"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        runs = httpx.post(f"{api}/flow_runs/filter", json={}, timeout=30).json()
        assert {r["state_type"] for r in runs} == {"COMPLETED"} and len(runs) == 8
    lock = (repo / "ant" / "dvc.lock").read_text()
    assert "profiles.smoke.expert_ant" in lock and "data/ant/D_star" in lock
    expert = json.loads((repo / "metrics/ant/expert.json").read_text())
    assert expert["profile"] == "smoke" and expert["env"]["name"] == "ant-pinpad"
    assert 0 <= expert["success_pretrain"] <= 1 and 0 <= expert["success_post"] <= 1 and expert["env_steps"] == 64
    d, ds = load_dataset(repo / "data/ant/D"), load_dataset(repo / "data/ant/D_star")
    assert d.num_episodes == 6 and ds.num_episodes == 4
    assert d.manifest["expert"]["actions"] == "sampled" and ds.manifest["expert"]["actions"] == "mean"
    assert d["obs"].shape[1] == AntPinpadEnv(**AntConfig(horizon=30).to_dict()).observation_space.shape[0]
    pre = json.loads((repo / "metrics/ant/pretrain.json").read_text())
    assert pre["steps"] == 6 and pre["resumed_from_step"] == 0 and 0 <= pre["rollout_success"] <= 1 and pre["model"]["obs_dim"] == d["obs"].shape[1]
    assert len(json.loads((repo / "metrics/ant/pretrain_history.json").read_text())) == 2
    probe = json.loads((repo / "metrics/ant/probe.json").read_text())
    assert len(probe["accuracy_by_layer"]) == 3 and probe["chance"] == 0.25 and (repo / "plots/ant/probe.png").is_file()
    gt = json.loads((repo / "metrics/ant/gt_controllers.json").read_text())
    assert gt["best_rank"] == "full" and gt["episodes"] == 2 and 0 <= gt["ood_success_controlled"] <= 1
    disc = json.loads((repo / "metrics/ant/discover.json").read_text())
    assert disc["env"]["name"] == "ant-pinpad" and disc["steps"] == 3 and disc["heldout_episodes"] == 2
    assert 0 <= disc["boundary_f1"] <= 1 and (repo / "plots/ant/beta_traces.png").is_file()
    mc_cfg = json.loads((repo / "models/ant/metacontroller/config.json").read_text())
    assert mc_cfg["config"]["rank"] == mc_cfg["config"]["d_model"] == 32  # full rank on the smoke Hawk
    rl = json.loads((repo / "metrics/ant/internal_rl.json").read_text())
    assert rl["task"] == "0-1-2-3" and rl["episode_budget"] == 4 and 0 <= rl["final_success"] <= 1
    assert rl["expert_success_post"] == expert["success_post"]
    assert rl["normalised_success"] == (rl["final_success"] / expert["success_post"] if expert["success_post"] else None)
    bl = json.loads((repo / "metrics/ant/baselines.json").read_text())
    assert set(bl["methods"]) == {"raw_action", "beta_always"} and bl["episode_budget"] == rl["episode_budget"]
    assert all(0 <= m["final_success"] <= 1 for m in bl["methods"].values()) and (repo / "plots/ant/rl_methods.png").is_file()
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    for name in ("irl-ant-expert", "irl-ant-base", "irl-ant-gt-controllers", "irl-ant-metacontroller", "irl-ant-policy"):
        assert int(client.get_model_version_by_alias(name, "champion").version) == 1
    # a second repro has nothing to do; the grid pipeline (root dvc.yaml) was not touched
    again = subprocess.run(["dvc", "repro", "ant/dvc.yaml"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "didn't change" in again.stdout + again.stderr
    assert not (repo / "dvc.lock").exists()


def test_expert_training_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    """Killed after update 1's checkpoint and resumed, the run ends with the weights of the run that
    was never stopped, bit for bit: its episodes in flight (30-step horizon, 16-step rollouts) and its
    random streams went into the checkpoint; the open-floor phase ends in between."""
    from irl.rl.ppo_ant import PPOAntConfig, train_ant_expert

    cfg = PPOAntConfig(total_steps=96, num_envs=2, num_steps=16, num_minibatches=2, update_epochs=1, hidden=16,
                       checkpoint_every=1, open_floor_steps=64, frame="heading", lookahead=0.5)
    env = AntConfig(horizon=30)
    uninterrupted, _ = train_ant_expert(env, cfg, tmp_path / "uninterrupted")
    tmp_path = tmp_path / "killed"

    class Killed(Exception):
        pass

    def kill_at_64(step: int, m: dict) -> None:
        if step == 64:
            raise Killed()

    with pytest.raises(Killed):
        train_ant_expert(env, cfg, tmp_path, log=kill_at_64)
    (ckpt,) = tmp_path.glob("checkpoint-*")
    assert json.loads((ckpt / "state.json").read_text())["global_step"] == 32
    steps: list[int] = []
    policy, state = train_ant_expert(env, cfg, tmp_path, log=lambda s, m: steps.append(s))
    assert steps == [64, 96] and state["update"] == 3
    assert float(policy.norm.count) > 2 * 2  # the observation statistics came back with the weights
    ref = uninterrupted.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in policy.state_dict().items())


def test_zero_controllers_leave_ant_rollouts_unchanged_and_trained_ones_fit_d_star(tmp_path: Path) -> None:
    """An untrained (zero) full-rank controller is the identity edit: the same layouts, the same
    action noise, the same outcomes as the uncontrolled Hawk; fitting lowers D*'s action NLL."""
    from irl.data.collect_ant import AntCollectConfig, collect_ant
    from irl.data.dataset import save_dataset
    from irl.envs.tasks import resolve_tasks
    from irl.experts.ant_expert import AntExpertPolicy, ExpertNetConfig
    from irl.models.controllers import ControllerConfig, LinearControllers
    from irl.models.hawk import HawkConfig, HawkModel
    from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers
    from irl.training.pretrain_ant import ant_rollout

    torch.manual_seed(0)
    env = AntConfig(horizon=25)
    base = HawkModel(HawkConfig(obs_dim=41, n_layers=2, d_model=32, n_heads=4, d_mlp=64)).eval()
    zero = LinearControllers(ControllerConfig(4, 32, None, 1))
    post = resolve_tasks("post", "ant", 4)
    a = ant_rollout(base, env, "post", 3, seed=5)
    b = ant_rollout(base, env, "post", 3, seed=5, controller=lambda g: zero.edit(torch.from_numpy(g)), edit_layer=1)
    assert a == b
    assert steered_success(base, zero, env, post, 3, 5) == steered_success(base, None, env, post, 3, 5)
    expert = AntExpertPolicy(ExpertNetConfig(45, 8, 16))
    arrays, meta = collect_ant(env, expert, AntCollectConfig(4, True, successful_only=False, num_envs=2))
    save_dataset(tmp_path / "D_star", arrays, meta)
    data = load_dataset(tmp_path / "D_star")
    before = [p.clone() for p in base.parameters()]
    _, fit = train_controllers(base, data, ControllerConfig(4, 32, None, 1),
                               GTControllerConfig(layers=(1,), ranks=("full",), steps=20, batch_size=4, lr=1e-2))
    assert fit["nll_after"] < fit["nll_before"]
    assert all(torch.equal(p, q) for p, q in zip(before, base.parameters()))  # the base stays frozen


def _turn_scene(ant: AntPinpadEnv, angle: float) -> None:
    """Rotate the torso's pose and velocity about z by `angle` (joints unchanged)."""
    q, v = ant.data.qpos, ant.data.qvel
    c, s = np.cos(angle / 2), np.sin(angle / 2)
    w, x, y, z = q[3:7]
    q[3:7] = [c * w - s * z, c * x - s * y, c * y + s * x, c * z + s * w]  # (c, 0, 0, s) ⊗ q
    ca, sa = np.cos(angle), np.sin(angle)
    v[0], v[1] = ca * v[0] - sa * v[1], sa * v[0] + ca * v[1]


def test_heading_observation_is_invariant_to_turning_the_scene() -> None:
    """frame="heading": the expert's input does not change when ant, velocity and direction turn together."""
    from irl.experts.ant_expert import HEADING_OBS_DIM, heading_observation, torso_yaw

    env = AntExpertEnv(AntPinpadEnv(), frame="heading")
    obs, info = env.reset(seed=2)
    assert obs.shape == (HEADING_OBS_DIM,) == env.observation_space.shape
    for _ in range(5):  # a moving, tilted ant
        obs, *_ = env.step(env.action_space.sample())
    ant = env.ant
    yaw = torso_yaw(ant.data.qpos)
    d_heading = env.direction.copy()
    before = heading_observation(ant, d_heading)
    _turn_scene(ant, 1.1)
    assert torso_yaw(ant.data.qpos) == pytest.approx(np.angle(np.exp(1j * (yaw + 1.1))), abs=1e-9)
    assert np.allclose(heading_observation(ant, d_heading), before, atol=1e-5)
    assert not np.allclose(ant.data.qvel[:2], 0)


def test_open_floor_draws_directions_and_ends_only_on_a_fall() -> None:
    env = AntExpertEnv(AntPinpadEnv(), mode="open", open_turn_every=3)
    env.reset(seed=0)
    first = env.direction.copy()
    assert np.isclose(np.linalg.norm(first[:2]), 1.0)
    place(env.ant, 0)  # a wall, pad or the grid's edge would end a task episode; here nothing does
    env.ant.data.qpos[:2] = [50.0, 50.0]
    dirs = []
    for _ in range(6):
        _, _, term, trunc, info = env.step(np.zeros(8, dtype=np.float32))
        assert not term and not trunc and info["event"] is None
        dirs.append(env.direction[:2].copy())
    assert np.allclose(dirs[0], first[:2]) and not np.allclose(dirs[2], first[:2])  # redrawn at t = 3
    place(env.ant, 5, z=1.5)
    _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert term and info["event"] == "fell"
    with pytest.raises(ValueError, match="mode"):
        env.mode = "flat"


def test_open_floor_walks_over_pads_after_the_task_is_done() -> None:
    """The open floor ignores the task: entering a pad after the task's last color must not fail."""
    env = AntExpertEnv(AntPinpadEnv(task="0-1-2"), mode="open")
    env.reset(seed=0)
    ant = env.ant
    layout(ant, (0, 1, 2))
    for cell in (5, 6, 9, 10, 5):  # colors 0, 1, 2 (the task is done), then 3 and 0 again
        place(ant, cell)
        _, _, term, _, info = env.step(np.zeros(8, dtype=np.float32))
        assert not term and info["event"] is None


def test_a_misstep_costs_its_penalty_when_training_goes_on_through_it() -> None:
    env = _expert_on_fixed_layout(AntRewardConfig(progress=0.0, healthy=0.0, ctrl_cost=0.0,
                                                  task_terminations=False, misstep=7.0))
    ant = env.ant
    place(ant, 6)  # color 1 before color 0
    _, r, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term, r) == ("wrong_color", False, -7.0)
    place(ant, 0)  # the wall
    _, r, term, _, info = env.step(np.zeros(8, dtype=np.float32))
    assert (info["event"], term, r) == ("wall", False, -7.0)
