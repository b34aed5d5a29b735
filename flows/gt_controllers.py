"""Flows `gt_controllers_grid` / `gt_controllers_ant`: ground-truth controllers and the layer sweep.

For each controlled layer and rank: train one controller per subgoal on D* (base frozen, true
subgoal picks the controller), then steer the base model through the post-training task (grid
0-1-2-3-4-5-6-7-0-1-2-3, ant 0-1-2-3) with the true subgoal switching controllers, against the
uncontrolled model on the same layouts. Also reported: success on the pretraining tasks when
commanded the same way (in distribution). The best set is saved to models/<env>/gt_controllers.
The ant's controllers are full rank (the paper), the same code over the Hawk's residual stream.

    python -m flows.gt_controllers [--env grid|ant] [--profile smoke|default|paper]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.data.dataset import load_dataset
from irl.envs.ant import AntConfig
from irl.envs.grid import GridConfig
from irl.envs.tasks import resolve_tasks
from irl.eval.plots import layer_sweep_png
from irl.io import atomic_write_json
from irl.models.controllers import ControllerConfig
from irl.models.io import load_model, save_model
from irl.training.gt_controllers import GTControllerConfig, steered_success, train_controllers
from irl.training.pretrain import resolve_device


ENVS = {  # per environment: env section, config class, device section, registered name
    "grid": ("grid_env", GridConfig, "pretrain_grid", "irl-grid-gt-controllers", "grid-pinpad"),
    "ant": ("ant_env", AntConfig, "pretrain_ant", "irl-ant-gt-controllers", "ant-pinpad"),
}


@task(name="controller-sweep")
def sweep(env_name: str, model_dir: Path, data_dir: Path, env: GridConfig | AntConfig, cfg: GTControllerConfig,
          device: str, out_dir: Path, stage: str) -> dict[str, Any]:
    logger = get_run_logger()
    base, _ = load_model(model_dir, resolve_device(device))
    data = load_dataset(data_dir / "D_star")
    post, pre = resolve_tasks("post", env_name, env.n_colors), resolve_tasks("pretrain", env_name, env.n_colors)
    n_sub = env.n_colors // 2 if post.colors_per_subgoal == 2 else env.n_colors
    ood_seed, id_seed = cfg.seed + 5000, cfg.seed + 6000
    uncontrolled = steered_success(base, None, env, post, cfg.eval_episodes, ood_seed)
    uncontrolled_id = steered_success(base, None, env, pre, cfg.eval_episodes, id_seed)
    rows, best = [], None
    for layer in cfg.layers:
        for rank in cfg.ranks:
            ccfg = ControllerConfig(n_sub, base.cfg.d_model, rank, layer)
            ctrl, fit = train_controllers(base, data, ccfg, cfg)
            row = {"layer": layer, "rank": "full" if rank is None else rank, **fit,
                   "ood_success": steered_success(base, ctrl, env, post, cfg.eval_episodes, ood_seed),
                   "id_success_commanded": steered_success(base, ctrl, env, pre, cfg.eval_episodes, id_seed)}
            logger.info("layer %d rank %s: %s", layer, row["rank"], row)
            rows.append(row)
            if best is None or row["ood_success"] > best[0]["ood_success"]:
                best = (row, ctrl)
    assert best is not None
    save_model(out_dir, best[1], {"stage": stage, "selected_by": "ood_success", **best[0]})
    return {"rows": rows, "uncontrolled": uncontrolled, "uncontrolled_id": uncontrolled_id, "best": best[0]}


def gt_controllers_stage(env_name: str, profile: str | None, params_path: str, model_dir: str, data_dir: str,
                         out_dir: str, metrics_path: str, png: str) -> dict[str, Any]:
    """Fit ground-truth controllers per (layer, rank) on D*, steer the base model through the
    post-training task with them, keep the best; either environment."""
    stage = f"gt_controllers_{env_name}"
    env_section, env_cls, device_section, registered, env_label = ENVS[env_name]
    name, sections = profile_sections(params_path, profile)
    env = stage_config(env_cls, sections, env_section, params_path, name)
    cfg = stage_config(GTControllerConfig, sections, stage, params_path, name)
    device = sections[device_section].get("device", "auto")
    res = sweep(env_name, Path(model_dir), Path(data_dir), env, cfg, device, Path(out_dir), stage)
    best = res["best"]
    metrics = {"profile": name, "env": {"name": env_label, **env.to_dict()},
               "ood_success_controlled": best["ood_success"], "ood_success_uncontrolled": res["uncontrolled"],
               "best_layer": best["layer"], "best_rank": best["rank"], "episodes": cfg.eval_episodes,
               "id_success_commanded": best["id_success_commanded"], "id_success_uncontrolled": res["uncontrolled_id"],
               "sweep": res["rows"]}
    atomic_write_json(metrics_path, metrics)
    layer_sweep_png(res["rows"], res["uncontrolled"], png, f"ground-truth controllers ({name})")
    params = {"profile": name, stage: sections[stage]}
    with tracking.stage_run(stage, params, tags=flow_run_tags(name)) as run:
        log_flat_metrics({k: v for k, v in metrics.items() if k != "sweep"})
        for row in res["rows"]:
            log_flat_metrics({f"sweep/rank_{row['rank']}/ood_success": row["ood_success"],
                              f"sweep/rank_{row['rank']}/id_success_commanded": row["id_success_commanded"]}, step=row["layer"])
        tracking.mlflow.log_artifact(png)
        version = tracking.register_model_dir(run, out_dir, registered)
        url = tracking.run_url(run)
    table = "\n".join(f"| {r['layer']} | {r['rank']} | {r['nll_before']:.3f} → {r['nll_after']:.3f} | {r['ood_success']:.3f} | "
                      f"{r['id_success_commanded']:.3f} |" for r in res["rows"])
    publish_markdown(stage.replace("_", "-"), f"{stage} ({name})",
                     "| layer | rank | D* action NLL | post-task success | commanded pretrain-task success |\n"
                     f"|---|---|---|---|---|\n{table}\n\nUncontrolled: post task {res['uncontrolled']:.3f}, "
                     f"pretraining tasks {res['uncontrolled_id']:.3f} ({cfg.eval_episodes} episodes each, same layouts). "
                     f"Registered `{registered}` v{version}.", url)
    return metrics


@flow(name="gt_controllers_grid", log_prints=True)
def gt_controllers_grid_flow(profile: str | None = None, params_path: str = "params.yaml",
                             model_dir: str = "models/grid/base", data_dir: str = "data/grid",
                             out_dir: str = "models/grid/gt_controllers",
                             metrics_path: str = "metrics/grid/gt_controllers.json",
                             png: str = "plots/grid/gt_controllers.png") -> dict[str, Any]:
    return gt_controllers_stage("grid", profile, params_path, model_dir, data_dir, out_dir, metrics_path, png)


@flow(name="gt_controllers_ant", log_prints=True)
def gt_controllers_ant_flow(profile: str | None = None, params_path: str = "params.yaml",
                            model_dir: str = "models/ant/base", data_dir: str = "data/ant",
                            out_dir: str = "models/ant/gt_controllers",
                            metrics_path: str = "metrics/ant/gt_controllers.json",
                            png: str = "plots/ant/gt_controllers.png") -> dict[str, Any]:
    return gt_controllers_stage("ant", profile, params_path, model_dir, data_dir, out_dir, metrics_path, png)


if __name__ == "__main__":
    run_profile_flow({"grid": gt_controllers_grid_flow, "ant": gt_controllers_ant_flow}, __doc__)
