"""The policy service over real HTTP: a uvicorn server on 127.0.0.1 started like `make serve`,
every endpoint exercised, every bad input a 4xx naming the field, and a schemathesis run."""

from __future__ import annotations

import concurrent.futures as cf
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.bundle_helpers import ANT, GRID, make_ant_store, make_store
from tests.servers import policy_server

OBS = {"agent": 12, "colors": [0, 1, 2, 3, 4, 5, 6, 7], "walls": [20, 21, 22, 23]}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def url(store: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    ant = make_ant_store(tmp_path_factory.mktemp("ant-store"))
    env = {"IRL_MODEL_SOURCE": "local", "IRL_MODELS_DIR": str(store), "IRL_ANT_MODELS_DIR": str(ant), "IRL_MAX_SESSIONS": "6",
           "IRL_SESSION_TTL_S": "3", "IRL_MAX_ROLLOUT_STEPS": "200"}
    with policy_server(tmp_path_factory.mktemp("srv"), env) as u:
        yield u


def fields(resp: httpx.Response) -> list[list]:
    """The `loc` of every error in a 422 body."""
    assert resp.status_code == 422, resp.text
    return [e["loc"] for e in resp.json()["detail"]]


def test_health_readiness_and_models(url: str, store: Path) -> None:
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{url}/readyz").json()["ready"] is True
    m = httpx.get(f"{url}/v1/models").json()
    assert {i["role"] for i in m["models"]} == {"base", "metacontroller", "policy", "gt_controllers"}
    assert all(i["source"] == "local" and i["location"].startswith(str(store)) for i in m["models"])
    assert m["env"] == {**GRID, "layouts": "task"} and m["policies"] == ["internal-rl", "base", "gt-controllers"] and m["n_subgoals"] == 4
    assert {i["role"] for i in m["ant_models"]} == {"base", "metacontroller", "policy"} and m["ant_error"] is None
    assert "/v1/sessions/{sid}/act" in httpx.get(f"{url}/openapi.json").json()["paths"]


@pytest.mark.parametrize("policy", ["internal-rl", "base", "gt-controllers"])
def test_rollouts_return_the_whole_trajectory(url: str, policy: str) -> None:
    body = {"task": "post", "seed": 4, "policy": policy, "frames": "png"}
    r = httpx.post(f"{url}/v1/rollouts", json=body, timeout=60).json()
    n = r["steps"]
    assert len(r["positions"]) == n + 1 and len(r["actions"]) == n and len(r["beta"]) == n and len(r["z"]) == n
    assert len(r["frames_png"]) == n + 1 and r["task"] == [0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3]
    assert r["reward"] == float(r["success"])
    if policy == "base":
        assert r["switches"] == [] and r["z"] == [None] * n and r["beta"] == [None] * n
    else:
        assert r["switches"][0] == 0
    if policy == "internal-rl":
        assert r["switches"] == [t for t, b in enumerate(r["beta"]) if b > 0.5]
    again = httpx.post(f"{url}/v1/rollouts", json={**body, "frames": "gif"}, timeout=60).json()
    assert again["actions"] == r["actions"] and again["gif"] and again["frames_png"] is None


@pytest.mark.parametrize("policy", ["internal-rl", "base"])
def test_ant_rollouts_return_the_xy_trace_codes_and_frames(url: str, policy: str) -> None:
    r = httpx.post(f"{url}/v1/ant/rollouts", json={"seed": 3, "policy": policy, "frames": "gif"}, timeout=120)
    assert r.status_code == 200, r.text
    t = r.json()
    n = t["steps"]
    assert t["env"] == "ant" and t["task"] == [0, 1, 2, 3] and t["policy"] == policy and 1 <= n <= ANT["horizon"]
    assert len(t["xy"]) == n + 1 and len(t["torques"]) == len(t["beta"]) == len(t["z"]) == len(t["target"]) == n
    assert all(len(a) == 8 and all(-1 <= x <= 1 for x in a) for a in t["torques"])
    assert t["outcome"] in ("success", "wrong_color", "wall", "left_grid", "fell", "timeout")
    if policy == "internal-rl":  # a code from the first step on; β decides the later switches
        assert t["switches"][0] == 0 and all(len(z) == 8 for z in t["z"])
        assert all(t["beta"][k] > 0.5 for k in t["switches"][1:])
        assert all(t["z"][k] == t["z"][k - 1] for k in range(1, n) if k not in t["switches"])
    else:
        assert t["switches"] == [] and set(map(str, t["z"])) == {"None"}
    import base64
    assert base64.b64decode(t["gif"])[:6] in (b"GIF87a", b"GIF89a")
    same = httpx.post(f"{url}/v1/ant/rollouts", json={"seed": 3, "policy": policy}, timeout=120).json()
    assert same["xy"] == t["xy"]  # the seed fixes the layout, start, yaw and torques; frames change nothing
    assert fields(httpx.post(f"{url}/v1/ant/rollouts", json={"max_steps": 5000}, timeout=30)) == [["body", "max_steps"]]
    assert fields(httpx.post(f"{url}/v1/ant/rollouts", json={"task": "0-9"}, timeout=30)) == [["body", "task"]]
    assert fields(httpx.post(f"{url}/v1/ant/rollouts", json={"policy": "gt-controllers"}, timeout=30)) == [["body", "policy"]]


def test_an_ant_session_driven_by_the_clients_simulator_retraces_the_servers_rollout(url: str) -> None:
    """A client stepping its own AntPinpad-v0 through act gets the torques the server's own rollout
    of the same seed executed: the same xy trace, step for step."""
    import numpy as np

    from irl.envs.ant import AntConfig, AntPinpadEnv

    want = httpx.post(f"{url}/v1/ant/rollouts", json={"seed": 5}, timeout=120).json()
    created = httpx.post(f"{url}/v1/ant/sessions", json={"seed": 5}, timeout=30)
    assert created.status_code == 201, created.text
    sid, info = created.json()["id"], created.json()
    env = AntPinpadEnv(task="post", **AntConfig(**ANT).to_dict())
    obs, _ = env.reset(seed=5)
    assert info["obs_dim"] == obs.shape[0] and info["horizon"] == ANT["horizon"]
    xy, switches, done, step = [env.data.qpos[:2].tolist()], [], False, 0
    while not done:
        r = httpx.post(f"{url}/v1/ant/sessions/{sid}/act", json={"observation": obs.tolist()}, timeout=30)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["step"] == step and len(out["torques"]) == 8
        if out["switched"]:
            switches.append(step)
        obs, _, term, trunc, _ = env.step(np.array(out["torques"], dtype=np.float32))
        xy.append(env.data.qpos[:2].tolist())
        done, step = term or trunc, step + 1
    np.testing.assert_allclose(xy, want["xy"], rtol=1e-5, atol=1e-5)
    assert switches == want["switches"]
    bad = httpx.post(f"{url}/v1/ant/sessions/{sid}/act", json={"observation": [0.0] * 3, "reset": True}, timeout=30)
    assert fields(bad) == [["body", "observation"]]
    assert httpx.delete(f"{url}/v1/ant/sessions/{sid}", timeout=30).status_code == 204
    assert httpx.post(f"{url}/v1/ant/sessions/{sid}/act", json={"observation": obs.tolist()}, timeout=30).status_code == 404


def test_bad_rollout_requests_name_the_field(url: str) -> None:
    post = lambda body: httpx.post(f"{url}/v1/rollouts", json=body, timeout=30)  # noqa: E731
    assert fields(post({"task": "0-0"})) == [["body", "task"]]
    assert fields(post({"task": "../../etc/passwd"})) == [["body", "task"]]
    assert fields(post({"seed": -1})) == [["body", "seed"]]
    assert fields(post({"policy": "oracle"})) == [["body", "policy"]]
    assert fields(post({"max_steps": 201})) == [["body", "max_steps"]]
    assert fields(post({"frames": "mp4"})) == [["body", "frames"]]
    assert fields(post({"sneaky": 1})) == [["body", "sneaky"]]
    bad_json = httpx.post(f"{url}/v1/rollouts", content=b"{not json", headers={"content-type": "application/json"})
    assert bad_json.status_code == 422
    big = httpx.post(f"{url}/v1/rollouts", content=b" " * 70000, headers={"content-type": "application/json"})
    assert big.status_code == 413 and "bytes" in big.json()["detail"]
    r = post({"task": "post", "max_steps": 3})
    assert r.status_code == 200 and r.json()["steps"] <= 3


def test_session_acts_steers_and_ends(url: str) -> None:
    c = httpx.Client(base_url=url, timeout=30)
    s = c.post("/v1/sessions", json={"policy": "internal-rl", "task": "post"})
    assert s.status_code == 201
    sid = s.json()["id"]
    first = c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).json()
    assert first["step"] == 0 and first["switched"] and first["beta"] == 1.0 and len(first["z"]) == 8
    assert first["action_name"] == ["up", "right", "down", "left"][first["action"]]
    second = c.post(f"/v1/sessions/{sid}/act", json={"observation": {**OBS, "agent": 13}}).json()
    assert second["step"] == 1 and second["switched"] == (second["beta"] > 0.5)
    moved = c.post(f"/v1/sessions/{sid}/act", json={"observation": {**OBS, "walls": [19, 21, 22, 23]}})
    assert moved.status_code == 409 and "reset" in moved.json()["detail"]
    assert c.post(f"/v1/sessions/{sid}/steer", json={"z": [0.25] * 8}).json()["steering"] == "z"
    steered = c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).json()
    assert steered["z"] == [0.25] * 8 and steered["step"] == 2
    again = c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS, "reset": True}).json()
    assert again["step"] == 0 and again["z"] == [0.25] * 8  # the steer outlives the episode
    assert c.post(f"/v1/sessions/{sid}/steer", json={"subgoal": 1}).json()["steering"] == "subgoal 1"
    assert c.post(f"/v1/sessions/{sid}/steer", json={}).json()["steering"] == "none"
    assert c.delete(f"/v1/sessions/{sid}").status_code == 204
    assert c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).status_code == 404
    assert c.delete(f"/v1/sessions/{sid}").status_code == 404


