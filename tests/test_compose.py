"""docker-compose.yml, checked without a Docker engine: `docker compose config` where it exists,
and always a schema check of services, health checks, ports, volumes, secrets and commands against
what tests/stack.py runs natively in the integration test."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.stack import COMMANDS

COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"postgres", "minio", "minio-init", "mlflow", "prefect-server", "prefect-worker", "api"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def argv(service: dict) -> list[str]:
    """The program a service runs: its command list, or what its shell command finally execs."""
    cmd = service["command"]
    if service.get("entrypoint") == ["/bin/sh", "-c"]:
        script = " ".join(cmd) if isinstance(cmd, list) else cmd
        return shlex.split(script.split("exec ", 1)[1] if "exec " in script else script.split("&&")[-1])
    return [str(c) for c in cmd]


def test_services_health_checks_and_dependencies(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, svc in services.items():
        if name not in ("minio-init", "prefect-worker"):
            assert "healthcheck" in svc and svc["healthcheck"]["test"], f"{name}: no health check"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert cond["condition"] in ("service_healthy", "service_completed_successfully")
            if cond["condition"] == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no health check"


def test_ports_and_named_volumes(compose: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            host, container = port.split(":")
            assert 0 < int(host) < 65536 and 0 < int(container) < 65536, f"{name}: bad port {port}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if not src.startswith("."):
                used.add(src)
            else:
                assert (ROOT / src).exists(), f"{name}: mounts missing {src}"
    assert used == declared
    published = [p.split(":")[0] for s in compose["services"].values() for p in s.get("ports", [])]
    assert len(published) == len(set(published))


def test_no_secrets_committed(compose: dict) -> None:
    text = COMPOSE.read_text()
    env_example = (ROOT / ".env.example").read_text()
    for var in set(re.findall(r"\$\{([A-Z_]+)", text)):
        assert re.search(rf"^{var}=", env_example, re.M), f"{var} missing from .env.example"
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if any(w in key for w in ("PASSWORD", "SECRET", "API_KEY")):
                assert str(value).startswith("${"), f"{name}.{key} is a literal secret"
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_commands_match_the_native_stack(compose: dict) -> None:
    services = compose["services"]
    for name, (prefix, flags) in COMMANDS.items():
        got = argv(services[name])
        assert got[: len(prefix)] == prefix, f"{name}: runs {got[:len(prefix)]}, the native stack {prefix}"
        missing = [f for f in flags if f not in got]
        assert not missing, f"{name}: flags {missing} that the native stack passes are missing"
    mlflow = argv(services["mlflow"])
    assert mlflow[mlflow.index("--backend-store-uri") + 1].startswith("postgresql+psycopg2://")
    assert mlflow[mlflow.index("--artifacts-destination") + 1].startswith("s3://")
    assert services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    worker = " ".join(services["prefect-worker"]["command"])
    assert "prefect --no-prompt deploy --all" in worker and "work-pool create irl-pool" in worker
    assert services["api"]["environment"]["IRL_MODEL_SOURCE"] == "registry"
    assert services["api"]["environment"]["MLFLOW_TRACKING_URI"] == services["prefect-worker"]["environment"]["MLFLOW_TRACKING_URI"]


def test_dockerfile_copies_what_exists_and_installs_the_team_extra() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"
    assert '".[team]"' in text
    assert "team" in (ROOT / "pyproject.toml").read_text()


@pytest.mark.skipif(not shutil.which("docker") or subprocess.run(["docker", "compose", "version"], capture_output=True).returncode != 0,
                    reason="no docker compose plugin here; the schema checks above stand in for it")
def test_docker_compose_config_accepts_the_file() -> None:
    env = (ROOT / ".env.example").read_text()
    proc = subprocess.run(["docker", "compose", "--env-file", "/dev/stdin", "-f", str(COMPOSE), "config", "-q"],
                          input=env, text=True, capture_output=True)
    assert proc.returncode == 0, proc.stderr


def test_dvc_remote_is_the_minio_bucket_the_stack_creates(compose: dict) -> None:
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / ".dvc" / "config")
    remote = cfg["'remote \"minio\"'"]
    bucket = remote["url"].removeprefix("s3://").split("/")[0]
    assert remote["url"].startswith("s3://") and remote["endpointurl"] == "http://localhost:9000"
    assert f"local/{bucket}" in " ".join(compose["services"]["minio-init"]["command"])
    assert "9000:9000" in compose["services"]["minio"]["ports"]
    dvc = Path(__import__("sys").executable).with_name("dvc")
    assert "s3" in subprocess.run([str(dvc), "version"], capture_output=True, text=True, cwd=ROOT).stdout.split("Supports:")[1]
