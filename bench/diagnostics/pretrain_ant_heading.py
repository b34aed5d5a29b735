"""Pretrain the ant base on observations in the torso's heading frame, outside the pipeline:

    python bench/diagnostics/pretrain_ant_heading.py [STEPS] [KEY=VALUE ...]

The pinpad observation (AntPinpadEnv._obs) gives the torso velocity and the pads/walls relative to
the ant in the *world* frame; the expert acts in its heading frame, where a 45° turn of its
direction moves its mean torques by ~10 σ (σ ≈ 0.018). This diagnostic expresses the same vectors
in the heading frame (forward, left) — rotated by −yaw, the yaw read off the observation's own
quaternion — in the stored D / D* (no recollection: the expert never saw this observation) and in
the closed-loop rollouts (the env's observation patched), then pretrains the default profile's
base on them for STEPS (default: the profile's) and prints the evaluation history
(closed-loop success, mid-layer target probe) and the final metrics as JSON; also the probe at
every layer. Checkpoints in checkpoints/ant/heading_<...> (resumes).
"""
import json
import sys
from pathlib import Path

import numpy as np

from ant_base_common import ant_base_setup, parse_overrides
from irl.envs.ant import AntConfig, AntPinpadEnv, symlog
from irl.eval.probe import probe_by_layer
from irl.models.io import save_model
from irl.training.batches import EpisodeBatches
from irl.training.pretrain_ant import pretrain_ant

VEL = slice(13, 15)  # symlog(qvel[0:2]): the torso's world-frame xy velocity
OBJECTS = 29  # then (n_colors + n_walls) xy offsets of the object cells from the torso


def heading_frame(obs: np.ndarray, n_objects: int) -> np.ndarray:
    """(..., obs_dim) world-frame pinpad observations → the same with the torso velocity and the
    object offsets rotated into the heading frame."""
    out = obs.astype(np.float64).copy()
    w, x, y, z = np.expm1(np.abs(obs[..., 1:5])).T * np.sign(obs[..., 1:5]).T  # undo symlog
    yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    cos, sin = np.cos(yaw)[..., None], np.sin(yaw)[..., None]

    def rotate(v: np.ndarray) -> np.ndarray:  # (..., k, 2)
        return np.stack([cos * v[..., 0] + sin * v[..., 1], -sin * v[..., 0] + cos * v[..., 1]], -1)

    vel = np.sign(obs[..., VEL]) * np.expm1(np.abs(obs[..., VEL]))
    out[..., VEL] = symlog(rotate(vel[..., None, :])[..., 0, :])
    objs = obs[..., OBJECTS : OBJECTS + 2 * n_objects].reshape(*obs.shape[:-1], n_objects, 2)
    out[..., OBJECTS : OBJECTS + 2 * n_objects] = rotate(objs).reshape(*obs.shape[:-1], 2 * n_objects)
    return out.astype(np.float32)


steps = sys.argv[1] if len(sys.argv) > 1 else None
overrides = parse_overrides(sys.argv[2:])
if steps is not None:
    overrides["steps"] = int(steps)
prof, data, heldout, model_cfg, cfg = ant_base_setup(overrides)
env_cfg = AntConfig(**prof["ant_env"])
n_objects = env_cfg.n_colors + env_cfg.n_walls
for d in (data, heldout):
    d.arrays["obs"] = heading_frame(d.arrays["obs"], n_objects)
    d.arrays["final_obs"] = heading_frame(d.arrays["final_obs"], n_objects)
world_obs = AntPinpadEnv._obs
AntPinpadEnv._obs = lambda self: heading_frame(world_obs(self), n_objects)  # the rollouts see the same frame

tag = "heading" + "".join(f"_{k}-{v}" for k, v in sorted(overrides.items()))
model, final = pretrain_ant(model_cfg, cfg, data, heldout, env_cfg, Path("checkpoints/ant") / tag, progress=False)
save_model(Path("checkpoints/ant") / f"{tag}_model", model, {"stage": "bench", "obs_frame": "heading", "overrides": overrides})
for h in final.pop("history"):
    print(json.dumps(h))
probe = probe_by_layer(model, EpisodeBatches(heldout, 64, cfg.seed), prof["probe_ant"].get("episodes", 300), seed=cfg.seed,
                       n_classes=env_cfg.n_colors)
print(json.dumps({"overrides": overrides, "probe_by_layer": probe, **final}))
