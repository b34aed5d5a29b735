"""Pretrain the grid base model with on-policy expert relabelling (DAgger) on top of D.

    python bench/diagnostics/pretrain_on_policy.py [BATCH_EPISODES] [EVERY] [EPISODES] [START] [STEPS] [KEY=VALUE ...]

The default profile's model and pretraining config (params.yaml) with the on_policy_* fields set
(defaults 64 / 50 / 1024 / 500, 8000 steps); KEY=VALUE overrides further pretrain_grid fields
or model_grid fields (e.g. action_target=optimal lr_schedule=cosine n_layers=6) and names the run's
own checkpoint directory; BATCH_EPISODES 0 is plain behaviour cloning on D. D's batches and the evaluation layouts are those of
the default run, so the printed curve compares row by row with metrics/grid/pretrain_history.json.
Checkpoints in checkpoints/grid/{on_policy|bc}[_KEY-VALUE...] (resumes); the final model is saved to
checkpoints/grid/{on_policy|bc}[_KEY-VALUE...]_model/ for bench/diagnostics/gt_fit.py's BASE_DIR.
"""
import json
import sys
import time
from dataclasses import fields
from pathlib import Path

import yaml

from irl.config import build, load_profile
from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.io import save_model
from irl.models.transformer import TransformerConfig
from irl.training.pretrain import PretrainConfig, pretrain

overrides = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
args = [int(a) for a in sys.argv[1:] if "=" not in a] + [None] * 5
batch_episodes, every, episodes, start, steps = (a if a is not None else d for a, d in zip(args, (64, 50, 1024, 500, 8000)))
_, prof = load_profile("params.yaml", "default")
env = GridConfig(**prof["grid_env"])
model_keys = {f.name for f in fields(TransformerConfig)}  # KEY=VALUE naming a model field goes to model_grid
model_cfg = build(TransformerConfig, {**prof["model_grid"], "grid_size": env.size, "n_colors": env.n_colors, "n_walls": env.n_walls,
                                      **{k: yaml.safe_load(v) for k, v in overrides.items() if k in model_keys}}, "model_grid")
cfg = build(PretrainConfig, {**prof["pretrain_grid"], "steps": steps, "on_policy_batch_episodes": batch_episodes,
                             "on_policy_every": every, "on_policy_episodes": episodes, "on_policy_start": start,
                             **{k: yaml.safe_load(v) for k, v in overrides.items() if k not in model_keys}}, "pretrain_grid")
tag = ("on_policy" if batch_episodes else "bc") + "".join(f"_{k}-{v}" for k, v in sorted(overrides.items()))
ckpt_dir, model_dir = Path(f"checkpoints/grid/{tag}"), Path(f"checkpoints/grid/{tag}_model")
data, heldout = load_dataset("data/grid/D"), load_dataset("data/grid/D_star")
t0 = time.perf_counter()


def log(step, metrics):
    if any(k.startswith("eval/") for k in metrics):
        print(step, json.dumps({k: round(v, 4) for k, v in metrics.items()}), flush=True)


model, final = pretrain(model_cfg, cfg, data, heldout, env, resolve_tasks("pretrain"), ckpt_dir, log=log)
final["wall_s"] = time.perf_counter() - t0
save_model(model_dir, model, {"stage": "bench/diagnostics/pretrain_on_policy.py", "argv": sys.argv})
print(json.dumps({k: v for k, v in final.items() if k != "history"}, indent=1))
