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
    """batch(epoch, i) → dict of tensors: colors (B, C), walls (B, W), pos/action/next_pos/subgoal
    (B, T) and mask (B, T) (True on real steps)."""

    def __init__(self, data: PinpadDataset, batch_size: int, seed: int, device: torch.device | str = "cpu",
                 episodes: np.ndarray | None = None) -> None:
        """`episodes`: the episode indices that `batch` draws from (default: all); `gather` takes any."""
        self.pool = np.arange(data.num_episodes) if episodes is None else np.asarray(episodes, dtype=np.int64)
        if self.pool.size == 0:
            raise ValueError("EpisodeBatches: no episodes to draw from")
        self.batch_size = min(batch_size, self.pool.size)
        self.seed = seed
        self.device = torch.device(device)
        self.lengths = data["episode_lengths"].astype(np.int64)
        self.offsets = data.episode_offsets
        pos = data["pos"].astype(np.int64)
        # the observation after step t: the next step's cell, or the final cell after the last step
        next_pos = np.roll(pos, -1)
        next_pos[self.offsets + self.lengths - 1] = data["final_pos"]
        self.steps = {
            "pos": torch.from_numpy(pos),
            "action": torch.from_numpy(data["action"].astype(np.int64)),
            "next_pos": torch.from_numpy(next_pos),
            "subgoal": torch.from_numpy(data["subgoal"].astype(np.int64)),
            "target": torch.from_numpy(data["target"].astype(np.int64)),
        }
        self.colors = torch.from_numpy(data["layout_colors"].astype(np.int64))
        self.walls = torch.from_numpy(data["layout_walls"].astype(np.int64))
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
        out.update(colors=self.colors[ep], walls=self.walls[ep], mask=torch.from_numpy(mask))
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}

    def batch(self, epoch: int, index: int) -> dict[str, torch.Tensor]:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, self.order(epoch))
        return self.gather(self._order[1][index])
