"""Is the ant's current target color recoverable from the observation history at all? (nothing written)

    python bench/diagnostics/ant_target_in_history.py [DATASET]

The ant observation carries no task; a base model has to infer the target from the walk so far.
A hand-written rule — the target is the pad most aligned with the torso's displacement over the
last k steps — is scored against the true target on DATASET (default data/ant/D_star) for several
k; compare with the base model's target probe (metrics/ant/probe.json) and the majority class.
"""
import json, sys
import numpy as np
from irl.data.dataset import load_dataset

data = load_dataset(sys.argv[1] if len(sys.argv) > 1 else "data/ant/D_star")
obs, xy, target = data["obs"], data["xy"], data["target"].astype(int)
n_colors = data["layout_colors"].shape[1]
# AntPinpadEnv._obs: symlog(qpos[2:]) 13, symlog(qvel) 14, xy 2, then each pad's centre relative to the torso
pads = obs[:, 29 : 29 + 2 * n_colors].reshape(-1, n_colors, 2)
out = {"majority_class": float(np.bincount(target).max() / len(target)), "chance": 1 / n_colors}
for k in (5, 10, 20, 40):
    hits = total = 0
    for start, length in zip(data.episode_offsets, data["episode_lengths"].astype(int)):
        t = np.arange(start + k, start + length)
        move = xy[t] - xy[t - k]
        keep = np.linalg.norm(move, axis=1) > 1e-3
        p, move, t = pads[t][keep], move[keep], t[keep]
        cos = np.einsum("ncx,nx->nc", p, move) / (np.linalg.norm(p, axis=2) * np.linalg.norm(move, axis=1)[:, None] + 1e-9)
        hits += int((cos.argmax(1) == target[t]).sum())
        total += len(t)
    out[f"aligned_pad_last_{k}_steps"] = round(hits / total, 3)
print(json.dumps(out))
