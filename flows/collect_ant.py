"""Flow `collect_ant`: ant datasets D (sampled expert actions) and D* (mean actions) from the
trained expert (DVC stage `collect_ant`).

    python -m flows.collect_ant [--profile smoke|default|paper]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from prefect import flow, get_run_logger, task

from flows.cli import run_profile_flow
from flows.common import flow_run_tags, log_flat_metrics, profile_sections, publish_markdown
from irl import tracking
from irl.config import stage_config
from irl.data.collect_ant import AntCollectConfig, collect_ant
from irl.data.dataset import save_dataset
from irl.envs.ant import AntConfig
from irl.io import atomic_write_json
from irl.models.io import load_model


@dataclass(frozen=True)
class CollectAntStage:
    episodes_D: int
    episodes_D_star: int
    seed: int = 0
    task_set: str = "pretrain"
    num_envs: int = 16
    successful_only: bool = True

    def datasets(self) -> dict[str, AntCollectConfig]:
        common = dict(task_set=self.task_set, num_envs=self.num_envs, successful_only=self.successful_only)
        return {"D": AntCollectConfig(self.episodes_D, False, self.seed, **common),
                "D_star": AntCollectConfig(self.episodes_D_star, True, self.seed + 1, **common)}


@task(name="collect-ant-dataset", task_run_name="collect-ant-{name}")
def collect_task(name: str, env: AntConfig, expert_dir: Path, cfg: AntCollectConfig, out_dir: Path) -> dict[str, Any]:
    expert, _ = load_model(expert_dir)
    arrays, meta = collect_ant(env, expert, cfg)
    manifest = save_dataset(out_dir / name, arrays, meta)
    summary = {"episodes": manifest["counts"]["episodes"], "steps": manifest["counts"]["steps"],
               "actions": meta["expert"]["actions"], "expert_success": meta["expert_success"],
               "rolled_episodes": meta["rolled_episodes"], "wall_s": meta["collect_s"],
               "steps_per_s": manifest["counts"]["steps"] / max(meta["collect_s"], 1e-9)}
    get_run_logger().info("%s: %s", name, summary)
    return summary


@flow(name="collect_ant", log_prints=True)
def collect_ant_flow(
    profile: str | None = None,
    params_path: str = "params.yaml",
    episodes_D: int | None = None,
    expert_dir: str = "models/ant/expert",
    out_dir: str = "data/ant",
    metrics_path: str = "metrics/ant/collect.json",
) -> dict[str, Any]:
    """Roll the expert into D and D*, write them atomically, track the stage."""
    name, sections = profile_sections(params_path, profile, {"collect_ant": {"episodes_D": episodes_D}})
    env = stage_config(AntConfig, sections, "ant_env", params_path, name)
    stage = stage_config(CollectAntStage, sections, "collect_ant", params_path, name)
    per = {ds: collect_task(ds, env, Path(expert_dir), cfg, Path(out_dir)) for ds, cfg in stage.datasets().items()}
    metrics = {"profile": name, "env": {"name": "ant-pinpad", **env.to_dict()}, "datasets": per,
               "steps": sum(p["steps"] for p in per.values())}
    params = {"profile": name, "ant_env": env.to_dict(), "collect_ant": sections["collect_ant"]}
    with tracking.stage_run("collect_ant", params, tags=flow_run_tags(name)) as run:
        log_flat_metrics(metrics)
        for ds in per:
            mlflow.log_artifact(str(Path(out_dir) / ds / "manifest.json"), artifact_path=f"manifests/{ds}")
        url = tracking.run_url(run)
    atomic_write_json(metrics_path, metrics)
    rows = "\n".join(f"| {ds} | {p['actions']} | {p['episodes']:,} | {p['steps']:,} | {p['expert_success']:.3f} | "
                     f"{p['wall_s']:.0f} |" for ds, p in per.items())
    publish_markdown("collect-ant", f"collect_ant ({name})",
                     "| dataset | actions | episodes kept | steps | expert success | wall s |\n|---|---|---|---|---|---|\n"
                     + rows, url)
    return metrics


if __name__ == "__main__":
    run_profile_flow(collect_ant_flow, __doc__)
