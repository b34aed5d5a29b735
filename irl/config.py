"""Profiles from params.yaml → one typed config object per stage.

params.yaml holds `profile: <name>` (the active profile) and `profiles: {smoke, default, paper}`,
each a mapping of stage sections. `stage_config` builds a stage's dataclass from its section and
rejects unknown or missing fields with the file, section and field named.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
PROFILES = ("smoke", "default", "paper")


class ConfigError(ValueError):
    """params.yaml is missing, malformed, or a field has the wrong name or value."""


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameters file not found (run from the repository root)")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(params, dict) or "profiles" not in params:
        raise ConfigError(f"{path}: expected a mapping with 'profile' and 'profiles'")
    return params


def load_profile(path: str | Path = "params.yaml", profile: str | None = None) -> tuple[str, dict[str, Any]]:
    """(name, sections) of `profile`, or of the file's active `profile:` when None."""
    params = load_params(path)
    name = profile or params.get("profile")
    profiles = params["profiles"]
    if name not in profiles:
        raise ConfigError(f"{path}: profile {name!r} not found; available: {sorted(profiles)}")
    return name, profiles[name]


def build(cls: type[T], section: dict[str, Any] | None, where: str) -> T:
    """Instantiate dataclass `cls` from a mapping, naming `where` in every error."""
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(section).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; expected some of {sorted(fields)}")
    required = [
        n for n, f in fields.items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    missing = [n for n in required if n not in section]
    if missing:
        raise ConfigError(f"{where}: missing field(s) {missing}")
    try:
        return cls(**section)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def stage_config(cls: type[T], sections: dict[str, Any], key: str, path: str | Path = "params.yaml", profile: str = "") -> T:
    """Build `cls` from `sections[key]` of a loaded profile."""
    where = f"{path}: profiles.{profile}.{key}"
    if key not in sections:
        raise ConfigError(f"{where}: section missing")
    return build(cls, sections[key], where)
