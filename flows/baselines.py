"""Flows `baselines_grid` and `baselines_ant`: the methods the paper reports failing on the
post-training task, at internal RL's episode budget and seeds (DVC stages).

- raw_action: PPO-clip without a critic on the base model's action tokens (all weights trained);
- beta_always: a metacontroller trained with β ≡ 1 (a fresh code every step), then internal RL;
- co_trained: a metacontroller co-trained with the base model, then internal RL on both;
- compile: CompILE's segment codes (with a causal switch fitted to its boundaries), then internal RL;
- random_base_success (grid): the untouched base model sampling actions, on ≥ 10⁵ episodes.
The ant runs raw_action (PPO on the Hawk's torques) and beta_always (`baselines_ant.methods`).
Every (method, seed) run is a Prefect task; the figure shows every method's curve beside internal RL's.

    python -m flows.baselines [--env grid|ant] [--profile smoke|default|paper]
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
from pathlib import Path
from typing import Any

import torch
from prefect import flow, get_run_logger, task
from prefect.task_runners import ThreadPoolTaskRunner

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from flows.internal_rl import post_tasks
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.rl_plots import learning_curves_png
from irl.io import atomic_write_json
from irl.models.io import load_model, save_model
from irl.rl.curves import band, smoothed_first
from irl.rl.internal_rl import InternalRLConfig, train_internal_rl
from irl.rl.raw_rl import BaselinesConfig, RawRLConfig, random_base_success, train_raw_rl
from irl.training.compile import train_compile
from irl.training.discover import DiscoverConfig, discover
from irl.training.pretrain import resolve_device


@task(name="baseline-metacontroller", task_run_name="metacontroller-{method}")
def train_variant(method: str, stage: str, model_dir: Path, data_dir: Path, cfg: DiscoverConfig, out: Path) -> dict[str, float]:
    """The β ≡ 1, co-trained or CompILE controller (and the base it runs on) saved under `out`."""
    base, _ = load_model(model_dir, resolve_device(cfg.device))
    data = load_dataset(data_dir / "D_star")
    if method == "compile":
        mc, res = train_compile(base, data, cfg, workdir=out / "checkpoints")
    else:
        variant = dataclasses.replace(cfg, switch="always") if method == "beta_always" else dataclasses.replace(cfg, co_train=True)
        mc, base, res = discover(base, data, variant, out / "checkpoints")
    save_model(out / "metacontroller", mc, {"stage": stage, "method": method})
    save_model(out / "base", base, {"stage": stage, "method": method})
    return {k: res[k] for k in ("nll", "boundary_f1", "switches_per_episode") if k in res}


@task(name="baseline-seed", task_run_name="{method}-seed-{seed}")
def run_seed(method: str, seed: int, model_dir: Path, variant_dir: Path, env: GridConfig | AntConfig, rl: InternalRLConfig,
             raw_lr: float) -> dict[str, Any]:
    device = resolve_device(rl.device)
    post = post_tasks(env)
    if method == "raw_action":
        base, _ = load_model(model_dir, device)
        raw = RawRLConfig(episodes=rl.episodes, batch_episodes=rl.batch_episodes, lr=raw_lr, update_epochs=rl.update_epochs,
                          clip=rl.clip, eval_episodes=rl.eval_episodes, seed=seed)
        _, res = train_raw_rl(base, env, post, raw)
    else:
        base, _ = load_model(variant_dir / method / "base", device)
        mc, _ = load_model(variant_dir / method / "metacontroller", device)
        _, res = train_internal_rl(base, mc, env, post, dataclasses.replace(rl, seed=seed), device)
    get_run_logger().info("%s seed %d: final_success %.3f", method, seed, res["final_success"])
    return {"method": method, "seed": seed, **res}


def baselines_stage(env_kind: str, env_cls: type[GridConfig] | type[AntConfig], env_name: str, profile: str | None,
                    params_path: str, seeds: list[int] | None, episodes: int | None, methods: list[str] | None,
                    model_dir: str, data_dir: str, variant_dir: str, internal_curve: str, metrics_path: str,
                    curve_path: str, png: str) -> dict[str, Any]:
    """Every baseline of `baselines_<env>` for every seed at `internal_rl_<env>`'s budget; one figure
    with all methods and internal RL. The grid also measures the untouched base model's success."""
    stage, rl_section, disc_section = f"baselines_{env_kind}", f"internal_rl_{env_kind}", f"discover_{env_kind}"
    name, sections = profile_sections(params_path, profile, {rl_section: {"seeds": seeds, "episodes": episodes},
                                                            stage: {"methods": methods}})
    env = stage_config(env_cls, sections, f"{env_kind}_env", params_path, name)
    rl = stage_config(InternalRLConfig, sections, rl_section, params_path, name)
    disc = stage_config(DiscoverConfig, sections, disc_section, params_path, name)
    cfg = stage_config(BaselinesConfig, sections, stage, params_path, name)
    disc = dataclasses.replace(disc, steps=cfg.discover_steps)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // rl.workers))
    variants = [m for m in cfg.methods if m != "raw_action"]
    with ThreadPoolTaskRunner(max_workers=rl.workers) as runner:
        fits = {m: runner.submit(train_variant, {"method": m, "stage": stage, "model_dir": Path(model_dir),
                                                 "data_dir": Path(data_dir), "cfg": disc, "out": Path(variant_dir) / m})
                for m in variants}
        variant_fit = {m: f.result() for m, f in fits.items()}
        futures = [runner.submit(run_seed, {"method": m, "seed": s, "model_dir": Path(model_dir), "variant_dir": Path(variant_dir),
                                            "env": env, "rl": rl, "raw_lr": cfg.raw_lr}) for m in cfg.methods for s in rl.seeds]
        runs = [f.result() for f in futures]
    random: dict[str, Any] = {}
    if isinstance(env, GridConfig):
        base, _ = load_model(model_dir, resolve_device(rl.device))
        random = random_base_success(base, env, resolve_tasks("post", "grid", env.n_colors), cfg.random_episodes, seed=rl.seeds[0])
    methods_out: dict[str, Any] = {}
    curves: dict[str, list[dict[str, float]]] = {}
    for m in cfg.methods:
        mine = [r for r in runs if r["method"] == m]
        curves[m] = band([r["curve"] for r in mine])
        methods_out[m] = {"final_success": float(statistics.median(r["final_success"] for r in mine)),
                          "final_success_by_seed": [r["final_success"] for r in mine],
                          "episodes_to_50_by_seed": [smoothed_first(r["curve"], 0.5) for r in mine],
                          "episodes_per_s": float(statistics.median(r["episodes_per_s"] for r in mine)),
                          "wall_s": max(r["wall_s"] for r in mine), **({"metacontroller": variant_fit[m]} if m in variant_fit else {})}
    metrics = {"profile": name, "env": {"name": env_name, **env.to_dict()}, "episode_budget": rl.episodes,
               "seeds": list(rl.seeds), "methods": methods_out, **random}
    atomic_write_json(metrics_path, metrics)
    atomic_write_json(curve_path, curves)
    everything = {"internal RL": json.loads(Path(internal_curve).read_text())} if Path(internal_curve).is_file() else {}
    everything.update({m.replace("_", " "): c for m, c in curves.items()})
    learning_curves_png(everything, png, f"post-training task, {rl.episodes:,} episodes per run ({name})")
    params = {"profile": name, stage: sections[stage], rl_section: sections[rl_section]}
    with tracking.stage_run(stage, params, tags=flow_run_tags(name)) as run:
        log_flat_metrics({**{f"{m}/final_success": v["final_success"] for m, v in methods_out.items() if "final_success" in v}, **random})
        tracking.mlflow.log_artifact(png)
        tracking.mlflow.log_dict(curves, "curves.json")
        url = tracking.run_url(run)
    rows = "\n".join(f"| {m} | {v['final_success']:.3f} | {v['final_success_by_seed']} |" for m, v in methods_out.items() if "final_success" in v)
    tail = (f"\n\nUntouched base model: {random['random_base_wins']} successes in {random['random_base_episodes']:,} episodes."
            if random else "")
    publish_markdown(stage.replace("_", "-"), f"{stage} ({name})",
                     f"| method | final success (median) | by seed |\n|---|---|---|\n{rows}{tail}", url)
    return metrics


