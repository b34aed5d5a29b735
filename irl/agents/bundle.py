"""The trained models a deployed agent needs, loaded from the DVC outs or the MLflow registry.

A `ModelBundle` holds the frozen base model, the metacontroller (switch + decoder), the internal-RL
code policy and the ground-truth controllers, with where each came from. Every file is safetensors
+ JSON (`irl.models.io`); nothing is unpickled.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from irl.envs.grid import GridConfig
from irl.models.controllers import LinearControllers
from irl.models.io import load_model
from irl.models.metacontroller import Metacontroller
from irl.models.transformer import PinpadTransformer
from irl.rl.policy import CodePolicy

# role → (directory under the local model store, registered model name, required)
ROLES: dict[str, tuple[str, str, bool]] = {
    "base": ("base", "irl-grid-base", True),
    "metacontroller": ("metacontroller", "irl-grid-metacontroller", True),
    "policy": ("policy", "irl-grid-policy", True),
    "gt_controllers": ("gt_controllers", "irl-grid-gt-controllers", False),
}
ALIAS_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ModelInfo:
    role: str
    name: str
    source: str  # "local" or "registry"
    location: str  # directory (local) or models:/name@alias (registry)
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None
    note: str | None = None  # e.g. how a model was matched to the policy

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelBundle:
    base: PinpadTransformer
    metacontroller: Metacontroller
    policy: CodePolicy
    gt_controllers: LinearControllers | None
    env: GridConfig
    info: list[ModelInfo] = field(default_factory=list)
    subgoal_codes: list[list[float]] = field(default_factory=list)  # mean code per true subgoal (discovery)

    @property
    def layer(self) -> int:
        return self.metacontroller.cfg.layer

    @property
    def n_subgoals(self) -> int:
        return self.gt_controllers.cfg.n_controllers if self.gt_controllers is not None else len(self.subgoal_codes)


def _env_of(base_spec: dict[str, Any]) -> GridConfig:
    cfg = base_spec["config"]
    grid = base_spec.get("meta", {}).get("params", {}).get("grid_env", {})
    return GridConfig(size=cfg["grid_size"], n_colors=cfg["n_colors"], n_walls=cfg["n_walls"],
                      horizon=int(grid.get("horizon", 100)), layouts=str(grid.get("layouts", "task")))


def _assemble(models: dict[str, tuple[torch.nn.Module, dict[str, Any]]], info: list[ModelInfo]) -> ModelBundle:
    expected = {"base": PinpadTransformer, "metacontroller": Metacontroller, "policy": CodePolicy,
                "gt_controllers": LinearControllers}
    for role, (model, _) in models.items():
        if not isinstance(model, expected[role]):
            raise ValueError(f"model for {role!r} is a {type(model).__name__}, expected {expected[role].__name__}")
    base, base_spec = models["base"]
    mc, mc_spec = models["metacontroller"]
    policy = models["policy"][0]
    if mc.cfg.d_model != base.cfg.d_model or policy.cfg.d_model != base.cfg.d_model:
        raise ValueError(f"width mismatch: base d_model {base.cfg.d_model}, metacontroller {mc.cfg.d_model}, "
                         f"policy {policy.cfg.d_model}")
    if policy.cfg.n_z != mc.cfg.n_z:
        raise ValueError(f"code size mismatch: policy n_z {policy.cfg.n_z}, metacontroller {mc.cfg.n_z}")
    gt = models.get("gt_controllers", (None, {}))[0]
    codes = mc_spec.get("meta", {}).get("codes_by_subgoal") or []
    return ModelBundle(base=base, metacontroller=mc, policy=policy, gt_controllers=gt, env=_env_of(base_spec),
                       info=info, subgoal_codes=[list(map(float, c)) for c in codes])


def _check_lineage(models: dict[str, tuple[torch.nn.Module, dict[str, Any]]]) -> None:
    """A policy acts through the decoder and base it was trained with: refuse other pairings."""
    meta = models["policy"][1].get("meta", {})
    for role in ("base", "metacontroller"):
        want = meta.get(f"{role}_run_id")
        have = models[role][1].get("meta", {}).get("mlflow_run_id")
        if want and have and want != have:
            raise ValueError(f"the policy was trained with the {role} of MLflow run {want}, but the {role} "
                             f"loaded comes from run {have}")


Assemble = Callable[[dict[str, tuple[torch.nn.Module, dict[str, Any]]], list[ModelInfo]], Any]


def load_local(store: str | Path, device: str = "cpu", roles: dict[str, tuple[str, str, bool]] = ROLES,
               assemble: Assemble = _assemble) -> Any:
    """The bundle from a model store laid out like `models/grid/` (the DVC outs); `roles` and
    `assemble` name another environment's models (irl.agents.ant)."""
    store = Path(store).resolve()
    if not store.is_dir():
        raise FileNotFoundError(f"model store {store} does not exist (run `make run` first)")
    models, info = {}, []
    for role, (sub, name, required) in roles.items():
        path = store / sub
        if not path.is_dir():
            if required:
                raise FileNotFoundError(f"model store {store}: missing {sub}/ (the {role} model)")
            continue
        models[role] = load_model(path, device)
        info.append(ModelInfo(role, name, "local", str(path), run_id=models[role][1].get("meta", {}).get("mlflow_run_id")))
    _check_lineage(models)
    return assemble(models, info)


def load_registry(alias: str = "champion", device: str = "cpu", roles: dict[str, tuple[str, str, bool]] = ROLES,
                  assemble: Assemble = _assemble) -> Any:
    """The bundle from the MLflow registry (MLFLOW_TRACKING_URI, else ./mlflow.db), `name@alias`."""
    import mlflow

    from irl import tracking

    if not ALIAS_RE.match(alias):
        raise ValueError(f"alias {alias!r}: expected 1-64 letters, digits, '_' or '-'")
    tracking.configure()
    client = mlflow.MlflowClient()
    models, info = {}, []
    with tempfile.TemporaryDirectory(prefix="irl-bundle-") as tmp:

        def fetch(role: str, name: str, version: Any, how: str, note: str | None = None) -> None:
            local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version.version}", dst_path=str(Path(tmp) / role)))
            models[role] = load_model(local, device)
            info.append(ModelInfo(role, name, "registry", how, str(version.version), alias if how.endswith(f"@{alias}") else None,
                                  version.run_id, note))

        def by_alias(role: str, required: bool, note: str | None = None) -> bool:
            name = roles[role][1]
            try:
                version = client.get_model_version_by_alias(name, alias)
            except mlflow.exceptions.MlflowException:
                if required:
                    raise LookupError(f"registry {tracking.tracking_uri()}: no {name}@{alias}") from None
                return False
            fetch(role, name, version, f"models:/{name}@{alias}", note)
            return True

        by_alias("policy", True)
        meta = models["policy"][1].get("meta", {})
        for role in ("base", "metacontroller"):
            name, run_id = roles[role][1], meta.get(f"{role}_run_id")
            # the version the policy was trained with, whatever the alias points at now
            versions = client.search_model_versions(f"name='{name}' and run_id='{run_id}'") if run_id else []
            if versions:
                fetch(role, name, versions[0], f"models:/{name}/{versions[0].version}", "the version the policy was trained with")
            else:
                by_alias(role, True, "by alias: the policy records no training lineage for it" if not run_id else
                         f"by alias: run {run_id} that trained the policy has no registered version")
        for role, (_, _, required) in roles.items():
            if role not in models:
                by_alias(role, required)
    _check_lineage(models)
    order = list(roles)
    info.sort(key=lambda i: order.index(i.role))
    return assemble(models, info)
