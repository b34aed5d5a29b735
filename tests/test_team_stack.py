"""The team topology end to end, natively (no Docker engine here): PostgreSQL, an MLflow server and a
Prefect server on it, a process worker; the smoke pipeline deployed from prefect.yaml and
triggered through the Prefect REST API runs on the worker, tracks to the MLflow server, registers
the models with their aliases, and the policy API loads the champion from that server over HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import yaml
import pytest

from tests.conftest import ROOT, copy_project
from tests.servers import policy_server
from tests.stack import BIN, mlflow_server, postgres, prefect_server_pg, prefect_worker

pytestmark = pytest.mark.integration
STAGES = {"collect_grid", "pretrain_grid", "probe_grid", "gt_controllers_grid", "discover_grid",
          "rate_distortion_grid", "internal_rl_grid", "baselines_grid"}


def wait_flow_run(api: str, run_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(2)
    raise TimeoutError(f"flow run {run_id} not finished after {timeout}s")


def test_deployment_runs_on_a_worker_and_the_api_serves_its_champion(tmp_path: Path) -> None:
    import mlflow

    repo = copy_project(tmp_path / "repo", profile="smoke")
    shutil.copy2(ROOT / "prefect.yaml", repo / "prefect.yaml")
    logs, home = tmp_path / "logs", tmp_path / "prefect-home"
    logs.mkdir()
    with postgres() as pg, mlflow_server(pg, tmp_path / "artifacts", logs) as ml, \
            prefect_server_pg(pg, home, logs) as api:
        env = {"MLFLOW_TRACKING_URI": ml, "IRL_WORKDIR": str(repo), "PREFECT_API_URL": api,
               "PREFECT_HOME": str(home), "OMP_NUM_THREADS": "1"}
        with prefect_worker(api, env, home, logs, repo):
            deploy = subprocess.run([str(BIN / "prefect"), "--no-prompt", "deploy", "--all"], cwd=repo,
                                    env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
            assert deploy.returncode == 0, deploy.stdout[-3000:] + deploy.stderr[-3000:]
            deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=30).json()
            assert {d["name"] for d in deployments} >= {"grid-pipeline", "collect-grid", "internal-rl-grid"}
            pipeline = next(d for d in deployments if d["name"] == "grid-pipeline")
            assert pipeline["work_pool_name"] == "irl-pool"
            assert "profile" in pipeline["parameter_openapi_schema"]["properties"]
            created = httpx.post(f"{api}/deployments/{pipeline['id']}/create_flow_run",
                                 json={"parameters": {"profile": "smoke"}}, timeout=30)
            assert created.status_code == 201, created.text
            run = wait_flow_run(api, created.json()["id"], timeout=1200)
            assert run["state"]["type"] == "COMPLETED", (logs / "worker.log").read_text()[-5000:]

        client = mlflow.MlflowClient(ml)
        exp = client.get_experiment_by_name("internal-rl-grid")
        runs = client.search_runs([exp.experiment_id], max_results=200)
        assert {r.info.run_name for r in runs} >= STAGES
        assert all(r.data.tags.get("irl.profile") == "smoke" for r in runs if r.info.run_name in STAGES)
        champions = {name: client.get_model_version_by_alias(name, "champion")
                     for name in ("irl-grid-base", "irl-grid-metacontroller", "irl-grid-policy", "irl-grid-gt-controllers")}
        assert all(v.run_id for v in champions.values())
        assert not (repo / "mlflow.db").exists()  # nothing fell back to the embedded store

        with policy_server(logs, {"MLFLOW_TRACKING_URI": ml, "IRL_MODEL_SOURCE": "registry"}) as u:
            assert httpx.get(f"{u}/readyz", timeout=10).json()["ready"] is True
            served = {m["role"]: m for m in httpx.get(f"{u}/v1/models", timeout=10).json()["models"]}
            assert served["policy"]["version"] == champions["irl-grid-policy"].version
            assert served["policy"]["run_id"] == champions["irl-grid-policy"].run_id
            assert served["metacontroller"]["run_id"] == champions["irl-grid-metacontroller"].run_id
            assert httpx.post(f"{u}/v1/rollouts", json={"seed": 0}, timeout=60).status_code == 200


def test_make_ui_serves_every_stage_as_a_deployment_a_user_can_trigger(tmp_path: Path) -> None:
    """`make ui` = a Prefect server + `python -m flows.serve_all`: every stage is a deployment at
    once, and a run triggered through the API (as the UI's Run button does) completes."""
    from tests.servers import prefect_server, service

    repo = copy_project(tmp_path / "repo", profile="smoke")
    with prefect_server(tmp_path / "prefect") as api:
        env = {"PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "prefect"),
               "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "PYTHONPATH": str(repo)}
        with service(["python", "-m", "flows.serve_all"], env, tmp_path / "serve.log", "", cwd=repo):
            # the deployments a user sees in the UI are exactly those prefect.yaml declares (grid and ant)
            expected = {d["name"] for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
            assert {"grid-pipeline", "collect-grid", "baselines-grid", "expert-ant", "gt-controllers-ant"} <= expected
            deadline, names = time.monotonic() + 120, set()
            while time.monotonic() < deadline and names != expected:
                names = {d["name"] for d in httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()}
                time.sleep(1)
            assert names == expected
            dep = httpx.get(f"{api}/deployments/name/collect_grid/collect-grid", timeout=10).json()
            created = httpx.post(f"{api}/deployments/{dep['id']}/create_flow_run", json={"parameters": {"profile": "smoke"}},
                                 timeout=10).json()
            run = wait_flow_run(api, created["id"], timeout=300)
            assert run["state"]["type"] == "COMPLETED", (tmp_path / "serve.log").read_text()[-4000:]
    assert (repo / "data" / "grid" / "D" / "manifest.json").is_file()
