"""What do the discovered codes z encode? Linear probes on the held-out D* steps of the stage's
metacontroller: z → subgoal (4 pairs), target color (8), direction to the target cell (9: sign of
row and column offsets), the expert's next move (4), and — for pairs after the first, where the
task table leaves two options — which option (the branch) and whether it is the nearer one. If z
carried the subgoal, the mean code per subgoal (the steering check) would be a command. Last,
the code set at each switch (β > 0.5) against the next target cell's row and column.

    python bench/diagnostics/code_content.py [models/grid/metacontroller]
"""
import json, sys
import numpy as np
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.envs.tasks import GRID_PRETRAIN
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import discovery_losses, split_episodes

torch.set_num_threads(1)
mc_dir = sys.argv[1] if len(sys.argv) > 1 else "models/grid/metacontroller"
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]
size = sec["grid_env"]["size"]
base, _ = load_model("models/grid/base")
mc, _ = load_model(mc_dir)
base.eval(); mc.eval()
data = load_dataset("data/grid/D_star")
_, held = split_episodes(data, sec["discover_grid"]["heldout_episodes"], sec["discover_grid"]["seed"])
batches = EpisodeBatches(data, 256, 0)
# the pairs that may follow each pair in the pretraining tasks
follow: dict[int, set[int]] = {}
for task in GRID_PRETRAIN:
    pairs = [int(c) // 2 for c in task.split("-")[::2]]
    for a, b in zip(pairs, pairs[1:]):
        follow.setdefault(a, set()).add(b)
cols_ = {k: [] for k in ("z", "mu", "beta", "subgoal", "target", "pos", "action", "prev", "colors", "episode")}
with torch.no_grad():
    for s in range(0, len(held), 250):
        eps = held[s:s + 250]
        b = batches.gather(eps)
        _, _, out = discovery_losses(base, mc, b, sample=False)
        sg = b["subgoal"].numpy()
        prev = np.full_like(sg, -1)
        for i in range(sg.shape[0]):  # the pair pursued before the current one
            cur, p = sg[i, 0], -1
            for t in range(sg.shape[1]):
                if sg[i, t] >= 0 and sg[i, t] != cur:
                    p, cur = cur, sg[i, t]
                prev[i, t] = p
        keep = (b["mask"] & (b["subgoal"] >= 0)).numpy()
        T = keep.shape[1]
        for k, v in (("z", out["z"].float().numpy()), ("mu", out["mu"].float().numpy()), ("beta", out["beta"].float().numpy()), ("subgoal", sg), ("target", b["target"].numpy()),
                     ("pos", b["pos"].numpy()), ("action", b["action"].numpy()), ("prev", prev),
                     ("colors", np.repeat(b["colors"].numpy()[:, None], T, 1)), ("episode", np.repeat(eps[:, None], T, 1))):
            cols_[k].append(v[keep])
A = {k: np.concatenate(v) for k, v in cols_.items()}
z = torch.from_numpy(A["z"])
train = A["episode"] % 2 == 0  # probes fit on even episodes, scored on odd ones


def probe(y: np.ndarray, rows: np.ndarray) -> dict[str, float]:
    y = torch.from_numpy(y[rows].astype(np.int64)); x = z[rows]; tr = torch.from_numpy(train[rows])
    k = int(y.max()) + 1
    x = (x - x[tr].mean(0)) / (x[tr].std(0) + 1e-6)
    x = torch.cat([x, torch.ones(len(x), 1)], 1)
    w = torch.zeros(x.shape[1], k, requires_grad=True)
    opt = torch.optim.LBFGS([w], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x[tr] @ w, y[tr]) + 1e-4 * (w ** 2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        acc = ((x[~tr] @ w).argmax(1) == y[~tr]).float().mean().item()
    majority = np.bincount(y[~tr].numpy(), minlength=k).max() / int((~tr).sum())
    return {"accuracy": round(acc, 3), "majority": round(float(majority), 3), "steps": int(len(y))}


every = np.ones(len(z), bool)
tc = np.take_along_axis(A["colors"], A["target"][:, None], 1)[:, 0]
direction = (np.sign(tc // size - A["pos"] // size) + 1) * 3 + np.sign(tc % size - A["pos"] % size) + 1
later = A["prev"] >= 0  # pairs after the first: two options each
branch = np.array([sorted(follow[p]).index(g) if p >= 0 else 0 for p, g in zip(A["prev"], A["subgoal"])])
other = np.array([(follow[p] - {g}).pop() if p >= 0 else 0 for p, g in zip(A["prev"], A["subgoal"])])


def dist(c: np.ndarray) -> np.ndarray:
    cell = np.take_along_axis(A["colors"], c[:, None], 1)[:, 0]
    return np.abs(cell // size - A["pos"] // size) + np.abs(cell % size - A["pos"] % size)


first_color = later & (A["target"] % 2 == 0)
nearer = dist(2 * A["subgoal"]) < dist(2 * other)
res = {"subgoal": probe(A["subgoal"], every), "target": probe(A["target"], every),
       "direction": probe(direction, every), "action": probe(A["action"], every),
       "branch (later pairs)": probe(branch, later),
       "option is the nearer (later pairs, first color)": probe(nearer.astype(int), first_color & (dist(2 * A["subgoal"]) != dist(2 * other)))}
g = A["subgoal"]
means = np.stack([A["z"][g == i].mean(0) for i in range(int(g.max()) + 1)])
res["subgoal_variance_share"] = round(float(((means[g] - A["z"].mean(0)) ** 2).sum(1).mean() / ((A["z"] - A["z"].mean(0)) ** 2).sum(1).mean()), 4)
res["z_std_per_dim"] = [round(float(v), 3) for v in A["z"].std(0)]
# the code set at each switch (β > 0.5, t = 0 included): its strongest dimension against the next
# target cell, in the layout's coordinates and relative to the agent
sw = A["beta"] > 0.5
top = int(np.argmax(A["z"].std(0)))
code = A["mu"][sw, top]
row, col = tc[sw] // size, tc[sw] % size
res["at_switches"] = {"steps": int(sw.sum()), "dimension": top, "code_mean": round(float(code.mean()), 3),
                      "code_std": round(float(code.std()), 3),
                      "corr_with": {name: round(float(np.corrcoef(code, v)[0, 1]), 3) for name, v in (
                          ("target_row", row), ("target_col", col), ("row_offset", row - A["pos"][sw] // size),
                          ("col_offset", col - A["pos"][sw] % size), ("subgoal", A["subgoal"][sw]))}}
print(json.dumps(res, indent=1))
