"""The committed ant expert under other steering rules, without retraining (nothing written):

    python bench/diagnostics/ant_expert_steering.py [MODEL_DIR] [SPEC ...]

SPEC is comma-separated KEY=VALUE (default: the expert's own rule):
  lookahead=L   pure-pursuit lookahead in cells in place of the one it was trained with
  margin=M,gain=G  add G·(M − d)/M times the unit vector away from every forbidden cell (wall, colors
                other than the target and the cell the ant is in) and grid edge closer than M (world
                units) to the direction — a potential field
  K=k           add k·(direction − unit velocity) — feedback on the torso's velocity heading
The expert is one walking skill steered by its direction input; each SPEC evaluates MODEL_DIR
(default models/ant/expert; an expert_ant checkpoint directory works too)
(default profile's env, 200 pretrain + 200 post episodes, the stage's seeds) and prints success,
failure events and the median / 90th-percentile angle between the torso velocity and the direction.
"""
import dataclasses, json, sys, time
from pathlib import Path
from safetensors.torch import load_file
import numpy as np, torch, yaml
import irl.experts.ant_expert as ae
from irl.envs.ant import AntConfig
from irl.experts.ant_expert import HEADING_OBS_DIM, AntExpertPolicy, ExpertNetConfig
from irl.models.io import load_model
from irl.rl.ppo_ant import evaluate_expert
torch.set_num_threads(1)
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env, seed = AntConfig(**prof["ant_env"]), prof["expert_ant"]["seed"]
args = sys.argv[1:]
model_dir = Path(args.pop(0)) if args and "=" not in args[0] else Path("models/ant/expert")
if (model_dir / "config.json").is_file():
    policy, _ = load_model(model_dir)
else:  # a checkpoint of train_ant_expert: weights + state.json, the net config from the profile
    if prof["expert_ant"]["frame"] != "heading":
        sys.exit("a checkpoint directory is read with the profile's frame: heading only")
    policy = AntExpertPolicy(ExpertNetConfig(HEADING_OBS_DIM, 8,
                                             prof["expert_ant"]["hidden"], prof["expert_ant"]["frame"],
                                             prof["expert_ant"].get("lookahead", 0.0)))
    policy.load_state_dict(load_file(model_dir / "model.safetensors"))
policy.eval()
trained_lookahead = policy.cfg.lookahead
waypoint = ae.shortest_path_direction
spec: dict[str, float] = {}
angles: list[float] = []


def repulsion(ant, xy: np.ndarray, margin: float) -> np.ndarray:
    h, f = ant.cfg.cell_size / 2, np.zeros(2)
    target = int(ant.colors[ant.task[ant.progress]])
    for c in (int(c) for c in [*ant.colors, *ant.walls]):
        if c in (target, ant.cell):
            continue
        centre = ant.cell_center(c)
        d = xy - np.clip(xy, centre - h, centre + h)
        n = float(np.linalg.norm(d))
        if 1e-9 < n < margin:
            f += (margin - n) / margin * d / n
    for k in range(2):
        for s in (-1, 1):
            n = ant._half - s * xy[k]
            if n < margin:
                f[k] -= s * (margin - n) / margin
    return f


def steered(ant, paths, lookahead: float = 0.0) -> np.ndarray:
    out = waypoint(ant, paths, lookahead)
    if not out[:2].any():
        return out
    d = out[:2].astype(np.float64)
    v = ant.data.qvel[:2]
    speed = float(np.linalg.norm(v))
    if speed > 0.2:
        angles.append(float(np.degrees(np.arccos(np.clip(v @ d / speed, -1, 1)))))
    if not spec.get("gain") and not spec.get("K"):
        return out  # the waypoint rule alone: bit-identical to the stage's evaluation
    c = d.copy()
    if spec.get("gain"):
        c += spec["gain"] * repulsion(ant, ant.data.qpos[:2].copy(), spec["margin"])
    if spec.get("K") and speed > 0.2:
        c += spec["K"] * (d - v / speed)
    n = float(np.linalg.norm(c))
    if n < 1e-6:
        return out
    c /= n
    out[:2] = c
    out[2:] = ae.to_heading(c, ae.torso_yaw(ant.data.qpos))
    return out


ae.shortest_path_direction = steered  # AntExpertEnv looks it up in its module at every step
for arg in args or [""]:
    spec = {k: float(v) for k, v in (kv.split("=") for kv in arg.split(",") if kv)}
    policy.cfg = dataclasses.replace(policy.cfg, lookahead=spec.get("lookahead", trained_lookahead))
    angles.clear()
    t = time.time()
    pre = evaluate_expert(policy, env, "pretrain", 200, seed=seed + 1000)
    post = evaluate_expert(policy, env, "post", 200, seed=seed + 2000)
    print(json.dumps({"spec": spec, "success_pretrain": pre["success"], "success_post": post["success"],
                      "outcomes_pretrain": pre["outcomes"], "outcomes_post": post["outcomes"],
                      "velocity_angle_deg_median_p90": np.percentile(angles, [50, 90]).round(1).tolist(),
                      "s": round(time.time() - t)}), flush=True)
