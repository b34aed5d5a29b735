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
from pathlib import Path

from ant_base_common import ant_base_setup, parse_overrides
from irl.envs.ant import AntConfig
from irl.models.io import save_model
from irl.training.pretrain_ant import pretrain_ant

overrides = parse_overrides(sys.argv[1:])
prof, data, heldout, model_cfg, cfg = ant_base_setup(overrides)
tag = "lever" + "".join(f"_{k}-{v}" for k, v in sorted(overrides.items()))
model, final = pretrain_ant(model_cfg, cfg, data, heldout, AntConfig(**prof["ant_env"]), Path("checkpoints/ant") / tag,
                            progress=False)
save_model(Path("checkpoints/ant") / f"{tag}_model", model, {"stage": "bench", "overrides": overrides})
for h in final.pop("history"):
    print(json.dumps(h))
print(json.dumps({"overrides": overrides, **final}))
