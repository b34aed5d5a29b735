"""Where the ant expert's wrong-color failures happen (nothing written):

    python bench/diagnostics/ant_expert_failures.py [MODEL_DIR] [EPISODES]

Runs MODEL_DIR (default models/ant/expert) with the mean action on EPISODES (default 150) layouts of
each task set and splits its wrong-color endings: re-entering the color just visited, entering one
visited earlier, or another color; with the other outcomes and the steps since the last visit.
"""
import collections, json, sys
import numpy as np, torch, yaml
from irl.envs.ant import AntConfig, episode_outcome
from irl.experts.ant_expert import AntRewardConfig
from irl.models.io import load_model
from irl.rl.ppo_ant import make_envs
torch.set_num_threads(1)
prof = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
env_cfg = AntConfig(**prof["ant_env"])
policy, _ = load_model(sys.argv[1] if len(sys.argv) > 1 else "models/ant/expert")
episodes = int(sys.argv[2]) if len(sys.argv) > 2 else 150
out, since = collections.Counter(), []
for task_set, seed in (("pretrain", 1000), ("post", 2000)):
    e = make_envs(env_cfg, task_set, 1, AntRewardConfig(), policy.cfg.frame, lookahead=policy.cfg.lookahead)[0]
    rng = np.random.default_rng(seed)
    for _ in range(episodes):
        obs, _ = e.reset(seed=int(rng.integers(2**31)))
        a, last_visit_t, prev_cell = e.ant, 0, None
        while True:
            target_cell = int(a.colors[a.task[a.progress]])
            obs, _, term, trunc, info = e.step(policy.act(obs[None], True)[0])
            if info["event"] == "visit":
                last_visit_t, prev_cell = a.t, target_cell
            if term or trunc:
                kind = episode_outcome(info, term)
                if kind == "wrong_color":
                    color = int(np.flatnonzero(a.colors == a.cell)[0])
                    kind = ("wrong_color:just_visited" if a.cell == prev_cell else
                            "wrong_color:visited_earlier" if color in a.task[:a.progress] else "wrong_color:other")
                    since.append(a.t - last_visit_t)
                out[f"{task_set}/{kind}"] += 1
                break
print(json.dumps({"episodes_per_task_set": episodes, "outcomes": dict(sorted(out.items())),
                  "wrong_color_steps_since_visit_quartiles": np.percentile(since, [25, 50, 75]).tolist() if since else []}))
