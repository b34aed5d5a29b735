"""Continue the default discover_grid run (its 6000-step checkpoint) to STEPS steps and score it.

The checkpoint is copied under the fingerprint the current code gives the same run (a DiscoverConfig
field added since did not change the training, tested bit-identical), into a temporary workdir.

    python bench/diagnostics/discover_longer.py 12000
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.models.metacontroller import MetacontrollerConfig
from irl.training.discover import DiscoverConfig, discover, _fingerprint
torch.set_num_threads(1)
steps = int(sys.argv[1])
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
cfg = DiscoverConfig(**{**sec, "steps": steps, "device": "cpu"})
base, _ = load_model("models/grid/base")
data = load_dataset("data/grid/D_star")
mcfg = MetacontrollerConfig(d_model=base.cfg.d_model, layer=base.cfg.mid_layer, switch=cfg.switch, rank=cfg.controller_rank(base.cfg.d_model))
fp = _fingerprint(base, mcfg, cfg, data)
work = Path(tempfile.gettempdir()) / "irl-discover-longer"
dst = work / f"checkpoint-{fp}"
if not dst.exists():
    shutil.copytree("checkpoints/grid/metacontroller/checkpoint-11cbd4c6d0b99a5d", dst)
print("resuming from", json.load(open(dst / "state.json"))["step"], flush=True)
t = time.time()
def log(step, m):
    if step % 500 == 0:
        print(time.strftime("%H:%M:%S"), step, {k: round(v, 4) for k, v in m.items()}, flush=True)
mc, _, res = discover(base, data, cfg, work, log=log)
print(json.dumps({k: res[k] for k in ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                                       "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl", "steps")}), time.time() - t)
