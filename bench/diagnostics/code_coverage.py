"""Does any code cross the first unseen transition of the post task? For N fresh post-task layouts,
the base holds the code read off the expert's own solution for the first pair (as the code-space
oracle does, irl/eval/code_oracle.py), then, from the moment that pair is done, one candidate code
for the rest of the episode. Candidates: a grid along the one dimension the codes use (the
highest-variance one) with the others at the first code's values, and random codes N(0, s²I);
for a metacontroller with discrete codes, each of its n_z codes (the whole code space).
Reports, per candidate, the fraction of layouts that complete the second pair (2-3, a transition
no pretraining task holds), and per layout whether any candidate does: if none does, no internal-RL
policy over this code space can (it could only pick among these codes at that switch).

    python bench/diagnostics/code_coverage.py [N_EPISODES] [METACONTROLLER_DIR]
"""
import json
import numpy as np
import torch
from irl.eval.code_oracle import run_code_sequence
from irl.eval.rollout import rollout
from post_task_common import solve_post_task

base, mc, P = solve_post_task(256, seed=778)
codes, n_pairs, post, env = P.codes, P.n_subgoals, P.task_set, P.env


def pairs_done(second: torch.Tensor) -> np.ndarray:
    """Pairs completed with the expert's first code, then `second` (N, n_z) held from then on."""
    seq = codes.clone()
    seq[:, 1:] = second[:, None]
    return run_code_sequence(base, mc, P.env(), seq, seed=0)


spread = codes.reshape(-1, codes.shape[-1]).std(0)
dim = int(spread.argmax())
crossed, rows = [], []
own = pairs_done(codes[:, 1])
crossed.append(own >= 2)
rows.append({"candidate": "expert's own second code", "crossed": round(float((own >= 2).mean()), 3), "first_done": round(float((own >= 1).mean()), 3)})
candidates = []
if mc.cfg.code == "categorical":
    usage = codes.reshape(-1, codes.shape[-1]).mean(0)
    candidates = [(f"code {k} (read in {usage[k]:.1%} of the expert's pairs)", torch.eye(codes.shape[-1])[k].expand(P.episodes, -1)) for k in range(codes.shape[-1])]
else:
    for v in np.linspace(-4, 4, 17):
        c = codes[:, 0].clone()
        c[:, dim] = float(v)
        candidates.append((f"z[{dim}] = {v:+.1f}", c))
    g = torch.Generator().manual_seed(0)
    for s in (1.0, 3.0):
        for j in range(16):
            candidates.append((f"random N(0,{s:g}²I) #{j}", (s * torch.randn(codes.shape[-1], generator=g)).expand(P.episodes, -1)))
for name, c in candidates:
    p = pairs_done(c)
    crossed.append(p >= 2)
    rows.append({"candidate": name, "crossed": round(float((p >= 2).mean()), 3)})
alone = P.env()
with torch.no_grad():
    rollout(base, alone, seed=0)
any_ = np.stack(crossed).any(0)
print(json.dumps({"episodes": P.episodes, "code_std_per_dim": [round(float(x), 3) for x in spread], "swept_dim": dim,
                  "base_alone_crossed": round(float((alone.progress // post.colors_per_subgoal >= 2).mean()), 3),
                  "any_candidate_crossed": round(float(any_.mean()), 3),
                  "best_single_candidate": max(rows, key=lambda r: r["crossed"]), "candidates": rows}, indent=1))
