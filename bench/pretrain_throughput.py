"""Pretraining throughput: the pipeline's training step vs a plain fp32 eager loop at batch 64.

Both train the same model (the active profile's `model_grid`, or --d-model/--layers) on D and
count real (unpadded) step tokens per second:
  pipeline  length-bucketed batches of `pretrain_grid.batch_size` (irl.training), as `make run`
  plain     uniformly random episodes, batch 64, padded to the longest in the batch
Prints one JSON line. Run after the collect stage (needs data/grid/D).

    python bench/pretrain_throughput.py [--steps 30] [--profile default] [--d-model 128]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from irl.config import load_profile
from irl.data.dataset import load_dataset
from irl.models.transformer import PinpadTransformer, TransformerConfig
from irl.training.batches import EpisodeBatches
from irl.training.pretrain import sequence_losses


def measure(model: PinpadTransformer, batches: list[dict[str, torch.Tensor]], warmup: int = 3) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.03)
    tokens, t0 = 0, 0.0
    for i, batch in enumerate(batches):
        if i == warmup:
            tokens, t0 = 0, time.perf_counter()
        action_nll, next_nll = sequence_losses(model, batch)
        loss = action_nll + 0.1 * next_nll
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += int(batch["mask"].sum())
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--d-model", type=int, default=None, help="override the profile's width (MLP = 4×)")
    args = parser.parse_args()
    _, sections = load_profile("params.yaml", args.profile)
    env = sections["grid_env"]
    model = dict(sections["model_grid"])
    if args.d_model:
        model.update(d_model=args.d_model, d_mlp=4 * args.d_model)
    cfg = TransformerConfig(**model, grid_size=env["size"], n_colors=env["n_colors"], n_walls=env["n_walls"])
    batch_size = sections["pretrain_grid"]["batch_size"]
    data = load_dataset("data/grid/D")
    torch.manual_seed(0)
    pipeline = EpisodeBatches(data, batch_size, seed=0)
    order = pipeline.order(0)
    pipe_batches = [pipeline.gather(order[i]) for i in range(args.steps)]
    plain = EpisodeBatches(data, 64, seed=0)
    rng = np.random.default_rng(0)
    plain_batches = [plain.gather(rng.integers(0, data.num_episodes, 64)) for _ in range(args.steps)]
    pipe_tps = measure(PinpadTransformer(cfg), pipe_batches)
    plain_tps = measure(PinpadTransformer(cfg), plain_batches)
    pad = lambda bs: float(np.mean([b["mask"].float().mean() for b in bs]))  # noqa: E731
    print(json.dumps({
        "model": {k: cfg.to_dict()[k] for k in ("obs_encoding", "n_layers", "d_model", "d_mlp")},
        "threads": torch.get_num_threads(),
        "pipeline_batch": batch_size, "pipeline_tokens_per_s": round(pipe_tps), "pipeline_real_token_fraction": round(pad(pipe_batches), 3),
        "plain_batch": 64, "plain_tokens_per_s": round(plain_tps), "plain_real_token_fraction": round(pad(plain_batches), 3),
        "speedup": round(pipe_tps / plain_tps, 2),
    }))


if __name__ == "__main__":
    main()
