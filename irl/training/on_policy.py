"""On-policy expert relabelling (DAgger) for the grid base model: a lever against compounding errors.

Teacher-forced on D the default model picks a shortest move on 99.4% of determined steps, yet it
completes a task closed-loop only 2 times in 3: once its own moves leave the expert's state
distribution it loses track of its target (README "Finding the regime"). Here the model being
trained rolls itself out on fresh layouts of the pretraining tasks, and every state it visits is
labelled with the expert's shortest moves toward the target of the task it is pursuing; these
episodes are mixed into the batches from D.

The task is never given to the model, so the target is relabelled in hindsight: inside a pair it
is the partner of the color just visited; at a pair start it is the color the model entered next
when that continued a pretraining task (any consistent continuation is one the expert could have
chosen), and otherwise — the model entered a wrong color or timed out — one continuation drawn
uniformly from those still consistent with the colors it visited. Only pretraining tasks are ever
labelled, so no post-training transition enters the data. The model's own next cell is not a
target (the next-observation loss is masked on these rows): it would teach the model its mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.grid_paths import UNREACHABLE
from irl.envs.tasks import TaskSet
from irl.experts.grid_expert import optimal_moves
from irl.models.transformer import PinpadTransformer
from irl.training.batches import EpisodeBatches
from irl.training.blocks import ON_POLICY_PREFIX


@dataclass(frozen=True)
class OnPolicyConfig:
    """From step `start` on, every `every` steps `episodes` fresh rollouts of the current model
    replace the buffer, and each batch from D gains `batch_episodes` episodes drawn from it
    (0: off, the paper's pure behaviour cloning)."""

    batch_episodes: int = 0
    every: int = 50
    episodes: int = 1024
    start: int = 0

    def __post_init__(self) -> None:
        if self.batch_episodes < 0 or self.every < 1 or self.episodes < 1 or self.start < 0:
            raise ValueError(f"on_policy={self}: batch_episodes and start must be >= 0, every and episodes >= 1")

    @property
    def enabled(self) -> bool:
        return self.batch_episodes > 0


@torch.no_grad()
def collect_on_policy(model: PinpadTransformer, env_cfg: GridConfig, task_set: TaskSet, episodes: int,
                      seed: int) -> dict[str, np.ndarray]:
    """Roll the model out (sampled actions) and label every visited state with the expert's moves.

    Returns per episode `colors` (N, C), `walls` (N, W), `length` (N,) and per step (N, T)
    `pos`, `next_pos`, `target`, `subgoal`, plus `optimal` (N, T, 4): the shortest moves toward
    the hindsight target; steps past an episode's end are padding (see `length`).
    """
    if task_set.colors_per_subgoal != 2:
        raise ValueError("collect_on_policy: hindsight targets assume color pairs (the grid's pretraining tasks)")
    device = next(model.parameters()).device
    env = GridPinpadBatch(env_cfg, task_set, episodes, seed=seed, any_task=True)
    env.reset()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    rng = np.random.default_rng(seed)
    n, horizon = episodes, env_cfg.horizon
    pos = np.zeros((n, horizon), dtype=np.int64)
    progress = np.zeros((n, horizon), dtype=np.int64)
    last_color = np.full((n, horizon), -1, dtype=np.int64)
    fallback = np.zeros((n, horizon), dtype=np.int64)  # a consistent next color, drawn per step
    prev = np.full(n, -1, dtype=np.int64)  # the color visited last
    current = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    cache = model.init_cache(torch.from_numpy(env.colors).to(device), torch.from_numpy(env.walls).to(device), horizon)
    table = env._task_table
    for t in range(horizon):
        if env.done.all():
            break
        live = ~env.done
        pos[:, t], progress[:, t], last_color[:, t] = env.pos, env.progress, prev
        # a fallback target per segment, drawn when it starts among the consistent next colors that
        # are still reachable (used only if the segment ends without entering one)
        new_segment = (t == 0) | (env.progress != progress[:, max(t - 1, 0)])
        col = np.minimum(env.progress, table.shape[1] - 1)
        nxt = np.where(env.candidates, table[:, col].T, -1)  # (N, n_tasks) next color per consistent task
        reach = env.distances()[rows[:, None], np.maximum(nxt, 0), env.pos[:, None]] < UNREACHABLE
        ok = (nxt >= 0) & reach
        drawn = np.where(ok.any(1), nxt[rows, np.where(ok, rng.random(nxt.shape), -1.0).argmax(1)], -1)
        current = np.where(new_segment, drawn, current)
        fallback[:, t] = current
        out = model.step(cache, torch.from_numpy(env.pos).to(device))
        probs = torch.softmax(out["action_logits"].float().cpu(), -1)
        actions = torch.multinomial(probs, 1, generator=gen)[:, 0].numpy()
        before = env.progress.copy()
        env.step(actions)
        entered = live & (env.progress > before)
        prev = np.where(entered, env.cell_map[rows, env.pos], prev)
    length = env.t.copy()
    final_pos = env.pos.copy()
    steps = np.arange(horizon)[None, :]
    valid = steps < length[:, None]
    next_pos = np.concatenate([pos[:, 1:], final_pos[:, None]], axis=1)
    next_pos = np.where(steps + 1 < length[:, None], next_pos, final_pos[:, None])
    progress_after = np.concatenate([progress[:, 1:], env.progress[:, None]], axis=1)
    progress_after = np.where(steps + 1 < length[:, None], progress_after, env.progress[:, None])
    # the color entered at step t when that entry continued a task (−1 otherwise)
    entered_at = np.where(valid & (progress_after > progress), env.cell_map[rows[:, None], next_pos], -1)
    # propagate backwards within a segment: the color this segment ends by entering
    seg_end = np.full(n, -1, dtype=np.int64)
    reached = np.full((n, horizon), -1, dtype=np.int64)
    for t in range(horizon - 1, -1, -1):
        seg_end = np.where(entered_at[:, t] >= 0, entered_at[:, t], seg_end)
        reached[:, t] = seg_end
        # the segment boundary: progress increases at step t, so step t-1 belongs to the same segment
        # only if progress is unchanged; a new segment starts where progress differs
        if t > 0:
            seg_end = np.where(progress[:, t - 1] != progress[:, t], -1, seg_end)
    in_pair = progress % 2 == 1
    target = np.where(in_pair, last_color + 1, np.where(reached >= 0, reached, fallback))
    has_target = valid & (target >= 0)  # −1: no consistent continuation is reachable from here
    target = np.where(has_target, target, 0)
    flat = np.repeat(rows, horizon)
    opt = optimal_moves(env.colors[flat], env.walls[flat], pos.reshape(-1), target.reshape(-1), env_cfg.size)
    opt = opt.reshape(n, horizon, 4) & has_target[..., None]
    labelled = opt.any(-1)  # steps whose target is unreachable from there carry no label
    return {"colors": env.colors.copy(), "walls": env.walls.copy(), "length": length, "pos": pos, "labelled": labelled,
            "next_pos": next_pos, "target": np.where(has_target, target, -1),
            "subgoal": np.where(has_target, target // 2, -1), "optimal": opt,
            "success": env.success.copy()}


class OnPolicyBatches:
    """D's batches, each extended by on-policy episodes of the model being trained (a BatchSource).

    The buffer at step s was collected at the last multiple of `every` (≥ `start`) from the weights
    of that step, with seeds derived from (seed, step); a run resumed at a checkpoint that is a
    multiple of `every` rebuilds exactly the buffer it had, so the loss curve continues unchanged.
    """

    def __init__(self, base: EpisodeBatches, model: PinpadTransformer, cfg: OnPolicyConfig, env_cfg: GridConfig,
                 task_set: TaskSet, seed: int) -> None:
        self.base, self.model, self.cfg, self.env_cfg, self.task_set, self.seed = base, model, cfg, env_cfg, task_set, seed
        self.batches_per_epoch = base.batches_per_epoch
        self._buffer: tuple[int, dict[str, torch.Tensor]] | None = None
        self.last_success: float | None = None  # sampled success of the latest collection

    def _buffer_at(self, step: int) -> dict[str, torch.Tensor]:
        at = step - (step - self.cfg.start) % self.cfg.every
        if self._buffer is None or self._buffer[0] != at:
            was_training = self.model.training
            self.model.eval()
            data = collect_on_policy(self.model, self.env_cfg, self.task_set, self.cfg.episodes,
                                     seed=int(np.random.SeedSequence([self.seed, at, 7]).generate_state(1)[0]))
            self.model.train(was_training)
            self.last_success = float(data["success"].mean())
            # a row ends at its last labelled step (what follows carries no loss); rows sorted by that
            # extent, so a batch of neighbours pads little — as D's length buckets do
            horizon = data["labelled"].shape[1]
            extent = np.where(data["labelled"].any(1), horizon - data["labelled"][:, ::-1].argmax(1), 0)
            keep = np.flatnonzero(extent > 0)
            order = keep[np.argsort(extent[keep], kind="stable")]
            rows = {k: torch.from_numpy(v[order]) for k, v in data.items() if k not in ("success", "length")}
            rows["extent"] = torch.from_numpy(extent[order])
            self._buffer = (at, rows)
        return self._buffer[1]

    def batch(self, epoch: int, index: int) -> dict[str, torch.Tensor]:
        """D's batch, plus (from `start` on) `op_*` keys: `batch_episodes` on-policy rows.

        The rows are neighbours in the extent-sorted buffer from a uniformly drawn start (wrapping
        around), so each row is drawn equally often; they form their own padded block, and
        `sequence_losses` averages both blocks over their real steps as one batch.
        """
        out = self.base.batch(epoch, index)
        step = epoch * self.batches_per_epoch + index
        if not self.cfg.enabled or step < self.cfg.start:
            return out
        buf = self._buffer_at(step)
        n = buf["extent"].shape[0]
        if n == 0:  # no labelled step at all in this collection (a model that never leaves its start)
            return out
        rng = np.random.default_rng([self.seed, step, 11])
        rows = torch.from_numpy((int(rng.integers(n)) + np.arange(self.cfg.batch_episodes)) % n)
        t_max = int(buf["extent"][rows].max())
        opt, mask = buf["optimal"][rows, :t_max], buf["labelled"][rows, :t_max]
        extra = {"colors": buf["colors"][rows], "walls": buf["walls"][rows], "pos": buf["pos"][rows, :t_max],
                 "next_pos": buf["next_pos"][rows, :t_max], "target": buf["target"][rows, :t_max],
                 "subgoal": buf["subgoal"][rows, :t_max], "action": opt.float().argmax(-1), "optimal": opt,
                 "mask": mask, "next_mask": torch.zeros_like(mask)}
        return {**out, **{f"{ON_POLICY_PREFIX}{k}": v.to(out["mask"].device) for k, v in extra.items()}}
