"""Service settings from the environment (12-factor); every limit has a safe default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCES = ("auto", "local", "registry")


def _int(name: str, default: int, lo: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected an integer") from None
    if value < lo:
        raise ValueError(f"{name}={value}: must be >= {lo}")
    return value


@dataclass(frozen=True)
class Settings:
    source: str = "auto"  # registry when MLFLOW_TRACKING_URI is set, else the local store
    models_dir: Path = Path("models/grid")
    ant_models_dir: Path = Path("models/ant")  # optional: the ant is served when its models exist
    alias: str = "champion"
    api_key: str | None = None
    max_sessions: int = 256
    session_ttl_s: int = 300
    max_rollout_steps: int = 1000
    max_body_bytes: int = 65536
    device: str = "cpu"

    @classmethod
    def from_env(cls) -> Settings:
        source = os.environ.get("IRL_MODEL_SOURCE", "auto")
        if source not in SOURCES:
            raise ValueError(f"IRL_MODEL_SOURCE={source!r}: expected one of {SOURCES}")
        return cls(
            source=source,
            models_dir=Path(os.environ.get("IRL_MODELS_DIR", "models/grid")),
            ant_models_dir=Path(os.environ.get("IRL_ANT_MODELS_DIR", "models/ant")),
            alias=os.environ.get("IRL_MODEL_ALIAS", "champion"),
            api_key=os.environ.get("IRL_API_KEY") or None,
            max_sessions=_int("IRL_MAX_SESSIONS", 256),
            session_ttl_s=_int("IRL_SESSION_TTL_S", 300),
            max_rollout_steps=_int("IRL_MAX_ROLLOUT_STEPS", 1000),
            max_body_bytes=_int("IRL_MAX_BODY_BYTES", 65536, lo=1024),
            device=os.environ.get("IRL_DEVICE", "cpu"),
        )

    def resolved_source(self) -> str:
        if self.source != "auto":
            return self.source
        return "registry" if os.environ.get("MLFLOW_TRACKING_URI") else "local"
