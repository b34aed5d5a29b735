"""Ant-pinpad env speed against Gymnasium's Ant-v5, in the same run: steps/s of each under random
actions (resets included), single env and a sync vector of 8. Prints JSON; goal ≥ 0.8× of Ant-v5.

    python bench/ant_env.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")

import gymnasium as gym

import irl.envs  # noqa: F401  (registers irl/AntPinpad-v0)


def steps_per_s(env, seconds: float, vector: bool) -> float:
    env.reset(seed=0)
    env.action_space.seed(0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        n += env.num_envs if vector else 1
        if not vector and (term or trunc):
            env.reset()
    return n / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=5.0)
    a = p.parse_args()
    out = {}
    for name, env_id, kw in (("ant_pinpad", "irl/AntPinpad-v0", {"task": "pretrain"}), ("gymnasium_ant_v5", "Ant-v5", {})):
        out[name] = {"single": steps_per_s(gym.make(env_id, **kw), a.seconds, False),
                     "sync_vector_8": steps_per_s(gym.make_vec(env_id, num_envs=8, vectorization_mode="sync", **kw), a.seconds, True)}
    out["ratio_single"] = out["ant_pinpad"]["single"] / out["gymnasium_ant_v5"]["single"]
    out["ratio_vector"] = out["ant_pinpad"]["sync_vector_8"] / out["gymnasium_ant_v5"]["sync_vector_8"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
