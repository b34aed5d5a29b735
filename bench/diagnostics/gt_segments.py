"""Ground-truth controllers fitted on D* with the history before each subgoal dropped:

    python bench/diagnostics/gt_segments.py LAYER RANK|full STEPS LR MODE [BASE_DIR]

MODE: `full` (the stage's D*), `segments`/`segments1` (every D* episode cut at its subgoal boundaries, each
piece a sequence of its own: the base sees no earlier pair, so it cannot predict the subgoal from
the history and the controller must carry it), `mixed`/`mixed1` (both); the `1` forms drop each later piece's first step (standing on the
color that ended the previous pair, which names it). Only D*'s own transitions are seen;
the post task stays unseen. Prints the fit and post-task / commanded pretraining-task success (500
episodes each), controlled and uncontrolled, on the default 5×5 grid (T 60).
"""
import sys, time

import numpy as np
import torch

from irl.data.dataset import PinpadDataset, load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.models.controllers import ControllerConfig
from irl.models.io import load_model
from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers


def split_at_subgoals(data: PinpadDataset, skip: int = 0) -> PinpadDataset:
    """Each episode cut where its ground-truth subgoal changes; a piece keeps its episode's layout.

    `skip`: drop the first `skip` steps of every piece but an episode's first — the step standing on
    the color that ended the previous pair tells the base which pair it just finished."""
    a, lengths, offsets = data.arrays, data["episode_lengths"].astype(np.int64), data.episode_offsets
    sub = a["subgoal"].astype(np.int64)
    episode_of_step = np.repeat(np.arange(lengths.size), lengths)
    start = np.ones(sub.size, dtype=bool)
    start[1:] = (sub[1:] != sub[:-1]) | (episode_of_step[1:] != episode_of_step[:-1])
    starts = np.flatnonzero(start)
    ends = np.append(starts[1:], sub.size)
    later = np.isin(starts, offsets, invert=True)
    starts = np.where(later, np.minimum(starts + skip, ends - 1), starts)
    piece_episode = episode_of_step[starts]
    last_of_episode = ends == (offsets + lengths)[piece_episode]
    final_pos = np.where(last_of_episode, a["final_pos"][piece_episode], a["pos"][np.minimum(ends, sub.size - 1)])
    keep = np.repeat(ends - starts, ends - starts)  # the kept steps, piece by piece
    keep = np.arange(keep.size) - np.repeat(np.cumsum(ends - starts) - (ends - starts), ends - starts) + np.repeat(starts, ends - starts)
    arrays = {k: v[keep] for k, v in a.items() if v.shape[:1] == sub.shape}
    arrays.update({k: a[k][piece_episode] for k in ("layout_colors", "layout_walls", "task_id", "success")},
                  episode_lengths=(ends - starts).astype(np.int32), final_pos=final_pos.astype(np.int8))
    return PinpadDataset(None, data.manifest, arrays)


def concat(x: PinpadDataset, y: PinpadDataset) -> PinpadDataset:
    return PinpadDataset(None, x.manifest, {k: np.concatenate([x[k], y[k]]) for k in x.arrays})


if __name__ == "__main__":
    torch.set_num_threads(1)
    layer, rank, steps, lr = int(sys.argv[1]), (None if sys.argv[2] == "full" else int(sys.argv[2])), int(sys.argv[3]), float(sys.argv[4])
    mode = sys.argv[5]
    base, _ = load_model(sys.argv[6] if len(sys.argv) > 6 else "models/grid/base")
    env, post, pretrain = GridConfig(size=5, horizon=60), resolve_tasks("post"), resolve_tasks("pretrain")
    dstar = load_dataset("data/grid/D_star")
    data = {"full": lambda: dstar, "segments": lambda: split_at_subgoals(dstar),
            "segments1": lambda: split_at_subgoals(dstar, 1),
            "mixed": lambda: concat(dstar, split_at_subgoals(dstar)),
            "mixed1": lambda: concat(dstar, split_at_subgoals(dstar, 1))}[mode]()
    print(f"{mode}: {data.num_episodes} sequences, {data.num_steps} steps", flush=True)
    t = time.time()
    ctrl, fit = train_controllers(base, data, ControllerConfig(4, base.cfg.d_model, rank, layer),
                                  GTControllerConfig(steps=steps, lr=lr, batch_size=128, weight_decay=0.03))
    print(fit, f"{time.time() - t:.0f} s", flush=True)
    print("ood", steered_success(base, ctrl, env, post, 500, 5000), "id", steered_success(base, ctrl, env, pretrain, 500, 6000), flush=True)
    print("uncontrolled ood", steered_success(base, None, env, post, 500, 5000), "id", steered_success(base, None, env, pretrain, 500, 6000))
