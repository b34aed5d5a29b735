"""Discovery run outside the pipeline: `python bench/diagnostics/discover_long.py STEPS ALPHA`
(held-out switch alignment and three β traces as JSON; one thread).
"""
import sys, time, torch, json
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.training.discover import DiscoverConfig, discover
torch.set_num_threads(1)
base, _ = load_model("models/grid/base"); data = load_dataset("data/grid/D_star")
steps, alpha = int(sys.argv[1]), float(sys.argv[2])
t = time.time()
mc, _, res = discover(base, data, DiscoverConfig(steps=steps, alpha=alpha, batch_size=128, device="cpu"), log=lambda s, m: print(s, {k: round(v, 3) for k, v in m.items()}, flush=True) if s % 500 == 0 else None)
print({k: v for k, v in res.items() if k != "traces"}, time.time() - t)
print(json.dumps(res["traces"][:3]))
