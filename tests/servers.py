"""Real servers for integration tests, started the way a user would, on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_TIMEOUT_S = 300  # a first Prefect start runs all database migrations


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


@contextmanager
def service(argv: list[str], env: dict[str, str | None], log: Path, health: str, cwd: Path | None = None,
            timeout: float = STARTUP_TIMEOUT_S) -> Iterator[subprocess.Popen]:
    """Start argv (argv[0] a program of this venv, or a path) with `env` added, wait until the
    `health` URL answers 200 (none: don't wait), and stop it afterwards."""
    venv_prog = Path(sys.executable).parent / argv[0]
    prog = venv_prog if venv_prog.exists() else Path(argv[0])
    full_env = {**os.environ, **env}
    for key in [k for k, v in env.items() if v is None]:
        full_env.pop(key)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(prog), *argv[1:]], env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=cwd, start_new_session=True)
    try:
        if health:
            wait_http(health, proc, timeout, log)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """`prefect server start` on a free port with its own PREFECT_HOME (SQLite); yields the API URL."""
    port = free_port()
    env = {"PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
           "PREFECT_API_URL": None}
    api = f"http://127.0.0.1:{port}/api"
    with service(["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], env, home / "server.log",
                 f"{api}/health"):
        yield api


@contextmanager
def policy_server(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """`python -m serving` (uvicorn) on a free port with `env` added; yields its base URL once
    /healthz answers (readiness is the test's to check)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = ["python", "-m", "serving", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with service(argv, env, workdir / f"serve-{port}.log", f"{url}/healthz", cwd=Path(__file__).resolve().parents[1],
                 timeout=120):
        yield url
