"""The pinpad dataset format: gzip-compressed .npy arrays + manifest.json (schema, config, sha256).

A dataset directory holds one `<name>.npy.gz` per array and a `manifest.json`. Arrays are either
per episode (leading axis E) or per step (leading axis S = sum of episode lengths, episodes
concatenated in order). Compression is deterministic (gzip mtime 0), so the same seed gives the
same bytes and the same hashes. Loading verifies schema, file hashes, dtypes, shapes and
consistency, and raises DatasetError naming the file and field on any mismatch.

The task and ground-truth subgoals are stored for evaluation only; models never read them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irl.io import atomic_directory

SCHEMA_VERSION = 1
FORMAT = "irl-pinpad-dataset"
MANIFEST = "manifest.json"

# name → (axis, dtype). axis "episode": leading dim E; "step": leading dim S.
GRID_ARRAYS: dict[str, tuple[str, str]] = {
    "layout_colors": ("episode", "int8"),  # (E, n_colors) cell of each color
    "layout_walls": ("episode", "int8"),  # (E, n_walls) cell of each wall
    "task_id": ("episode", "int16"),  # (E,) index into manifest task_set.tasks (evaluation only)
    "episode_lengths": ("episode", "int32"),  # (E,) steps in the episode
    "success": ("episode", "bool"),  # (E,) task completed
    "final_pos": ("episode", "int8"),  # (E,) agent cell after the last action
    "pos": ("step", "int8"),  # (S,) agent cell observed at step t
    "action": ("step", "int8"),  # (S,) expert action at step t
    "target": ("step", "int8"),  # (S,) color pursued at step t (evaluation only)
    "subgoal": ("step", "int8"),  # (S,) ground-truth subgoal at step t (evaluation only)
}
ANT_ARRAYS: dict[str, tuple[str, str]] = {
    "layout_colors": ("episode", "int8"),  # (E, n_colors) cell of each color pad
    "layout_walls": ("episode", "int8"),  # (E, n_walls) cell of each wall
    "task_id": ("episode", "int16"),  # (E,) index into manifest task_set.tasks (evaluation only)
    "episode_lengths": ("episode", "int32"),
    "success": ("episode", "bool"),
    "final_obs": ("episode", "float32"),  # (E, obs_dim) observation after the last action
    "obs": ("step", "float32"),  # (S, obs_dim) the env's observation at step t (no direction input)
    "action": ("step", "float32"),  # (S, 8) expert torques at step t (sampled in D, the mean in D*)
    "xy": ("step", "float32"),  # (S, 2) torso position (traces and evaluation only)
    "target": ("step", "int8"),  # (S,) color pursued at step t (evaluation only)
    "subgoal": ("step", "int8"),  # (S,) ground-truth subgoal at step t (evaluation only)
}
# the array schema of each environment, chosen by the manifest's env.name
SCHEMAS: dict[str, dict[str, tuple[str, str]]] = {"grid-pinpad": GRID_ARRAYS, "ant-pinpad": ANT_ARRAYS}


def schema_of(meta: dict[str, Any], where: str | Path) -> dict[str, tuple[str, str]]:
    name = meta.get("env", {}).get("name", "grid-pinpad")
    if name not in SCHEMAS:
        raise DatasetError(f"{where}: env {name!r} has no dataset schema; expected one of {sorted(SCHEMAS)}")
    return SCHEMAS[name]


class DatasetError(ValueError):
    """A dataset directory is missing, corrupt, truncated or of another schema."""


@dataclass
class PinpadDataset:
    """Arrays + manifest of one dataset; `episode_offsets[i]` is the first step of episode i."""

    path: Path | None
    manifest: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def num_episodes(self) -> int:
        return int(self.arrays["episode_lengths"].shape[0])

    @property
    def num_steps(self) -> int:
        return int(self.arrays["episode_lengths"].astype(np.int64).sum())

    @property
    def episode_offsets(self) -> np.ndarray:
        lengths = self.arrays["episode_lengths"].astype(np.int64)
        return np.concatenate([[0], np.cumsum(lengths)[:-1]])


def _encode(arr: np.ndarray) -> bytes:
    raw = io.BytesIO()
    np.save(raw, np.ascontiguousarray(arr), allow_pickle=False)
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_dataset(path: str | Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
    """Write arrays + manifest atomically to directory `path` (replacing it); return the manifest."""
    schema = schema_of(meta, path)
    missing = sorted(set(schema) - set(arrays))
    if missing:
        raise DatasetError(f"save_dataset: arrays {missing} are missing")
    encoded: dict[str, bytes] = {}
    entries: dict[str, Any] = {}
    for name, (axis, dtype) in schema.items():
        arr = np.asarray(arrays[name]).astype(dtype, copy=False)
        encoded[name] = _encode(arr)
        entries[name] = {
            "file": f"{name}.npy.gz",
            "axis": axis,
            "dtype": dtype,
            "shape": list(arr.shape),
            "sha256": _sha256(encoded[name]),
        }
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        **meta,
        "counts": {
            "episodes": int(arrays["episode_lengths"].shape[0]),
            "steps": int(np.asarray(arrays["episode_lengths"]).astype(np.int64).sum()),
            "successes": int(np.asarray(arrays["success"]).sum()),
        },
        "arrays": entries,
    }
    _check_consistency({k: np.asarray(v) for k, v in arrays.items()}, Path(path), schema)
    with atomic_directory(path) as tmp:
        for name, data in encoded.items():
            (tmp / entries[name]["file"]).write_bytes(data)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise DatasetError(f"{path}: no {MANIFEST}; not a dataset directory (run the collect stage first)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{mpath}: not valid JSON ({e})") from None
    if manifest.get("format") != FORMAT:
        raise DatasetError(f"{mpath}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise DatasetError(
            f"{mpath}: schema_version {manifest.get('schema_version')!r}, this code reads {SCHEMA_VERSION}; "
            "re-run the collect stage to rebuild the dataset"
        )
    return manifest


def load_dataset(path: str | Path) -> PinpadDataset:
    """Load and verify a dataset directory; raise DatasetError on any mismatch."""
    path = Path(path)
    manifest = read_manifest(path)
    entries = manifest.get("arrays", {})
    schema = schema_of(manifest, path / MANIFEST)
    missing = sorted(set(schema) - set(entries))
    if missing:
        raise DatasetError(f"{path / MANIFEST}: arrays {missing} are not listed")
    arrays: dict[str, np.ndarray] = {}
    for name, (_, dtype) in schema.items():
        entry = entries[name]
        fpath = path / entry["file"]
        if not fpath.is_file():
            raise DatasetError(f"{fpath}: file missing")
        data = fpath.read_bytes()
        if _sha256(data) != entry["sha256"]:
            raise DatasetError(
                f"{fpath}: sha256 mismatch (file is truncated or was modified; manifest expects "
                f"{entry['sha256'][:12]}…, file has {_sha256(data)[:12]}…)"
            )
        try:
            arr = np.load(io.BytesIO(gzip.decompress(data)), allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            raise DatasetError(f"{fpath}: cannot decode ({e})") from None
        if str(arr.dtype) != dtype or list(arr.shape) != entry["shape"]:
            raise DatasetError(
                f"{fpath}: dtype/shape {arr.dtype}{list(arr.shape)}, manifest says {dtype}{entry['shape']}"
            )
        arrays[name] = arr
    _check_consistency(arrays, path, schema)
    return PinpadDataset(path=path, manifest=manifest, arrays=arrays)


def _check_consistency(arrays: dict[str, np.ndarray], path: Path, schema: dict[str, tuple[str, str]]) -> None:
    lengths = arrays["episode_lengths"]
    n_ep = lengths.shape[0]
    n_steps = int(lengths.astype(np.int64).sum())
    for name, (axis, _) in schema.items():
        want = n_ep if axis == "episode" else n_steps
        if arrays[name].shape[0] != want:
            raise DatasetError(f"{path}: array {name!r} has {arrays[name].shape[0]} rows, expected {want} ({axis}s)")
    if n_ep and lengths.min() < 1:
        raise DatasetError(f"{path}: episode_lengths has an episode of length {lengths.min()}")
