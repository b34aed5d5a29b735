"""Steering check for discovered codes (paper App. B.3.2): does injecting the code z that was active
while subgoal g was pursued make the base model pursue g?

Codes: the metacontroller's z on held-out D* episodes (mean code, no sampling), averaged over the
steps labelled with each subgoal. Rollouts: fresh solvable layouts of the pretraining tasks in
`any_task` mode (an episode may follow any of the 16 tasks, so every pair can come first); z_g
is decoded once and held for the whole episode. A rollout *reaches g* when the first pair it
completes is g. The base rate is the same measure without any edit, on the same layouts and seed.
"""

from __future__ import annotations

import numpy as np
import torch

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.eval.rollout import rollout
from irl.models.metacontroller import Metacontroller
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses


@torch.no_grad()
def codes_by_subgoal(base: PinpadTransformer, mc: Metacontroller, batches: EpisodeBatches, episodes: np.ndarray,
                     n_subgoals: int, chunk: int = 256) -> torch.Tensor:
    """(n_subgoals, n_z) mean code z over the held-out steps labelled with each subgoal."""
    sums = torch.zeros(n_subgoals, mc.cfg.n_z)
    counts = torch.zeros(n_subgoals)
    for start in range(0, len(episodes), chunk):
        b = batches.gather(episodes[start : start + chunk])
        _, _, out = discovery_losses(base, mc, b, sample=False)
        m = b["mask"]
        z, g = out["z"][m].float().cpu(), b["subgoal"][m].cpu()
        keep = g >= 0
        sums.index_add_(0, g[keep], z[keep])
        counts.index_add_(0, g[keep], torch.ones(int(keep.sum())))
    if (counts == 0).any():
        raise ValueError(f"codes_by_subgoal: no held-out step for subgoal(s) {torch.nonzero(counts == 0).flatten().tolist()}")
    return sums / counts[:, None]


def first_pair(env: GridPinpadBatch) -> np.ndarray:
    """(N,) the subgoal (pair) an any_task episode completed first, −1 if it completed none."""
    if not env.any_task:
        raise ValueError("first_pair needs an env in any_task mode")
    first_color = env._task_table[env.candidates.argmax(1), 0]
    done_pair = env.progress >= env.task_set.colors_per_subgoal
    return np.where(done_pair, first_color // env.task_set.colors_per_subgoal, -1)


@torch.no_grad()
def steering_check(base: PinpadTransformer, mc: Metacontroller, codes: torch.Tensor, env_cfg: GridConfig,
                   task_set: TaskSet, episodes: int, seed: int) -> dict[str, object]:
    """Reach rate of each subgoal with its code injected vs without, same layouts per subgoal."""
    device = next(base.parameters()).device
    steered, baseline = [], []
    for g in range(codes.shape[0]):
        env = GridPinpadBatch(env_cfg, task_set, episodes, seed=seed + g, any_task=True)
        env.reset()
        rollout(base, env, seed=seed + g)
        baseline.append(float((first_pair(env) == g).mean()))
        env = GridPinpadBatch(env_cfg, task_set, episodes, seed=seed + g, any_task=True)
        env.reset()
        a, b = mc.decode(codes[g].to(device)[None])
        edit = mc.edit(a[:, None].expand(episodes, 1, -1, -1), b[:, None].expand(episodes, 1, -1, -1))
        rollout(base, env, controller=lambda e: edit, edit_layer=mc.cfg.layer, seed=seed + g)
        steered.append(float((first_pair(env) == g).mean()))
    return {"reach_rate_steered": float(np.mean(steered)), "reach_rate_base": float(np.mean(baseline)),
            "by_subgoal": [{"subgoal": g, "steered": s, "base": b} for g, (s, b) in enumerate(zip(steered, baseline, strict=True))],
            "episodes_per_subgoal": episodes}
