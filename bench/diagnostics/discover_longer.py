"""Continue the default discover_grid run's noise-free phase (its checkpoint: step 6000 in session
15, before the default curriculum went to 3000 + 2000) to STEPS steps, with changed options (KEY=VALUE, DiscoverConfig
fields, e.g. switch_noise=1.0 — what the stage's curriculum does — or alpha=0.03), and score it on
the stage's held-out episodes.

That checkpoint is copied under the fingerprint of the changed config into a temporary workdir,
so the stage's own is untouched; the
result is saved there as `model` (safetensors + JSON) for the code diagnostics (code_content.py,
steer_same_layout.py, oracle_code_sequence.py).

    python bench/diagnostics/discover_longer.py 12000
    python bench/diagnostics/discover_longer.py 8000 switch_noise=1.0 switch_noise_from=6000
    python bench/diagnostics/discover_longer.py 8000 alpha=0.03
"""
import json, shutil, sys, tempfile, time
from pathlib import Path
import torch
import yaml
from irl.data.dataset import load_dataset
from irl.models.io import load_model, save_model
from irl.training.discover import DiscoverConfig, _fingerprint, discover, effective_config, metacontroller_config

torch.set_num_threads(1)
steps = int(sys.argv[1])
overrides = {}
for arg in sys.argv[2:]:
    key, value = arg.split("=", 1)
    overrides[key] = yaml.safe_load(value)
sec = yaml.safe_load(open("params.yaml"))["profiles"]["default"]["discover_grid"]
stage = DiscoverConfig(**{**sec, "device": "cpu", "switch_noise": 0.0, "switch_noise_from": 0})  # the first phase
cfg = effective_config(DiscoverConfig(**{**sec, "switch_noise": 0.0, "switch_noise_from": 0, **overrides,
                                         "steps": steps, "device": "cpu"}))
base, _ = load_model("models/grid/base")
data = load_dataset("data/grid/D_star")
src = Path("checkpoints/grid/metacontroller") / f"checkpoint-{_fingerprint(base, metacontroller_config(base, stage), stage, data)}"
tag = "_".join(f"{k}-{v}" for k, v in sorted(overrides.items())) or "same"
work = Path(tempfile.gettempdir()) / f"irl-discover-longer-{tag}"
dst = work / f"checkpoint-{_fingerprint(base, metacontroller_config(base, cfg), cfg, data)}"
if not dst.exists():
    if not src.is_dir():
        sys.exit(f"no stage checkpoint at {src}: run `dvc repro discover_grid` first")
    shutil.copytree(src, dst)
print("resuming from", json.load(open(dst / "state.json"))["step"], "with", overrides, flush=True)
t = time.time()


def log(step, m):
    if step % 500 == 0:
        print(time.strftime("%H:%M:%S"), step, {k: round(v, 4) for k, v in m.items()}, flush=True)


mc, _, res = discover(base, data, cfg, work, log=log)
save_model(work / "model", mc)
print("metacontroller saved to", work / "model")
print(json.dumps({k: res[k] for k in ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                                       "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl", "steps")}),
      round(time.time() - t), "s")
