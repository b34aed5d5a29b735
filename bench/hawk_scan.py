"""RG-LRU scan speed: the Hawk's chunked scan vs the pairwise (t, k) form it replaced, in one run.

    python bench/hawk_scan.py [BATCH] [WIDTH]

Prints, for T = 250 and 500 steps (the ant's episode lengths), the best of 5 forward + backward
times of both forms on this machine's threads and the largest difference of their outputs.
"""
import sys
import time

import torch

from irl.models.hawk import RGLRU


def pairwise_scan(lru: RGLRU, x: torch.Tensor, chunk: int = 16) -> torch.Tensor:
    """The earlier form: within a chunk, h_t = e^{cum_t} h_start + Σ_k e^{cum_t − cum_k} b_k."""
    log_a, b = lru.coefficients(x)
    h = torch.zeros_like(x[:, 0])
    out = []
    for s in range(0, x.shape[1], chunk):
        la, bb = log_a[:, s : s + chunk], b[:, s : s + chunk]
        cum = torch.cumsum(la, dim=1)
        diff = cum[:, :, None] - cum[:, None, :]
        mask = torch.ones(la.shape[1], la.shape[1], dtype=torch.bool).tril()[None, :, :, None]
        weights = torch.where(mask, torch.exp(diff.clamp(max=0)), torch.zeros(()))
        hs = torch.exp(cum) * h[:, None] + torch.einsum("btkw,bkw->btw", weights, bb)
        out.append(hs)
        h = hs[:, -1]
    return torch.cat(out, dim=1)


def best_time(fn, x: torch.Tensor) -> float:
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn(x).sum().backward()
        times.append(time.perf_counter() - t0)
    return min(times)


if __name__ == "__main__":
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 32
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    torch.manual_seed(0)
    lru = RGLRU(width, 4)
    for steps in (250, 500):
        x = torch.randn(batch, steps, width, requires_grad=True)
        chunked = best_time(lambda v: lru.scan(v, None, 16)[0], x)
        pairwise = best_time(lambda v: pairwise_scan(lru, v), x)
        with torch.no_grad():
            diff = float((lru.scan(x, None, 16)[0] - pairwise_scan(lru, x)).abs().max())
        print(f"T={steps} B={batch} width={width}  chunked {chunked * 1e3:.1f} ms  pairwise {pairwise * 1e3:.1f} ms"
              f"  ({pairwise / chunked:.1f}x)  max |diff| {diff:.1e}  [threads {torch.get_num_threads()}]")
