"""The default discover_grid run with the metacontroller at another layer of the base (the stage
uses L/2; the ground-truth controllers steer best at layer 1): trains from scratch for STEPS steps
(default config otherwise — the stage's switch-noise curriculum included when STEPS passes it —
or changed by KEY=VALUE DiscoverConfig fields) in a temporary workdir, scores it on the stage's held-out episodes and saves it there as `model` for
the code diagnostics (code_content.py, steer_same_layout.py, oracle_code_sequence.py).

    python bench/diagnostics/discover_layer.py 1 6000
    python bench/diagnostics/discover_layer.py 2 4000 switch_noise_from=3000
"""
import json, sys, tempfile, time
from dataclasses import replace
from pathlib import Path
import torch
import yaml
import irl.training.discover as D
from irl.data.dataset import load_dataset
from irl.models.io import load_model, save_model

torch.set_num_threads(1)
layer, steps = int(sys.argv[1]), int(sys.argv[2])
overrides = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
stage_config = D.metacontroller_config
D.metacontroller_config = lambda base, cfg: replace(stage_config(base, cfg), layer=layer)
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
cfg = D.DiscoverConfig(**{**sec, **overrides, "steps": steps, "device": "cpu"})
base, _ = load_model("models/grid/base")
data = load_dataset("data/grid/D_star")
work = Path(tempfile.gettempdir()) / "_".join([f"irl-discover-layer-{layer}"] + [f"{k}-{v}" for k, v in sorted(overrides.items())])
t = time.time()


def log(step, m):
    if step % 500 == 0:
        print(time.strftime("%H:%M:%S"), step, {k: round(v, 4) for k, v in m.items()}, flush=True)


mc, _, res = D.discover(base, data, cfg, work, log=log)
assert mc.cfg.layer == layer
save_model(work / "model", mc)
print("metacontroller (layer", layer, ") saved to", work / "model")
print(json.dumps({k: res[k] for k in ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                                       "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl", "steps")}),
      round(time.time() - t), "s")