@flow(name="baselines_grid", log_prints=True)
def baselines_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                        seeds: list[int] | None = None, episodes: int | None = None,
                        methods: list[str] | None = None,
                        model_dir: str = "models/grid/base", data_dir: str = "data/grid",
                        variant_dir: str = "checkpoints/grid/baselines",
                        internal_curve: str = "metrics/grid/internal_rl_curve.json",
                        metrics_path: str = "metrics/grid/baselines.json",
                        curve_path: str = "metrics/grid/baselines_curves.json",
                        png: str = "plots/grid/rl_methods.png") -> dict[str, Any]:
    """Run every baseline for every seed; one figure with all methods and internal RL."""
    return baselines_stage("grid", GridConfig, "grid-pinpad", profile, params_path, seeds, episodes, methods, model_dir,
                           data_dir, variant_dir, internal_curve, metrics_path, curve_path, png)


@flow(name="baselines_ant", log_prints=True)
def baselines_ant_flow(profile: str | None = None, params_path: str = "params.yaml",
                       seeds: list[int] | None = None, episodes: int | None = None,
                       methods: list[str] | None = None,
                       model_dir: str = "models/ant/base", data_dir: str = "data/ant",
                       variant_dir: str = "checkpoints/ant/baselines",
                       internal_curve: str = "metrics/ant/internal_rl_curve.json",
                       metrics_path: str = "metrics/ant/baselines.json",
                       curve_path: str = "metrics/ant/baselines_curves.json",
                       png: str = "plots/ant/rl_methods.png") -> dict[str, Any]:
    """The ant's baselines (raw-action RL on torques, β ≡ 1) at internal RL's budget."""
    return baselines_stage("ant", AntConfig, "ant-pinpad", profile, params_path, seeds, episodes, methods, model_dir,
                           data_dir, variant_dir, internal_curve, metrics_path, curve_path, png)


if __name__ == "__main__":
    run_profile_flow({"grid": baselines_grid_flow, "ant": baselines_ant_flow}, __doc__)
