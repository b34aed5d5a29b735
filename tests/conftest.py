"""Shared fixtures: every test gets its own MLflow store and Prefect home under tmp."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # headless MuJoCo rendering (the ant's frames)

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))


@pytest.fixture()
def isolated_tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """MLflow on a SQLite file in tmp; Prefect home in tmp (its temporary server, its own DB)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    return tmp_path


def copy_project(dst: Path, profile: str = "smoke") -> Path:
    """A fresh git + DVC repository in `dst` with the project's pipeline files, on `profile`."""
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("flows", "irl", "ant", "dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dst / name)
    params = (dst / "params.yaml").read_text()
    (dst / "params.yaml").write_text(params.replace("\nprofile: default", f"\nprofile: {profile}", 1))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True, env=env)
    subprocess.run([DVC, "init", "-q"], cwd=dst, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=dst, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=dst, check=True, env=env)
    return dst
