"""Per-episode view of the code-space oracle (irl/eval/code_oracle.py, reported by internal_rl_grid
as `expert_codes_*`): the ε = 0 expert solves N fresh post-task layouts, the metacontroller reads
one code per pair off each solution, and the base runs closed-loop on the same layouts with that
sequence (or another layout's). Prints, besides the stage's figures, how many pairs each episode
completed (a histogram over 0..6), to see where the sequences fail.

    python bench/diagnostics/oracle_code_sequence.py [N_EPISODES] [METACONTROLLER_DIR]
"""
import json
import numpy as np
import torch
from irl.eval.code_oracle import run_code_sequence
from irl.eval.rollout import rollout
from post_task_common import solve_post_task

base, mc, P = solve_post_task(512, seed=777)
codes, n_pairs, post, env = P.codes, P.n_subgoals, P.task_set, P.env


def summary(pairs: np.ndarray) -> dict:
    return {"success": round(float((pairs == n_pairs).mean()), 3), "pairs_done": round(float(pairs.mean()), 2),
            "pairs_done_hist": np.bincount(pairs, minlength=n_pairs + 1).tolist()}


alone = env()
with torch.no_grad():
    rollout(base, alone, seed=0)
print(json.dumps({"episodes": P.episodes, "switch_at_pair_starts": round(P.switched, 3),
                  "base": summary(alone.progress // post.colors_per_subgoal),
                  "own_codes": summary(run_code_sequence(base, mc, env(), codes, seed=0)),
                  "other_layout_codes": summary(run_code_sequence(base, mc, env(), codes.roll(1, dims=0), seed=0))}))