def test_bad_session_requests_name_the_field(url: str) -> None:
    c = httpx.Client(base_url=url, timeout=30)
    sid = c.post("/v1/sessions", json={"policy": "gt-controllers"}).json()["id"]
    act = lambda obs: c.post(f"/v1/sessions/{sid}/act", json={"observation": obs})  # noqa: E731
    assert fields(act(OBS)) == [["body", "observation", "subgoal"]]
    assert fields(act({**OBS, "subgoal": 7})) == [["body", "observation", "subgoal"]]
    assert fields(act({**OBS, "subgoal": 0, "colors": [0, 1, 2]})) == [["body", "observation", "colors"]]
    assert fields(act({**OBS, "subgoal": 0, "walls": [20, 21, 22, 99]})) == [["body", "observation", "walls"]]
    assert fields(act({**OBS, "subgoal": 0, "agent": 20})) == [["body", "observation", "agent"]]
    assert fields(act({**OBS, "subgoal": 0, "walls": [0, 21, 22, 23]})) == [["body", "observation"]]
    assert fields(act({**OBS, "agent": -3})) == [["body", "observation", "agent"]]
    ok = act({**OBS, "subgoal": 2}).json()
    assert ok["subgoal"] == 2 and ok["switched"] and ok["z"] is None
    assert fields(c.post(f"/v1/sessions/{sid}/steer", json={"subgoal": 9})) == [["body", "subgoal"]]
    assert fields(c.post(f"/v1/sessions/{sid}/steer", json={"z": [1.0, 2.0]})) == [["body", "z"]]
    assert fields(c.post(f"/v1/sessions/{sid}/steer", json={"z": [0.0] * 8, "subgoal": 1})) == [["body", "z"]]
    assert c.post(f"/v1/sessions/{sid}/steer", json={"subgoal": 3}).json()["steering"] == "subgoal 3"
    assert act({**OBS, "subgoal": 0}).json()["subgoal"] == 3  # a steer overrides the caller's subgoal
    assert c.post("/v1/sessions/nope/act", json={"observation": OBS}).status_code == 404
    c.delete(f"/v1/sessions/{sid}")


