"""Shared set-up of the post-task code diagnostics (oracle_code_sequence.py, code_coverage.py): the
default profile's base and metacontroller, and irl.eval.code_oracle.expert_solutions — the ε = 0
expert's solutions of N fresh post-task layouts with one code per pair read off each."""
import sys
import torch
import yaml
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.code_oracle import ExpertSolutions, expert_solutions
from irl.models.io import load_model


def solve_post_task(default_n: int, seed: int) -> tuple[torch.nn.Module, torch.nn.Module, ExpertSolutions]:
    """argv: [N_EPISODES] [METACONTROLLER_DIR] (default models/grid/metacontroller)."""
    torch.set_num_threads(1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else default_n
    sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
    env_cfg = GridConfig(**sec["grid_env"])
    base, _ = load_model("models/grid/base"); base.eval()
    mc, _ = load_model(sys.argv[2] if len(sys.argv) > 2 else "models/grid/metacontroller"); mc.eval()
    return base, mc, expert_solutions(base, mc, env_cfg, resolve_tasks("post", "grid", env_cfg.n_colors), n, seed)
