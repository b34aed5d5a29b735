"""Length-bucketed episode batches from a pinpad dataset, as padded tensors.

Episodes are sorted by length (ties broken randomly) and cut into batches of similar length, so
padding wastes little compute; batch order is reshuffled every epoch. The order depends only on
(seed, epoch), so training resumed from (epoch, index) sees exactly the batches it would have.
"""

from __future__ import annotations

import numpy as np
import torch

from irl.data.dataset import PinpadDataset


class EpisodeBatches:
    """batch(epoch, i) → dict of tensors, mask (B, T) True on real steps, and per step subgoal and
    target (B, T) with — grid — colors (B, C), walls (B, W), pos/action/next_pos (B, T); — ant —
    obs/next_obs (B, T, obs_dim), action (B, T, 8)."""

    def __init__(self, data: PinpadDataset, batch_size: int, seed: int, device: torch.device | str = "cpu",
                 episodes: np.ndarray | None = None, optimal: bool = False) -> None:
        """`episodes`: the episode indices that `batch` draws from (default: all); `gather` takes any.
        `optimal`: also gather `optimal` (B, T, 4), the shortest moves toward each step's target
        (the expert's intended actions, whatever its ε-noise executed)."""
        self.pool = np.arange(data.num_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64)
        if self.pool.size == 0:
            raise ValueError("EpisodeBatches: no episodes to draw from")
        self.batch_size = min(batch_size, self.pool.size)
        self.seed = seed
        self.device = torch.device(device)
        self.lengths = data["episode_lengths"].astype(np.int64)
        self.offsets = data.episode_offsets
        self.steps: dict[str, torch.Tensor] = {
            "subgoal": torch.from_numpy(data["subgoal"].astype(np.int64)),
            "target": torch.from_numpy(data["target"].astype(np.int64)),
        }
        self.episode_arrays: dict[str, torch.Tensor] = {}
        last = self.offsets + self.lengths - 1
        if "obs" in data.arrays:  # the ant: continuous observations and torques
            obs = data["obs"].astype(np.float32)
            next_obs = np.roll(obs, -1, axis=0)
            next_obs[last] = data["final_obs"]
            self.steps.update(obs=torch.from_numpy(obs), next_obs=torch.from_numpy(next_obs),
                              action=torch.from_numpy(data["action"].astype(np.float32)))
            if optimal:
                raise ValueError("EpisodeBatches: optimal-move targets exist for the grid only")
        else:  # the grid: cells, discrete moves, one layout per episode
            pos = data["pos"].astype(np.int64)
            # the observation after step t: the next step's cell, or the final cell after the last step
            next_pos = np.roll(pos, -1)
            next_pos[last] = data["final_pos"]
            self.steps.update(pos=torch.from_numpy(pos), next_pos=torch.from_numpy(next_pos),
                              action=torch.from_numpy(data["action"].astype(np.int64)))
            if optimal:
                self.steps["optimal"] = torch.from_numpy(dataset_optimal_moves(data, self.offsets, self.lengths, pos))
            self.episode_arrays = {"colors": torch.from_numpy(data["layout_colors"].astype(np.int64)),
                                   "walls": torch.from_numpy(data["layout_walls"].astype(np.int64))}
        self.batches_per_epoch = self.pool.size // self.batch_size
        self._order: tuple[int, np.ndarray] | None = None

    def order(self, epoch: int) -> np.ndarray:
        """(batches_per_epoch, B) episode indices for this epoch."""
        rng = np.random.default_rng([self.seed, epoch])
        perm = self.pool[rng.permutation(self.pool.size)]
        perm = perm[np.argsort(self.lengths[perm], kind="stable")]
        batches = perm[: self.batches_per_epoch * self.batch_size].reshape(self.batches_per_epoch, self.batch_size)
        return batches[rng.permutation(self.batches_per_epoch)]

    def gather(self, episodes: np.ndarray) -> dict[str, torch.Tensor]:
        lengths = self.lengths[episodes]
        t_max = int(lengths.max())
        t = np.arange(t_max)
        mask = t[None, :] < lengths[:, None]
        idx = torch.from_numpy(self.offsets[episodes][:, None] + np.minimum(t[None, :], lengths[:, None] - 1))
        out = {k: v[idx] for k, v in self.steps.items()}
        ep = torch.from_numpy(episodes)
        out.update({k: v[ep] for k, v in self.episode_arrays.items()}, mask=torch.from_numpy(mask))
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}

    def batch(self, epoch: int, index: int) -> dict[str, torch.Tensor]:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, self.order(epoch))
        return self.gather(self._order[1][index])


def dataset_optimal_moves(data: PinpadDataset, offsets: np.ndarray, lengths: np.ndarray, pos: np.ndarray,
                          chunk: int = 8192) -> np.ndarray:
    """(S, 4) bool over every step of `data`: the moves on a shortest path to the step's target.

    One BFS per (episode, color) on the episode's layout, then a lookup per step — the same rule
    as the expert (walk on empty cells, never enter a non-target color), so at every step it marks
    exactly the actions an ε = 0 expert could have taken.
    """
    from irl.envs.grid import GridPinpadBatch
    from irl.envs.grid_paths import UNREACHABLE, neighbor_table

    colors = data["layout_colors"].astype(np.int64)
    walls = data["layout_walls"].astype(np.int64)
    size = int(data.manifest["env"]["size"])
    target = data["target"].astype(np.int64)
    episode_of_step = np.repeat(np.arange(lengths.size), lengths)
    out = np.zeros((pos.size, 4), dtype=bool)
    neighbors = neighbor_table(size)
    for start in range(0, lengths.size, chunk):
        eps = np.arange(start, min(start + chunk, lengths.size))
        dist = GridPinpadBatch.layout_distances(colors[eps], walls[eps], size).astype(np.int64)  # (k, C, G²)
        s0, s1 = offsets[eps[0]], offsets[eps[-1]] + lengths[eps[-1]]
        p = pos[s0:s1]
        cells = neighbors[p]  # (s, 4)
        w = walls[episode_of_step[s0:s1]]
        blocked = (cells[:, :, None] == w[:, None, :]).any(-1)
        cells = np.where(blocked, p[:, None], cells)
        local = episode_of_step[s0:s1] - start
        d = dist[local[:, None], target[s0:s1, None], cells]
        best = d.min(axis=1, keepdims=True)
        out[s0:s1] = (d == best) & (best < UNREACHABLE)
    return out