def test_horizon_limit_expiry_and_batching(url: str) -> None:
    c = httpx.Client(base_url=url, timeout=60)
    sid = c.post("/v1/sessions", json={"policy": "base"}).json()["id"]
    for t in range(GRID["horizon"]):
        assert c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).json()["step"] == t
    full = c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS})
    assert full.status_code == 409 and "horizon" in full.json()["detail"]
    assert c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS, "reset": True}).json()["step"] == 0
    c.delete(f"/v1/sessions/{sid}")

    ids = [c.post("/v1/sessions", json={"policy": "internal-rl"}).json()["id"] for _ in range(6)]
    over = c.post("/v1/sessions", json={})
    assert over.status_code == 429 and "limit" in over.json()["detail"]
    before = c.get("/v1/stats").json()

    def run(sid: str) -> list[int]:
        with httpx.Client(base_url=url, timeout=60) as cc:
            return [cc.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).json()["step"] for _ in range(10)]

    with cf.ThreadPoolExecutor(6) as pool:
        assert list(pool.map(run, ids)) == [list(range(10))] * 6
    after = c.get("/v1/stats").json()
    acts, batches = after["batched_acts"] - before["batched_acts"], after["batches"] - before["batches"]
    assert acts == 60 and batches < 60  # concurrent sessions shared forward passes
    assert after["model_s"] > before["model_s"] and c.get(f"/v1/stats?recent={batches}").json()["model_ms_p50_recent"] > 0
    assert c.get("/v1/stats?recent=0").status_code == 422
    time.sleep(5)  # TTL 3 s: all six expire, and their slots are free again
    assert c.get("/v1/stats").json()["sessions"] == 0
    assert c.post(f"/v1/sessions/{ids[0]}/act", json={"observation": OBS}).status_code == 404
    assert all(c.post("/v1/sessions", json={}).status_code == 201 for _ in range(6))


