"""Why a base model fails closed-loop on the pretraining tasks (any task counts; 5×5, T 60): sampled vs
greedy, and the failure kind — timeout, a wrong color while heading for a pair's second color (its
target is then fixed), a wrong color when choosing the next pair — and how often the wrong color is
the one just visited.

    python bench/diagnostics/closed_loop_failures.py [models/grid/base]
"""
import numpy as np, torch, sys
from irl.models.io import load_model
from irl.envs.grid import GridConfig, GridPinpadBatch
from irl.envs.tasks import resolve_tasks
from irl.eval.rollout import rollout
torch.set_num_threads(1)
path = sys.argv[1] if len(sys.argv) > 1 else "models/grid/base"
base, _ = load_model(path)
N = 1024
for greedy in (False, True):
    env = GridPinpadBatch(GridConfig(size=5, horizon=60), resolve_tasks("pretrain"), N, seed=7, any_task=True)
    env.reset()
    r = rollout(base, env, greedy=greedy, seed=0)
    fail = ~r.success
    timeout = fail & (r.lengths >= 60)
    wrong = fail & ~timeout
    inpair = wrong & (r.progress % 2 == 1)   # entered a wrong color while heading for a pair's second color
    atboundary = wrong & (r.progress % 2 == 0)
    print(f"greedy={greedy}: success {r.success.mean():.3f}  timeout {timeout.mean():.3f}  wrong-in-pair {inpair.mean():.3f} "
          f"wrong-at-pair-start {atboundary.mean():.3f}  progress-at-wrong {np.bincount(r.progress[wrong], minlength=7)}")
# which wrong color: the one just visited (re-entry) or another
env = GridPinpadBatch(GridConfig(size=5, horizon=60), resolve_tasks("pretrain"), N, seed=7, any_task=True)
env.reset()
device = next(base.parameters()).device
last_color = np.full(N, -1); reentry = np.zeros(N, bool)
gen = torch.Generator().manual_seed(0)
cache = base.init_cache(torch.from_numpy(env.colors), torch.from_numpy(env.walls), 60)
with torch.no_grad():
    for t in range(60):
        if env.done.all(): break
        out = base.step(cache, torch.from_numpy(env.pos))
        a = torch.multinomial(torch.softmax(out["action_logits"].float(), -1), 1, generator=gen)[:, 0].numpy()
        live = ~env.done; prog0 = env.progress.copy()
        new = env.next_cells(a)
        content = env.cell_map[np.arange(N), new]
        env.step(a)
        wrong_now = live & env.done & ~env.success & (env.progress == prog0) & (content >= 0) & (content < 8)
        reentry |= wrong_now & (content == last_color)
        moved_in = live & (env.progress > prog0)
        last_color = np.where(moved_in, content, last_color)
print(f"sampled: success {env.success.mean():.3f}; wrong color = the color just visited (re-entry): {reentry.mean():.3f} of episodes")
