"""N ant-pinpad episodes stepped in lockstep, with the batched grid env's interface (`num_envs`,
`reset`, `step`, `done`, `success`, `subgoal`), so the abstract-action environment of internal RL
drives either world through one code path. Each `AntPinpadEnv` compiles its MuJoCo model once;
`reset` draws new layouts for all of them from one seeded generator."""

from __future__ import annotations

import numpy as np

from irl.envs.ant import AntConfig, AntPinpadEnv, episode_outcome


class AntPinpadBatch:
    """`num_envs` ants on the task set `task_set` ("pretrain" or "post")."""

    def __init__(self, config: AntConfig, task_set: str, num_envs: int, seed: int = 0) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs}: must be >= 1")
        self.config, self.num_envs = config, num_envs
        self.envs = [AntPinpadEnv(task=task_set, **config.to_dict()) for _ in range(num_envs)]
        self.rng = np.random.default_rng(seed)
        n, obs_dim = num_envs, self.envs[0].observation_space.shape[0]
        self.obs = np.zeros((n, obs_dim), dtype=np.float32)
        self.done = np.ones(n, dtype=bool)
        self.success = np.zeros(n, dtype=bool)
        self.t = np.zeros(n, dtype=np.int64)
        self.outcomes: list[str | None] = [None] * n

    def reset(self) -> np.ndarray:
        """New layouts, tasks, start cells and yaws for every ant → obs (N, obs_dim)."""
        for i, env in enumerate(self.envs):
            self.obs[i] = env.reset(seed=int(self.rng.integers(2**31)))[0]
        self.done[:], self.success[:], self.t[:] = False, False, 0
        self.outcomes = [None] * self.num_envs
        return self.obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Torques (N, 8) for every ant (finished ones ignore theirs) → (reward, terminated, truncated)."""
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.num_envs, *self.envs[0].action_space.shape):
            raise ValueError(f"actions: expected shape {(self.num_envs, *self.envs[0].action_space.shape)}, got {actions.shape}")
        reward = np.zeros(self.num_envs, dtype=np.float32)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i in np.flatnonzero(~self.done):
            ob, r, term, trunc, info = self.envs[i].step(actions[i])
            self.obs[i], reward[i], terminated[i], truncated[i] = ob, r, term, trunc
            self.t[i] += 1
            if term or trunc:
                self.done[i] = True
                self.success[i] = bool(info["success"])
                self.outcomes[i] = episode_outcome(info, term)
        return reward, terminated, truncated

    @property
    def subgoal(self) -> np.ndarray:
        """(N,) each ant's current target color (its subgoal); −1 once its task is complete."""
        return np.array([e.task[e.progress] if e.progress < len(e.task) else -1 for e in self.envs], dtype=np.int64)

    def close(self) -> None:
        for env in self.envs:
            env.close()