def test_reload_swaps_models_without_dropping_requests(url: str) -> None:
    c = httpx.Client(base_url=url, timeout=60)
    gen = c.get("/v1/models").json()["generation"]
    sid = c.post("/v1/sessions", json={"policy": "internal-rl"}).json()["id"] if c.get("/v1/stats").json()["sessions"] < 6 else None
    with cf.ThreadPoolExecutor(4) as pool:
        rollouts = [pool.submit(c.post, "/v1/rollouts", json={"seed": i}) for i in range(6)]
        reloaded = c.post("/v1/models/reload", json={"source": "local"})
        assert reloaded.status_code == 200 and reloaded.json()["generation"] == gen + 1
        assert all(f.result().status_code == 200 for f in rollouts)
    if sid:
        assert c.post(f"/v1/sessions/{sid}/act", json={"observation": OBS}).status_code == 200  # finishes on its runtime
    bad = c.post("/v1/models/reload", json={"source": "registry", "alias": "../../x"})
    assert fields(bad) == [["body", "alias"]]
    assert fields(c.post("/v1/models/reload", json={"models_dir": "/etc"})) == [["body", "models_dir"]]
    missing = c.post("/v1/models/reload", json={"source": "registry", "alias": "no-such-alias"})
    assert missing.status_code == 422 and "current models kept" in missing.json()["detail"][0]["msg"]
    assert c.get("/v1/models").json()["generation"] == gen + 1


def test_api_key_guards_every_v1_route(store: Path, tmp_path: Path) -> None:
    env = {"IRL_MODEL_SOURCE": "local", "IRL_MODELS_DIR": str(store), "IRL_API_KEY": "s3cret"}
    with policy_server(tmp_path, env) as u:
        assert httpx.get(f"{u}/healthz").status_code == 200
        for method, path in (("GET", "/v1/models"), ("POST", "/v1/rollouts"), ("POST", "/v1/sessions")):
            assert httpx.request(method, f"{u}{path}", json={}).status_code == 401
            assert httpx.request(method, f"{u}{path}", json={}, headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(f"{u}/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_not_ready_without_models_then_reload(store: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    with policy_server(tmp_path, {"IRL_MODEL_SOURCE": "local", "IRL_MODELS_DIR": str(empty),
                                  "IRL_ANT_MODELS_DIR": str(empty / "ant")}) as u:
        ready = httpx.get(f"{u}/readyz")
        assert ready.status_code == 503 and "does not exist" in ready.json()["error"]
        assert httpx.post(f"{u}/v1/rollouts", json={}).status_code == 503
        ant = httpx.post(f"{u}/v1/ant/rollouts", json={})
        assert ant.status_code == 503 and "ant models not loaded" in ant.json()["detail"]
        import shutil
        shutil.copytree(store, empty)
        assert httpx.post(f"{u}/v1/models/reload", json={}, timeout=60).status_code == 200
        assert httpx.get(f"{u}/readyz").json()["ready"] is True


