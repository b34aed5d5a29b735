"""The docker-compose topology started natively on 127.0.0.1, for machines without a Docker engine
(CI): PostgreSQL (Debian package), `mlflow server` on it, `prefect server start` on it, a Prefect
process worker, and the policy API on the MLflow server. `COMMANDS` is what each service runs —
`tests/test_compose.py` checks docker-compose.yml runs the same programs with the same flags.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port, service

BIN = Path(sys.executable).parent
POOL = "irl-pool"
# service → (program argv prefix, flags that must appear); URLs and ports differ per deployment
COMMANDS: dict[str, tuple[list[str], list[str]]] = {
    "mlflow": (["mlflow", "server"], ["--backend-store-uri", "--artifacts-destination", "--serve-artifacts", "--host", "--port"]),
    "prefect-server": (["prefect", "server", "start"], ["--host", "--port"]),
    "prefect-worker": (["prefect", "worker", "start"], ["--pool", POOL, "--type", "process"]),
    "api": (["python", "-m", "serving"], ["--host", "--port"]),
}


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make services` (apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user the Debian package made."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@contextmanager
def postgres(databases: tuple[str, ...] = ("mlflow", "prefect")) -> Iterator[str]:
    """A throwaway cluster (trust auth, loopback only); yields postgresql://postgres@127.0.0.1:PORT."""
    root = Path(tempfile.mkdtemp(prefix="irl-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    bindir, port = pg_bin(), free_port()
    log = root / "pg.log"
    run = lambda cmd: subprocess.run(_as_postgres(cmd), check=True, capture_output=True, text=True, cwd=root)  # noqa: E731
    run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
    run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "120", "-o",
         f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"])
    try:
        for db in databases:
            run([str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", db])
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]), capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def mlflow_server(pg: str, artifacts: Path, logdir: Path) -> Iterator[str]:
    port = free_port()
    argv = ["mlflow", "server", "--backend-store-uri", f"{pg.replace('postgresql://', 'postgresql+psycopg2://')}/mlflow", "--artifacts-destination", artifacts.as_uri(),
            "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with service(argv, {}, logdir / "mlflow.log", f"http://127.0.0.1:{port}/health"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def prefect_server_pg(pg: str, home: Path, logdir: Path) -> Iterator[str]:
    port = free_port()
    env = {"PREFECT_HOME": str(home), "PREFECT_API_DATABASE_CONNECTION_URL": f"{pg.replace('postgresql://', 'postgresql+asyncpg://')}/prefect",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    argv = ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with service(argv, env, logdir / "prefect-server.log", f"http://127.0.0.1:{port}/api/health"):
        yield f"http://127.0.0.1:{port}/api"


@contextmanager
def prefect_worker(api: str, env: dict[str, str], home: Path, logdir: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    env = {"PREFECT_API_URL": api, "PREFECT_HOME": str(home), **env}
    subprocess.run([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process", "--overwrite"],
                   env={**os.environ, **env}, check=True, capture_output=True, cwd=cwd)
    argv = ["prefect", "worker", "start", "--pool", POOL, "--type", "process", "--limit", "1"]
    with service(argv, env, logdir / "worker.log", "", cwd) as proc:
        time.sleep(2)
        yield proc
