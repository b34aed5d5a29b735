"""Pretrain the ant's Hawk base model with one lever changed, outside the pipeline:

    python bench/diagnostics/pretrain_ant_lever.py KEY=VALUE [KEY=VALUE ...]

The default profile's model_ant and pretrain_ant (params.yaml) on data/ant, with KEY=VALUE overriding
fields of either (e.g. lambda_next_obs=10, n_layers=6). Prints the evaluation history (closed-loop
success, mid-layer target probe) and the final metrics as JSON. Checkpoints in
checkpoints/ant/lever_KEY-VALUE... (resumes); the model is saved beside them (..._model/) for the
probe and controller diagnostics.
"""
import json
import sys
from dataclasses import fields
from pathlib import Path

import yaml

from irl.config import build, load_profile
from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig
from irl.models.hawk import HawkConfig
from irl.models.io import save_model
from irl.training.pretrain import PretrainConfig
from irl.training.pretrain_ant import pretrain_ant

overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[1:])}
_, prof = load_profile("params.yaml", "default")
data, heldout = load_dataset("data/ant/D"), load_dataset("data/ant/D_star")
model_keys = {f.name for f in fields(HawkConfig)}
model_cfg = build(HawkConfig, {**prof["model_ant"], "obs_dim": heldout["obs"].shape[1],
                               **{k: v for k, v in overrides.items() if k in model_keys}}, "model_ant")
cfg = build(PretrainConfig, {**prof["pretrain_ant"], **{k: v for k, v in overrides.items() if k not in model_keys}},
            "pretrain_ant")
tag = "lever" + "".join(f"_{k}-{v}" for k, v in sorted(overrides.items()))
model, final = pretrain_ant(model_cfg, cfg, data, heldout, AntConfig(**prof["ant_env"]), Path("checkpoints/ant") / tag,
                            progress=False)
save_model(Path("checkpoints/ant") / f"{tag}_model", model, {"stage": "bench", "overrides": overrides})
for h in final.pop("history"):
    print(json.dumps(h))
print(json.dumps({"overrides": overrides, **final}))
