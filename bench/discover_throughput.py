"""Discovery throughput: seconds per metacontroller update through the frozen base, the pipeline's
edit (from the codes, `apply_codes`) vs forming each step's controllers A, B (`apply_edit`).

Trains a fresh metacontroller on the committed base (models/grid/base) and D* (data/grid/D_star)
with the active profile's `discover_grid` batch size, switch noise and switch cost on, one thread
by default (a candidate's share of `make run`). Prints one JSON line. Run after `dvc repro`.

    python bench/discover_throughput.py [--steps 20] [--threads 1] [--profile default]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from irl.config import load_profile
from irl.data.dataset import load_dataset
from irl.models.io import load_model
from irl.models.metacontroller import Metacontroller, sequence_edit
from irl.training.batches import EpisodeBatches
from irl.training.discover import DiscoverConfig, metacontroller_config, split_episodes, switch_rate


def controllers_edit(mc: Metacontroller, mask: torch.Tensor, held: dict, **kw):
    """The edit as it was before `apply_codes`: decode A, B (B, T, d, r) and apply them."""
    def edit(x: torch.Tensor) -> torch.Tensor:
        held.update(mc(x, mask, controllers=True, **kw))
        return mc.apply_edit(x, held["A"], held["B"])
    return edit


def seconds_per_step(base, data, cfg: DiscoverConfig, make_edit, steps: int, warmup: int = 3) -> float:
    torch.manual_seed(0)
    mc = Metacontroller(metacontroller_config(base, cfg))
    opt = torch.optim.AdamW(mc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train, _ = split_episodes(data, cfg.heldout_episodes, cfg.seed)
    batches = EpisodeBatches(data, cfg.batch_size, cfg.seed, "cpu", episodes=train)
    gen = torch.Generator().manual_seed(0)
    t0 = 0.0
    for i in range(warmup + steps):
        if i == warmup:
            t0 = time.perf_counter()
        batch, held = batches.batch(0, i), {}
        edit = make_edit(mc, batch["mask"], held, sample=True, generator=gen, switch_noise=True)
        nll = base.action_nll(batch, edit_layer=mc.cfg.layer, edit=edit)
        loss = nll + cfg.alpha * mc.rate(held, batch["mask"]) + cfg.switch_cost * switch_rate(held["beta"], batch["mask"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, sections = load_profile("params.yaml", args.profile)
    cfg = DiscoverConfig(**{**sections["discover_grid"], "device": "cpu"})
    base, _ = load_model("models/grid/base")
    for p in base.parameters():
        p.requires_grad_(False)
    data = load_dataset("data/grid/D_star")
    codes = seconds_per_step(base, data, cfg, sequence_edit, args.steps)
    decoded = seconds_per_step(base, data, cfg, controllers_edit, args.steps)
    print(json.dumps({"threads": args.threads, "batch_size": cfg.batch_size, "steps": args.steps,
                      "s_per_step_codes": round(codes, 4), "s_per_step_controllers": round(decoded, 4),
                      "speedup": round(decoded / codes, 2),
                      "discover_train_min_at_codes": round(cfg.steps * codes / 60, 1)}))


if __name__ == "__main__":
    main()
