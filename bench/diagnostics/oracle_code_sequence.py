"""Per-episode view of the code-space oracle (irl/eval/code_oracle.py, reported by internal_rl_grid
as `expert_codes_*`): the ε = 0 expert solves N fresh post-task layouts, the metacontroller reads
one code per pair off each solution, and the base runs closed-loop on the same layouts with that
sequence (or another layout's). Prints, besides the stage's figures, how many pairs each episode
completed (a histogram over 0..6), to see where the sequences fail.

    python bench/diagnostics/oracle_code_sequence.py [N_EPISODES] [METACONTROLLER_DIR]
"""
import json, sys
import numpy as np
import torch
import yaml
from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.code_oracle import run_code_sequence, subgoal_codes, replay_layouts
from irl.eval.rollout import rollout
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches

torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env_cfg = GridConfig(**sec["grid_env"])
post = resolve_tasks("post", "grid", env_cfg.n_colors)
n_pairs = len(post.tasks[0]) // post.colors_per_subgoal
base, _ = load_model("models/grid/base"); base.eval()
mc, _ = load_model(sys.argv[2] if len(sys.argv) > 2 else "models/grid/metacontroller"); mc.eval()
sol = collect_grid(env_cfg, post, CollectConfig(episodes=n, epsilon=0.0, seed=777, task_set="post"))
data = PinpadDataset(None, {"arrays": {}}, sol.arrays)
eps = np.flatnonzero(data["success"])
codes, switched = subgoal_codes(base, mc, EpisodeBatches(data, 256, 0).gather(eps), n_pairs)
layout = replay_layouts(data, eps)


def env() -> GridPinpadBatch:
    e = GridPinpadBatch(env_cfg, post, len(eps), seed=0)
    e.load_layouts(**layout)
    return e


def summary(pairs: np.ndarray) -> dict:
    return {"success": round(float((pairs == n_pairs).mean()), 3), "pairs_done": round(float(pairs.mean()), 2),
            "pairs_done_hist": np.bincount(pairs, minlength=n_pairs + 1).tolist()}


alone = env()
with torch.no_grad():
    rollout(base, alone, seed=0)
print(json.dumps({"episodes": len(eps), "switch_at_pair_starts": round(switched, 3),
                  "base": summary(alone.progress // post.colors_per_subgoal),
                  "own_codes": summary(run_code_sequence(base, mc, env(), codes, seed=0)),
                  "other_layout_codes": summary(run_code_sequence(base, mc, env(), codes.roll(1, dims=0), seed=0))}))
