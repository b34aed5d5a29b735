"""The collect stage end to end: Prefect (a real server and the temporary one), MLflow, DVC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import mlflow
import pytest

from irl.data.dataset import load_dataset
from tests.conftest import ROOT, copy_project
from tests.servers import prefect_server

pytestmark = pytest.mark.integration


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}"
    return out


@pytest.fixture(scope="module")
def prefect_api(tmp_path_factory: pytest.TempPathFactory):
    with prefect_server(tmp_path_factory.mktemp("prefect-server")) as api:
        yield api


def test_collect_flow_on_a_prefect_server_tracks_to_mlflow(isolated_tracking: Path, prefect_api: str) -> None:
    tmp, api = isolated_tracking, prefect_api
    env = {**os.environ, "PREFECT_API_URL": api}
    _run([sys.executable, "-m", "flows.collect", "--profile", "smoke", "--out-dir", str(tmp / "data"),
          "--metrics", str(tmp / "collect.json")], cwd=ROOT, env=env)

    top_level = {"flows": {"name": {"any_": ["collect_grid"]}}, "flow_runs": {"parent_task_run_id": {"is_null_": True}}}
    runs = httpx.post(f"{api}/flow_runs/filter", json=top_level).json()
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    arts = httpx.post(f"{api}/artifacts/filter", json={"artifacts": {"key": {"any_": ["collect-grid"]},
                                                                     "flow_run_id": {"any_": [runs[0]["id"]]}}}).json()
    assert len(arts) == 1
    assert "| D | 256 |" in arts[0]["data"] and "MLflow run:" in arts[0]["data"]

    metrics = json.loads((tmp / "collect.json").read_text())
    assert metrics["expert_success"] == 1.0 and metrics["expert_success_post"] == 1.0
    assert metrics["episodes"] == 256 + 128 and metrics["steps"] > 0 and metrics["steps_per_s"] > 0
    assert load_dataset(tmp / "data" / "D").num_episodes == 256

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    (run,) = mlflow.search_runs(experiment_names=["internal-rl-grid"], output_format="list")
    assert run.data.params["collect_grid.episodes_D"] == "256" and run.data.params["profile"] == "smoke"
    assert run.data.metrics["expert_success"] == 1.0 and run.data.metrics["datasets.D.steps"] == metrics["datasets"]["D"]["steps"]
    assert run.data.tags["prefect.flow_run_id"] == runs[0]["id"]
    arts = {a.path for a in mlflow.artifacts.list_artifacts(run_id=run.info.run_id, artifact_path="manifests/D")}
    assert arts == {"manifests/D/manifest.json"}
    manifest = json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/manifests/D/manifest.json"))
    assert manifest["counts"]["episodes"] == 256


def test_dvc_repro_runs_the_pipeline_on_the_temporary_server(isolated_tracking: Path) -> None:
    repo = copy_project(isolated_tracking / "repo", profile="smoke")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out = _run(["dvc", "repro"], cwd=repo, env=env)
    assert "Starting temporary server" in out.stdout + out.stderr
    lock = (repo / "dvc.lock").read_text()
    assert "profiles.smoke.collect_grid" in lock and "data/grid/D_star" in lock
    metrics = json.loads((repo / "metrics/grid/collect.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["expert_success"] == 1.0
    assert load_dataset(repo / "data/grid/D_star").manifest["expert"]["epsilon"] == 0.0
    pre = json.loads((repo / "metrics/grid/pretrain.json").read_text())
    assert pre["profile"] == "smoke" and pre["steps"] == 30 and pre["resumed_from_step"] == 0 and 0 <= pre["rollout_success"] <= 1
    assert (repo / "models/grid/base/model.safetensors").is_file()
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    version = mlflow.MlflowClient().get_model_version_by_alias("irl-grid-base", "champion")
    assert int(version.version) == 1 and version.source.endswith("/model")
    probe = json.loads((repo / "metrics/grid/probe.json").read_text())
    assert len(probe["accuracy_by_layer"]) == 3 and probe["chance"] == 0.25
    gt = json.loads((repo / "metrics/grid/gt_controllers.json").read_text())
    assert {"ood_success_controlled", "ood_success_uncontrolled", "best_layer"} <= set(gt) and len(gt["sweep"]) == 2
    assert (repo / "plots/grid/probe.png").read_bytes()[:4] == b"\x89PNG"
    disc = json.loads((repo / "metrics/grid/discover.json").read_text())
    assert disc["steps"] == 10 and disc["resumed_from_step"] == 0 and disc["true_subgoals_per_episode"] == 3.0 and 0 <= disc["boundary_f1"] <= 1
    sel = disc["selection"]  # two candidate seeds to step 4, the earlier-paying one trained on
    assert [(c["seed"], c["step"]) for c in sel["candidates"]] == [(0, 4), (1, 4)] and sel["select_at"] == 4
    assert disc["seed"] == sel["selected_seed"] == max(sel["candidates"], key=lambda c: c["early_saving"])["seed"]
    steer = json.loads((repo / "metrics/grid/steering.json").read_text())
    assert len(steer["by_subgoal"]) == 4 and 0 <= steer["reach_rate_steered"] <= 1
    rd = json.loads((repo / "metrics/grid/rate_distortion.json").read_text())
    assert sorted((r["mode"], r["alpha"]) for r in rd["runs"]) == [("co_trained", 0.0), ("co_trained", 0.1), ("frozen", 0.0), ("frozen", 0.1)]
    assert (repo / "plots/grid/beta_traces.png").read_bytes()[:4] == b"\x89PNG"
    assert int(mlflow.MlflowClient().get_model_version_by_alias("irl-grid-metacontroller", "champion").version) == 1
    rl = json.loads((repo / "metrics/grid/internal_rl.json").read_text())
    assert rl["episode_budget"] == 64 and len(rl["final_success_by_seed"]) == 2 and "oracle_code_success" in rl
    assert rl["promoted_to_champion"] and (repo / "models/grid/policy/model.safetensors").is_file()
    assert int(mlflow.MlflowClient().get_model_version_by_alias("irl-grid-policy", "champion").version) == 1
    base = json.loads((repo / "metrics/grid/baselines.json").read_text())
    assert set(base["methods"]) == {"raw_action", "beta_always", "co_trained", "compile"}
    assert base["random_base_episodes"] == 256 and (repo / "plots/grid/rl_methods.png").read_bytes()[:4] == b"\x89PNG"
    status = _run(["dvc", "status", "dvc.yaml", "--json"], cwd=repo, env=env)  # the grid pipeline (ant/dvc.yaml never ran here)
    assert json.loads(status.stdout) == {}
    again = _run(["dvc", "repro"], cwd=repo, env=env)
    assert "didn't change, skipping" in again.stdout
    # a policy that does not beat the champion is registered but not promoted
    _run([sys.executable, "-m", "flows.internal_rl"], cwd=repo, env=env)
    rl2 = json.loads((repo / "metrics/grid/internal_rl.json").read_text())
    client = mlflow.MlflowClient()
    assert int(rl2["registered_version"]) == 2 and rl2["promoted_to_champion"] == (max(rl2["final_success_by_seed"]) > max(rl["final_success_by_seed"]))
    assert int(client.get_model_version_by_alias("irl-grid-policy", "champion").version) == (2 if rl2["promoted_to_champion"] else 1)
    # α and seed sweeps fan out over a local Dask cluster: 6 points each, on both worker processes
    for kind, extra in (("alpha", ["--values", "0", "0.05", "0.1", "0.17", "0.3", "0.5", "--steps", "3"]),
                        ("seed", ["--values", "0", "1", "2", "3", "4", "5", "--episodes", "32"])):
        _run([sys.executable, "-m", "flows.sweep", "--kind", kind, "--runner", "dask", "--workers", "2",
              "--profile", "smoke", "--out", f"sweep-{kind}.json", *extra], cwd=repo, env=env)
        sweep = json.loads((repo / f"sweep-{kind}.json").read_text())
        assert sweep["points"] == 6 and sweep["runner"] == "dask" and sweep["processes"] == 2
        assert sorted(r[kind] for r in sweep["rows"]) == sorted(float(v) if kind == "alpha" else int(v) for v in extra[1:7])
    # the same sweep on an external Dask scheduler with its own workers (what a team points --dask-address at)
    from tests.servers import free_port, service

    port = free_port()
    bindir = Path(sys.executable).parent
    with service([str(bindir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                 {}, repo / "scheduler.log", "", cwd=repo), \
            service([str(bindir / "dask"), "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
                     "--no-dashboard"], {"OMP_NUM_THREADS": "1"}, repo / "workers.log", "", cwd=repo):
        _run([sys.executable, "-m", "flows.sweep", "--kind", "alpha", "--dask-address", f"tcp://127.0.0.1:{port}",
              "--values", "0", "0.05", "0.1", "0.17", "0.3", "0.5", "--steps", "3", "--profile", "smoke",
              "--out", "sweep-remote.json"], cwd=repo, env=env)
    remote = json.loads((repo / "sweep-remote.json").read_text())
    assert remote["points"] == 6 and remote["dask_address"] == f"tcp://127.0.0.1:{port}" and remote["processes"] == 2


def test_pipeline_flow_runs_collect_as_a_subflow(isolated_tracking: Path, prefect_api: str) -> None:
    repo = copy_project(isolated_tracking / "repo", profile="smoke")
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    _run([sys.executable, "-m", "flows.pipeline"], cwd=repo, env=env)
    (parent,) = httpx.post(f"{prefect_api}/flow_runs/filter", json={"flows": {"name": {"any_": ["grid_pipeline"]}}}).json()
    assert parent["state_type"] == "COMPLETED"
    children = httpx.post(f"{prefect_api}/flow_runs/filter", json={"flow_runs": {"parent_flow_run_id": {"any_": [parent["id"]]}}}).json()
    assert len(children) == 8
    assert all(c["state_type"] == "COMPLETED" for c in children)
    assert json.loads((repo / "metrics/grid/collect.json").read_text())["profile"] == "smoke"
