"""Shared set-up of the post-task code diagnostics (oracle_code_sequence.py, code_coverage.py): the
ε = 0 expert solves N fresh post-task layouts, and the metacontroller reads one code per pair off
each solution (irl/eval/code_oracle.py)."""
from dataclasses import dataclass
import sys
import numpy as np
import torch
import yaml
from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet, resolve_tasks
from irl.eval.code_oracle import replay_layouts, subgoal_codes
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches


@dataclass
class PostTaskSolutions:
    env_cfg: GridConfig
    post: TaskSet
    n_pairs: int
    base: torch.nn.Module
    mc: torch.nn.Module
    episodes: int  # solved layouts
    codes: torch.Tensor  # (episodes, n_pairs, n_z)
    switched: float  # share of pair starts where β crossed 0.5
    layout: dict

    def env(self) -> GridPinpadBatch:
        """A fresh batch on exactly the solved layouts."""
        e = GridPinpadBatch(self.env_cfg, self.post, self.episodes, seed=0)
        e.load_layouts(**self.layout)
        return e


def solve_post_task(default_n: int, seed: int) -> PostTaskSolutions:
    """argv: [N_EPISODES] [METACONTROLLER_DIR] (default models/grid/metacontroller)."""
    torch.set_num_threads(1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else default_n
    sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
    env_cfg = GridConfig(**sec["grid_env"])
    post = resolve_tasks("post", "grid", env_cfg.n_colors)
    n_pairs = len(post.tasks[0]) // post.colors_per_subgoal
    base, _ = load_model("models/grid/base"); base.eval()
    mc, _ = load_model(sys.argv[2] if len(sys.argv) > 2 else "models/grid/metacontroller"); mc.eval()
    sol = collect_grid(env_cfg, post, CollectConfig(episodes=n, epsilon=0.0, seed=seed, task_set="post"))
    data = PinpadDataset(None, {"arrays": {}}, sol.arrays)
    eps = np.flatnonzero(data["success"])
    codes, switched = subgoal_codes(base, mc, EpisodeBatches(data, 256, 0).gather(eps), n_pairs)
    return PostTaskSolutions(env_cfg, post, n_pairs, base, mc, len(eps), codes, switched, replay_layouts(data, eps))
