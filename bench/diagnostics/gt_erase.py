"""Ground-truth controllers that first erase what the residual says about the subgoal, then write:

    python bench/diagnostics/gt_erase.py LAYER STEPS LR [BASE_DIR] [ROUNDS]

ê = x_e + U_g x_e with x_e = x − Q Qᵀ (x − μ): Q spans the weight vectors of linear probes for the
subgoal (4 classes) and the target color (8), fitted on D* residuals at LAYER (μ their mean), refitted on the erased residual ROUNDS times (default 1;
iterative nullspace projection: each round removes what the last one left decodable). Still
one full-rank linear controller per subgoal (U'_g = U_g(I − QQᵀ) − QQᵀ plus a constant), fitted on
D* alone with the true subgoal; the fixed erasure only supplies what D* cannot teach — removing a
code that conflicts with the commanded subgoal, which never happens in D* but does at every switch
of the post task. Prints probe accuracy before/after erasure, the fit, and post-task / commanded
pretraining-task success (500 episodes each) with and without control, on the default 5×5 grid.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

from irl.data.dataset import load_dataset
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.probe import residuals
from irl.models.controllers import ControllerConfig, LinearControllers
from irl.models.io import load_model
from irl.training.batches import EpisodeBatches
from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers


def probe_weights(x: torch.Tensor, y: torch.Tensor, n: int, steps: int = 300) -> torch.Tensor:
    """(d, n) weights of a multinomial logistic regression on x (S, d), in x's own coordinates."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    w = torch.zeros(x.shape[1], n, requires_grad=True)
    b = torch.zeros(n, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")
    xs = (x - mu) / sd

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(xs @ w + b, y) + 1e-4 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (w / sd[:, None]).detach()


def accuracy(x: torch.Tensor, y: torch.Tensor, n: int, split: int) -> float:
    w = probe_weights(x[:split], y[:split], n)
    mu = x[:split].mean(0)
    logits = (x[split:] - mu) @ w  # bias-free readout: held-out accuracy of the probe fitted on the first part
    return float((logits.argmax(-1) == y[split:]).float().mean())


class ErasingBase(torch.nn.Module):
    """The frozen base with the erasure applied under any edit at LAYER, so that
    irl.training.gt_controllers.train_controllers fits the controllers on the erased residual."""

    def __init__(self, base: torch.nn.Module, erase) -> None:
        super().__init__()
        self.base, self.erase = base, erase

    def action_nll(self, batch, edit_layer=None, edit=None):
        return self.base.action_nll(batch, edit_layer=edit_layer, edit=lambda x: edit(self.erase(x)))


class ErasingControllers(torch.nn.Module):
    def __init__(self, inner: LinearControllers, q: torch.Tensor, mu: torch.Tensor) -> None:
        super().__init__()
        self.inner, self.cfg = inner, inner.cfg
        self.register_buffer("q", q)
        self.register_buffer("mu", mu)

    def erase(self, x: torch.Tensor) -> torch.Tensor:
        return x - ((x - self.mu) @ self.q) @ self.q.T

    def edit(self, g: torch.Tensor):
        inner = self.inner.edit(g)
        return lambda x: inner(self.erase(x))


if __name__ == "__main__":
    torch.set_num_threads(1)
    layer, steps, lr = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    base, _ = load_model(sys.argv[4] if len(sys.argv) > 4 else "models/grid/base")
    env, post, pretrain = GridConfig(size=5, horizon=60), resolve_tasks("post"), resolve_tasks("pretrain")
    dstar = load_dataset("data/grid/D_star")
    batches = EpisodeBatches(dstar, 128, 0)
    eps = np.random.default_rng(0).permutation(dstar.num_episodes)[:3000]
    resid, sub = residuals(base, batches, eps)
    chunks = [batches.gather(eps[i:i + 256]) for i in range(0, len(eps), 256)]  # residuals()'s order
    tgt = torch.cat([c["target"][c["mask"]] for c in chunks])
    x = resid[layer]
    split = int(0.7 * x.shape[0])
    mu = x[:split].mean(0)
    q = torch.zeros(x.shape[1], 0)
    for _ in range(int(sys.argv[5]) if len(sys.argv) > 5 else 1):
        erased = x - ((x - mu) @ q) @ q.T
        w = torch.cat([q, probe_weights(erased[:split], sub[:split], 4), probe_weights(erased[:split], tgt[:split].long(), 8)], dim=1)
        q, _ = torch.linalg.qr(w)  # (d, 12 per round) orthonormal
    erased = x - ((x - mu) @ q) @ q.T
    print(f"layer {layer}, {q.shape[1]} directions erased: subgoal probe {accuracy(x, sub, 4, split):.3f} -> {accuracy(erased, sub, 4, split):.3f} erased; "
          f"target {accuracy(x, tgt.long(), 8, split):.3f} -> {accuracy(erased, tgt.long(), 8, split):.3f}", flush=True)
    ctrl = ErasingControllers(LinearControllers(ControllerConfig(4, base.cfg.d_model, None, layer)), q, mu)
    inner, fit = train_controllers(ErasingBase(base, ctrl.erase), dstar, ctrl.cfg,
                                   GTControllerConfig(steps=steps, lr=lr, batch_size=128, weight_decay=0.03))
    ctrl.inner = inner
    print(f"fit: D* NLL with erasure {fit['nll_before']:.3f} -> {fit['nll_after']:.3f}, {fit['train_s']:.0f} s", flush=True)
    print("ood", steered_success(base, ctrl, env, post, 500, 5000), "id", steered_success(base, ctrl, env, pretrain, 500, 6000), flush=True)
    print("uncontrolled ood", steered_success(base, None, env, post, 500, 5000), "id", steered_success(base, None, env, pretrain, 500, 6000))
