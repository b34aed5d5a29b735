"""Does the discovered code space hold a solution of a task? An upper bound for internal RL.

The ε = 0 expert solves fresh layouts of the task; the metacontroller reads each solution
non-causally (as in discovery) and sets one code per subgoal: z at the step of highest β within a
step of the subgoal's start. The frozen base then runs closed-loop on the *same* layouts with that
code sequence — the code of subgoal k held while k subgoals are done: the decisions internal RL
would have to find, switched at the true boundaries. Codes are per layout (the grid's discovered
codes say where to go, not which subgoal), so the control is the same sequence taken from another
layout's solution of the same task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from irl.data.collect import CollectConfig, collect_grid
from irl.data.dataset import PinpadDataset
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import TaskSet
from irl.eval.rollout import rollout
from irl.eval.switching import true_boundaries
from irl.models.metacontroller import Metacontroller
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses


def replay_layouts(data: PinpadDataset, episodes: np.ndarray) -> dict[str, np.ndarray]:
    """The layouts, starts and tasks of a grid dataset's `episodes`: the keyword arguments of
    `GridPinpadBatch.load_layouts`, to run other controllers on exactly those layouts."""
    episodes = np.asarray(episodes)
    return {"colors": data["layout_colors"][episodes].astype(np.int64), "walls": data["layout_walls"][episodes].astype(np.int64),
            "start": data["pos"][data.episode_offsets[episodes]].astype(np.int64), "task_id": data["task_id"][episodes].astype(np.int64)}


@torch.no_grad()
def subgoal_codes(base: PinpadTransformer, mc: Metacontroller, batch: dict[str, torch.Tensor],
                  n_subgoals: int) -> tuple[torch.Tensor, float]:
    """(B, n_subgoals, n_z) one code per subgoal of each episode in a teacher-forced batch, and the
    fraction of subgoal starts where β crossed 0.5 within a step (t = 0 counts: β_0 = 1)."""
    _, _, out = discovery_losses(base, mc, batch, sample=False)
    z, beta, sub, mask = out["z"].float().cpu(), out["beta"].float().cpu(), batch["subgoal"].cpu(), batch["mask"].cpu()
    codes = torch.zeros(z.shape[0], n_subgoals, z.shape[-1])
    hits = starts_seen = 0
    for i in range(z.shape[0]):
        steps = int(mask[i].sum())
        starts = [0, *true_boundaries(sub[i, :steps].numpy()).tolist()]
        if len(starts) < n_subgoals:
            raise ValueError(f"subgoal_codes: episode {i} has {len(starts)} subgoals, expected {n_subgoals} (a failed solution?)")
        for k, s in enumerate(starts[:n_subgoals]):
            window = beta[i, s : min(s + 2, steps)]
            codes[i, k] = z[i, s + int(window.argmax())]
            hits += int(bool((window > 0.5).any()))
            starts_seen += 1
    return codes, hits / starts_seen


@torch.no_grad()
def run_code_sequence(base: PinpadTransformer, mc: Metacontroller, env: GridPinpadBatch, codes: torch.Tensor,
                      seed: int) -> np.ndarray:
    """Roll `env` (reset, one layout per row) with row i holding codes[i, k] while k subgoals are
    done; returns the subgoals completed per episode."""
    per = env.task_set.colors_per_subgoal
    device = next(base.parameters()).device
    rows = torch.arange(env.num_envs)
    decoded = mc.decode(codes.to(device))  # A, B: (N, n_subgoals, d, r)

    def controller(e: GridPinpadBatch):
        k = torch.from_numpy(np.minimum(e.progress // per, codes.shape[1] - 1)).to(device)
        return mc.edit(decoded[0][rows, k][:, None], decoded[1][rows, k][:, None])

    rollout(base, env, controller=controller, edit_layer=mc.cfg.layer, seed=seed)
    return env.progress // per


@dataclass
class ExpertSolutions:
    """The ε = 0 expert's solutions of fresh layouts of one task, and the codes read off them."""

    env_cfg: GridConfig
    task_set: TaskSet
    n_subgoals: int
    codes: torch.Tensor  # (solved, n_subgoals, n_z): one code per subgoal of each solution
    switched: float  # share of subgoal starts where β crossed 0.5 within a step
    layouts: dict[str, np.ndarray]  # the solved layouts (replay_layouts)
    seed: int

    @property
    def episodes(self) -> int:
        return int(self.codes.shape[0])

    def env(self) -> GridPinpadBatch:
        """A fresh batch on exactly the solved layouts."""
        e = GridPinpadBatch(self.env_cfg, self.task_set, self.episodes, seed=self.seed)
        e.load_layouts(**self.layouts)
        return e


def expert_solutions(base: PinpadTransformer, mc: Metacontroller, env_cfg: GridConfig, task_set: TaskSet,
                     episodes: int, seed: int) -> ExpertSolutions:
    """Let the expert solve `episodes` fresh layouts of the task; the metacontroller reads one code
    per subgoal off each solution (`subgoal_codes`)."""
    if len(task_set.tasks) != 1:
        raise ValueError(f"expert_solutions: one task expected, task set {task_set.name!r} has {len(task_set.tasks)}")
    n_sub = len(task_set.tasks[0]) // task_set.colors_per_subgoal
    sol = collect_grid(env_cfg, task_set, CollectConfig(episodes=episodes, epsilon=0.0, seed=seed, task_set=task_set.name))
    data = PinpadDataset(None, {"arrays": {}}, sol.arrays)
    solved = np.flatnonzero(data["success"])
    batches = EpisodeBatches(data, 256, seed, next(base.parameters()).device)
    parts = [subgoal_codes(base, mc, batches.gather(solved[s : s + 256]), n_sub) for s in range(0, solved.size, 256)]
    codes = torch.cat([c for c, _ in parts])
    switched = float(np.average([h for _, h in parts], weights=[len(c) for c, _ in parts]))
    return ExpertSolutions(env_cfg, task_set, n_sub, codes, switched, replay_layouts(data, solved), seed)


def expert_code_sequence(base: PinpadTransformer, mc: Metacontroller, env_cfg: GridConfig, task_set: TaskSet,
                         episodes: int, seed: int) -> dict[str, float]:
    """Success of the base driven by the code sequence read off the expert's own solution of each
    layout (see the module docstring), of the same with another layout's sequence, and of the base
    alone, on the same layouts; `*_subgoals_done`: mean subgoals completed."""
    sol = expert_solutions(base, mc, env_cfg, task_set, episodes, seed)
    n_sub = sol.n_subgoals
    own = run_code_sequence(base, mc, sol.env(), sol.codes, seed)
    other = run_code_sequence(base, mc, sol.env(), sol.codes.roll(1, dims=0), seed)
    alone = sol.env()
    with torch.no_grad():
        rollout(base, alone, seed=seed)
    return {"expert_codes_success": float((own == n_sub).mean()), "expert_codes_subgoals_done": float(own.mean()),
            "other_layout_codes_success": float((other == n_sub).mean()),
            "other_layout_codes_subgoals_done": float(other.mean()),
            "base_subgoals_done": float((alone.progress // task_set.colors_per_subgoal).mean()),
            "expert_codes_switch_at_starts": sol.switched, "expert_codes_episodes": sol.episodes}
