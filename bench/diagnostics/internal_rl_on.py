"""Internal RL (the internal_rl_grid stage's config and seeds) on another metacontroller, e.g. one
saved by discover_layer.py, without MLflow or DVC: per-seed final success, the curve's last
points, and the code-space oracle (irl/eval/code_oracle.py) on the same post-task layouts.

    python bench/diagnostics/internal_rl_on.py MC_DIR [EPISODES]
"""
import dataclasses, json, sys, time
import torch
import yaml
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.code_oracle import expert_code_sequence
from irl.models.io import load_model
from irl.rl.internal_rl import InternalRLConfig, train_internal_rl

torch.set_num_threads(1)
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env = GridConfig(**sec["grid_env"])
post = resolve_tasks("post", "grid", env.n_colors)
over = {"episodes": int(sys.argv[2])} if len(sys.argv) > 2 else {}
cfg = InternalRLConfig(**{**sec["internal_rl_grid"], **over, "device": "cpu"})
base, _ = load_model("models/grid/base"); base.eval()
mc, _ = load_model(sys.argv[1]); mc.eval()
t = time.time()
oracle = expert_code_sequence(base, mc, env, post, cfg.eval_episodes, seed=cfg.seeds[0] + 30_011)
print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in oracle.items()}), flush=True)
for s in cfg.seeds:
    _, res = train_internal_rl(base, mc, env, post, dataclasses.replace(cfg, seed=s), torch.device("cpu"))
    print(json.dumps({"seed": s, "final_success": res["final_success"], "episodes_per_s": round(res["episodes_per_s"]),
                      "curve_tail": [round(p["success_rate"], 3) for p in res["curve"][-5:]]}), round(time.time() - t), "s", flush=True)
