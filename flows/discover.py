"""Flows `discover_grid` and `discover_ant`: the metacontroller on D*, base frozen (DVC stages).

With `candidates` > 1 (the grid's default profile), several seeds first train to `select_at` steps
as parallel tasks and the one whose codes pay earliest after their own switch goes on — a
label-free choice among segmentations the training loss scores alike (irl/training/select.py).
Trains (or resumes, from checkpoints/<env>/metacontroller) the metacontroller, scores its switch
β against the true subgoal boundaries on held-out D* episodes, draws β traces, and registers
`irl-<env>-metacontroller`. The grid also runs the steering check (inject the code of subgoal g
into fresh rollouts). The ant's controllers are full rank (`rank: full`), its subgoals single colors.

    python -m flows.discover [--env grid|ant] [--profile smoke|default|paper]
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import mlflow
import torch
from prefect import flow, get_run_logger, task
from prefect.task_runners import ProcessPoolTaskRunner

from flows.cli import run_profile_flow
from flows.common import api_for_subprocesses, flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.plots import beta_traces_png
from irl.eval.steering import codes_by_subgoal, steering_check
from irl.io import atomic_write_json
from irl.models.io import load_model, save_model
from irl.training.batches import EpisodeBatches
from irl.training.discover import DiscoverConfig, discover, split_episodes
from irl.training.pretrain import resolve_device
from irl.training.select import candidate_seeds, score_candidate, select_seed

MODEL_NAME = "irl-grid-metacontroller"
ANT_MODEL_NAME = "irl-ant-metacontroller"
ALIGNMENT_KEYS = ("boundary_f1", "boundary_precision", "boundary_recall", "switches_per_episode",
                  "true_subgoals_per_episode", "beta_nonbinary_fraction", "nll", "kl")


@task(name="discover-candidate", task_run_name="discover-candidate-seed-{seed}")
def candidate_task(model_dir: Path, data_dir: Path, cfg: DiscoverConfig, seed: int, workdir: Path,
                   threads: int) -> dict[str, Any]:
    """One candidate seed, trained to the selection step and scored without labels."""
    torch.set_num_threads(threads)
    base, _ = load_model(model_dir, resolve_device(cfg.device))
    score = score_candidate(base, load_dataset(data_dir / "D_star"), replace(cfg, seed=seed), workdir)
    get_run_logger().info("candidate %s", score)
    return score


def select_candidate(model_dir: Path, data_dir: Path, cfg: DiscoverConfig, workdir: Path) -> tuple[DiscoverConfig, dict[str, Any] | None]:
    """With `candidates` > 1: train the candidate seeds as parallel tasks, keep the one whose codes
    pay earliest; its config (seed) and the scores. Processes, the cores split between them: the
    metacontroller's step loop is Python, and two runs as threads of one process share its GIL
    (0.245 s a step each against 0.165 s as processes, on this machine's two cores)."""
    if cfg.candidates == 1:
        return cfg, None
    t0 = time.perf_counter()
    workers = min(cfg.candidates, os.cpu_count() or 1)
    threads = max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // workers))
    with api_for_subprocesses(), ProcessPoolTaskRunner(max_workers=workers) as runner:
        futures = [runner.submit(candidate_task, {"model_dir": model_dir, "data_dir": data_dir, "cfg": cfg, "seed": s,
                                                  "workdir": workdir, "threads": threads}) for s in candidate_seeds(cfg)]
        scores = [f.result() for f in futures]
    seed = select_seed(scores)
    get_run_logger().info("selected seed %d of %s", seed, [(c["seed"], round(c["early_saving"], 4)) for c in scores])
    return replace(cfg, seed=seed), {"selected_seed": seed, "select_at": cfg.selection_step(), "candidates": scores,
                                     "wall_s": time.perf_counter() - t0}


@task(name="discover-metacontroller")
def discover_task(stage: str, model_name: str, model_dir: Path, data_dir: Path, env: GridConfig | AntConfig,
                  cfg: DiscoverConfig, workdir: Path, out_dir: Path, png: Path, profile: str,
                  params: dict[str, Any], selection: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train and score the metacontroller; in the grid, also the steering check (ant: not built)."""
    logger = get_run_logger()
    t0 = time.perf_counter()
    base, _ = load_model(model_dir, resolve_device(cfg.device))
    data = load_dataset(data_dir / "D_star")
    with tracking.stage_run(stage, params, tags=flow_run_tags(profile)) as run:
        if selection is not None:
            mlflow.log_dict(selection, "selection.json")
            log_flat_metrics({"selection/selected_seed": selection["selected_seed"],
                              **{f"selection/early_saving_seed_{c['seed']}": c["early_saving"] for c in selection["candidates"]}})
        mc, base, res = discover(base, data, cfg, workdir, log=lambda step, m: log_flat_metrics(m, step=step), progress=True)
        logger.info("held-out switch alignment: %s", {k: res[k] for k in ALIGNMENT_KEYS})
        meta: dict[str, Any] = {}
        steer = None
        grid = isinstance(env, GridConfig)
        _, held = split_episodes(data, cfg.heldout_episodes, cfg.seed)
        n_sub = (4 if env.n_colors == 8 else env.n_colors) if grid else env.n_colors  # pairs, or single colors
        batches = EpisodeBatches(data, 256, cfg.seed, next(base.parameters()).device)
        try:  # the mean code per subgoal: internal RL's oracle and, in the grid, the steering check
            codes = codes_by_subgoal(base, mc, batches, held, n_sub)
        except ValueError as err:
            if grid:
                raise
            logger.warning("%s: no oracle codes stored", err)
            codes = None
        meta["codes_by_subgoal"] = None if codes is None else codes.tolist()
        if grid:
            steer = steering_check(base, mc, codes, env, resolve_tasks("pretrain", "grid", env.n_colors),
                                   cfg.steering_episodes, seed=cfg.seed + 7000)
            logger.info("steering: %s", steer)
            log_flat_metrics({"steering/reach_rate_steered": steer["reach_rate_steered"],
                              "steering/reach_rate_base": steer["reach_rate_base"]})
        res["wall_s"] = time.perf_counter() - t0 + (selection["wall_s"] if selection else 0.0)
        beta_traces_png(res["traces"], png, f"switch β on held-out D* episodes ({profile})")
        mlflow.log_artifact(str(png))
        mlflow.log_dict(res["traces"], "beta_traces.json")
        log_flat_metrics({**{k: res[k] for k in ALIGNMENT_KEYS}, "wall_s": res["wall_s"]})
        save_model(out_dir, mc, {"stage": stage, "profile": profile, "mlflow_run_id": run.info.run_id,
                                 "git_commit": tracking.git_commit(), "params": params,
                                 "base_model": str(model_dir), "seed": cfg.seed, "selection": selection, **meta})
        res["registered_version"] = tracking.register_model_dir(run, out_dir, model_name)
        res["run_url"] = tracking.run_url(run)
    return {"discover": res, "steering": steer}


def discover_stage(stage: str, env_section: str, env_cls: type[GridConfig] | type[AntConfig], env_name: str,
                   model_name: str, profile: str | None, params_path: str, alpha: float | None, steps: int | None,
                   model_dir: str, data_dir: str, out_dir: str, workdir: str, metrics_path: str,
                   steering_path: str | None, png: str) -> dict[str, Any]:
    """The discovery stage of either environment: train, score, write metrics, publish."""
    name, sections = profile_sections(params_path, profile, {stage: {"alpha": alpha, "steps": steps}})
    env = stage_config(env_cls, sections, env_section, params_path, name)
    cfg = stage_config(DiscoverConfig, sections, stage, params_path, name)
    params = {"profile": name, env_section: env.to_dict(), stage: sections[stage]}
    cfg, selection = select_candidate(Path(model_dir), Path(data_dir), cfg, Path(workdir))
    out = discover_task(stage, model_name, Path(model_dir), Path(data_dir), env, cfg, Path(workdir), Path(out_dir),
                        Path(png), name, params, selection)
    res, steer = out["discover"], out["steering"]
    resumed_from = res["resumed_from_step"]
    if selection is not None:  # the selected run's first steps were trained here, as a candidate
        resumed_from = next(c for c in selection["candidates"] if c["seed"] == cfg.seed)["resumed_from_step"]
    env_info = {"name": env_name, **env.to_dict()}
    metrics = {"profile": name, "env": env_info, **{k: res[k] for k in ALIGNMENT_KEYS},
               "heldout_episodes": res["episodes"], "alpha": cfg.alpha, "steps": res["steps"],
               # wall_s is this invocation's (the candidates' training included); a run that resumed a
               # checkpoint (resumed_from_step > 0) trained before it, for train_s in all
               "train_s": res["train_s"], "wall_s": res["wall_s"], "resumed_from_step": resumed_from,
               # the seed that trained it: with candidates > 1, the label-free choice among them
               "seed": cfg.seed, "selection": selection}
    atomic_write_json(metrics_path, metrics)
    body = "| held-out metric | value |\n|---|---|\n" + "\n".join(f"| {k} | {metrics[k]:.4g} |" for k in ALIGNMENT_KEYS)
    if steer is not None and steering_path is not None:
        atomic_write_json(steering_path, {"profile": name, "env": env_info, **steer})
        per = "\n".join(f"| {r['subgoal']} | {r['steered']:.3f} | {r['base']:.3f} |" for r in steer["by_subgoal"])
        body += (f"\n\nSteering (first pair completed = the injected code's subgoal, {steer['episodes_per_subgoal']} "
                 f"episodes each):\n\n| subgoal | steered | base |\n|---|---|---|\n{per}")
    publish_markdown(stage.replace("_", "-"), f"{stage} ({name})",
                     f"{body}\n\nRegistered `{model_name}` v{res['registered_version']}.", res["run_url"])
    return metrics


@flow(name="discover_grid", log_prints=True)
def discover_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                       alpha: float | None = None, steps: int | None = None,
                       model_dir: str = "models/grid/base", data_dir: str = "data/grid",
                       out_dir: str = "models/grid/metacontroller", workdir: str = "checkpoints/grid/metacontroller",
                       metrics_path: str = "metrics/grid/discover.json",
                       steering_path: str = "metrics/grid/steering.json",
                       png: str = "plots/grid/beta_traces.png") -> dict[str, Any]:
    """Discover controllers, score the switch, check steering, register the metacontroller."""
    return discover_stage("discover_grid", "grid_env", GridConfig, "grid-pinpad", MODEL_NAME, profile, params_path,
                          alpha, steps, model_dir, data_dir, out_dir, workdir, metrics_path, steering_path, png)


@flow(name="discover_ant", log_prints=True)
def discover_ant_flow(profile: str | None = None, params_path: str = "params.yaml",
                      alpha: float | None = None, steps: int | None = None,
                      model_dir: str = "models/ant/base", data_dir: str = "data/ant",
                      out_dir: str = "models/ant/metacontroller", workdir: str = "checkpoints/ant/metacontroller",
                      metrics_path: str = "metrics/ant/discover.json",
                      png: str = "plots/ant/beta_traces.png") -> dict[str, Any]:
    """The ant's metacontroller (full-rank controllers on the Hawk), scored against target-color switches."""
    return discover_stage("discover_ant", "ant_env", AntConfig, "ant-pinpad", ANT_MODEL_NAME, profile, params_path,
                          alpha, steps, model_dir, data_dir, out_dir, workdir, metrics_path, None, png)


if __name__ == "__main__":
    run_profile_flow({"grid": discover_grid_flow, "ant": discover_ant_flow}, __doc__)
