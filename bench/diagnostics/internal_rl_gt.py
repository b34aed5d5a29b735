"""A positive control for internal RL: the same PPO on codes (the internal_rl_grid stage's config
and seeds), but over a code space that holds a solution of the post task — the ground-truth
controllers of stage 2 (models/grid/gt_controllers: one linear controller per subgoal; a code is
a one-hot choice of one, the categorical policy head) — with an oracle switch that fires exactly
when the episode completes a pair (the grid's progress, not the residual). Discovery's code
space holds no solution (README, stage 4); this asks whether, given one, PPO finds the task's
subgoal sequence 0-1 2-3 4-5 6-7 0-1 2-3 from its sparse reward alone.

Also printed: the same abstract env driven by the true subgoal's controller at every decision
(the ceiling, ≈ the gt_controllers stage's ood_success) and by uniformly random choices.

    python bench/diagnostics/internal_rl_gt.py [EPISODES] [CONTROLLERS_DIR] [SEEDS, e.g. 1,2]
"""
import dataclasses, json, sys, time
import numpy as np
import torch
import yaml
from torch import nn
import irl.rl.internal_rl as IRL
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.models.io import load_model
from irl.models.metacontroller import Metacontroller
from irl.rl.abstract_env import AbstractActionEnv


class SubgoalCodes(nn.Module):
    """The metacontroller's interface in AbstractActionEnv (decode, apply_edit, history,
    switch_prob, cfg) over ground-truth controllers: z one-hot over subgoals → that controller's
    A, B; β = 1 when the bound grid has just completed a pair."""

    def __init__(self, controllers: nn.Module, colors_per_subgoal: int) -> None:
        super().__init__()
        c = controllers.cfg
        self.controllers, self.per = controllers, colors_per_subgoal
        self.cfg = type("Cfg", (), {"layer": c.layer, "n_z": c.n_controllers, "d_history": 1,
                                    "switch": "learned", "code": "categorical"})()
        self.grid: GridPinpadBatch | None = None
        self.seen = np.zeros(0, dtype=np.int64)

    apply_edit = staticmethod(Metacontroller.apply_edit)

    def decode(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.controllers
        if c.cfg.rank is None:
            return torch.einsum("ng,gde->nde", z, c.U), torch.eye(c.cfg.d_model).expand(z.shape[0], -1, -1)
        return torch.einsum("ng,gdr->ndr", z, c.A), torch.einsum("ng,gdr->ndr", z, c.B)

    def history(self, e: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return e, h

    def switch_prob(self, e_t: torch.Tensor, h_prev: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        p = self.grid.progress
        fired = (p > 0) & (p % self.per == 0) & (p != (self.seen if len(self.seen) == len(p) else 0))
        self.seen = p.copy()
        return torch.from_numpy(fired.astype(np.float32))


def make_env(base, codes, env_cfg, task_set, n, seed):
    grid = GridPinpadBatch(env_cfg, task_set, n, seed=seed)
    codes.grid, codes.seen = grid, np.zeros(n, dtype=np.int64)
    return AbstractActionEnv(base, codes, grid, seed=seed)


def scripted(base, codes, env_cfg, task_set, n, seed, choose) -> float:
    """Success of the abstract env driven by choose(grid) → subgoal index per row."""
    env = make_env(base, codes, env_cfg, task_set, n, seed)
    step, ret = env.reset(), np.zeros(n)
    while step.awaiting.any():
        step = env.step(nn.functional.one_hot(torch.as_tensor(choose(env.env)), codes.cfg.n_z).float())
        ret += step.reward
    return float(ret.mean())


torch.set_num_threads(1)
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env_cfg = GridConfig(**sec["grid_env"])
post = resolve_tasks("post", "grid", env_cfg.n_colors)
over = {"episodes": int(sys.argv[1])} if len(sys.argv) > 1 else {}
if len(sys.argv) > 3:
    over["seeds"] = tuple(int(x) for x in sys.argv[3].split(","))
cfg = IRL.InternalRLConfig(**{**sec["internal_rl_grid"], **over, "device": "cpu"})
base, _ = load_model("models/grid/base")
ctrl, spec = load_model(sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else "models/grid/gt_controllers")
codes = SubgoalCodes(ctrl, post.colors_per_subgoal)
IRL.make_env = make_env  # train_internal_rl builds its envs through this
rng = np.random.default_rng(0)
t = time.time()
print(json.dumps({"controllers": spec["config"], "episodes": cfg.episodes,
                  "true_subgoal_codes": scripted(base, codes, env_cfg, post, cfg.eval_episodes, 30_011, lambda g: np.maximum(g.subgoal, 0)),
                  "random_codes": scripted(base, codes, env_cfg, post, 4096, 30_013,
                                           lambda g: rng.integers(0, codes.cfg.n_z, g.num_envs))}), round(time.time() - t), "s", flush=True)
for s in cfg.seeds:
    _, res = IRL.train_internal_rl(base, codes, env_cfg, post, dataclasses.replace(cfg, seed=s), torch.device("cpu"))
    curve = res["curve"]
    first = {f"episodes_to_{int(q * 100)}": next((p["episodes"] for p in curve if p["success_rate"] >= q), None) for q in (0.1, 0.3)}
    print(json.dumps({"seed": s, "final_success": res["final_success"], "episodes_per_s": round(res["episodes_per_s"]), **first,
                      "curve": [round(p["success_rate"], 3) for p in curve[:: max(1, len(curve) // 12)]]}),
          round(time.time() - t), "s", flush=True)