def test_schemathesis_finds_no_server_errors_or_schema_violations(url: str, tmp_path: Path) -> None:
    st = Path(sys.executable).with_name("schemathesis")
    proc = subprocess.run(
        [str(st), "run", f"{url}/openapi.json", "--checks", "not_a_server_error,response_schema_conformance",
         "--max-examples", "20", "--generation-deterministic", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_models_load_from_the_mlflow_registry_by_alias_and_lineage(store: Path, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from irl import tracking
    from irl.agents.bundle import ROLES
    from irl.models.io import load_model, save_model

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    runs = {}
    for role, (sub, name, _) in ROLES.items():
        with tracking.stage_run(f"test-{role}", {}) as run:
            tracking.register_model_dir(run, store / sub, name)  # v1 @champion
            runs[role] = run.info.run_id
    with policy_server(tmp_path / "srv", {"MLFLOW_TRACKING_URI": uri, "IRL_MODEL_SOURCE": "auto"}) as u:
        m = httpx.get(f"{u}/v1/models").json()
        assert m["source"] == "registry"
        got = {i["role"]: i for i in m["models"]}
        assert {r: got[r]["run_id"] for r in got} == runs
        assert got["policy"]["version"] == "1" and got["policy"]["alias"] == "champion"
        assert got["policy"]["location"] == "models:/irl-grid-policy@champion"
        assert "no training lineage" in got["metacontroller"]["note"]
        assert httpx.post(f"{u}/v1/rollouts", json={"seed": 1}, timeout=60).status_code == 200

        # a newer metacontroller takes the champion alias; a policy trained on the v1 one is staged
        with tracking.stage_run("test-mc-2", {}) as run:
            tracking.register_model_dir(run, store / "metacontroller", "irl-grid-metacontroller")  # v2 @champion
        policy, spec = load_model(store / "policy")
        save_model(tmp_path / "policy2", policy, {"base_run_id": runs["base"], "metacontroller_run_id": runs["metacontroller"]})
        with tracking.stage_run("test-policy-2", {}) as run:
            tracking.register_model_dir(run, tmp_path / "policy2", "irl-grid-policy", aliases=("staging",))  # v2
            staging_run = run.info.run_id
        moved = httpx.post(f"{u}/v1/models/reload", json={"alias": "staging"}, timeout=60).json()
        got = {i["role"]: i for i in moved["models"]}
        assert got["policy"]["version"] == "2" and got["policy"]["run_id"] == staging_run
        assert got["metacontroller"]["location"] == "models:/irl-grid-metacontroller/1"  # its lineage, not @champion
        assert got["metacontroller"]["run_id"] == runs["metacontroller"] and got["base"]["version"] == "1"
        assert got["metacontroller"]["note"] == "the version the policy was trained with"
        assert "gt_controllers" not in got and moved["generation"] == 2  # optional, no @staging
        refused = httpx.post(f"{u}/v1/models/reload", json={"alias": "nothing-here"}, timeout=60)
        assert refused.status_code == 422 and "irl-grid-policy@nothing-here" in refused.json()["detail"][0]["msg"]
        assert httpx.get(f"{u}/v1/models").json()["generation"] == 2


def test_a_policy_is_never_paired_with_another_metacontroller(store: Path, tmp_path: Path) -> None:
    import shutil

    from irl.agents.bundle import load_local
    from irl.models.io import load_model, save_model

    local = tmp_path / "store"
    shutil.copytree(store, local)
    mc, _ = load_model(local / "metacontroller")
    save_model(local / "metacontroller", mc, {"mlflow_run_id": "run-b"})
    policy, _ = load_model(local / "policy")
    save_model(local / "policy", policy, {"metacontroller_run_id": "run-a"})
    with pytest.raises(ValueError, match="metacontroller of MLflow run run-a.*run run-b"):
        load_local(local)
