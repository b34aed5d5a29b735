"""The task table: pretraining and post-training tasks of both pinpad environments.

A task is an ordered tuple of colors to visit. A *subgoal* groups consecutive colors: a color
pair in the grid (0-1, 2-3, 4-5, 6-7), one color in the ant (DESIGN.md §2).
"""

from __future__ import annotations

from dataclasses import dataclass

Task = tuple[int, ...]

# Paper Table A1: 16 grid pretraining tasks, 3 subgoals (color pairs) each.
GRID_PRETRAIN = (
    "0-1-4-5-0-1", "0-1-4-5-2-3", "0-1-6-7-2-3", "2-3-0-1-4-5",
    "2-3-6-7-2-3", "2-3-6-7-4-5", "4-5-0-1-4-5", "4-5-0-1-6-7",
    "4-5-2-3-6-7", "6-7-2-3-0-1", "6-7-2-3-6-7", "6-7-4-5-0-1",
    "0-1-6-7-4-5", "2-3-0-1-6-7", "4-5-2-3-0-1", "6-7-4-5-2-3",
)
GRID_POST = ("0-1-2-3-4-5-6-7-0-1-2-3",)

# Paper Table A2: 16 ant pretraining tasks, 3 colors each.
ANT_PRETRAIN = (
    "0-3-2", "1-0-3", "2-1-0", "3-2-1", "0-2-0", "0-2-1", "0-3-1", "1-0-2",
    "1-3-1", "1-3-2", "2-0-2", "2-0-3", "2-1-3", "3-1-0", "3-1-3", "3-2-0",
)
ANT_POST = ("0-1-2-3",)


@dataclass(frozen=True)
class TaskSet:
    """A named set of tasks; episodes draw one uniformly."""

    name: str
    tasks: tuple[Task, ...]
    colors_per_subgoal: int

    @property
    def max_len(self) -> int:
        return max(len(t) for t in self.tasks)

    def task_strings(self) -> list[str]:
        return [format_task(t) for t in self.tasks]


TASK_SETS: dict[str, dict[str, tuple[tuple[str, ...], int]]] = {
    "grid": {"pretrain": (GRID_PRETRAIN, 2), "post": (GRID_POST, 2)},
    "ant": {"pretrain": (ANT_PRETRAIN, 1), "post": (ANT_POST, 1)},
}


def parse_task(spec: str, n_colors: int) -> Task:
    """Parse "0-1-2-3" into (0, 1, 2, 3); reject colors out of range and immediate repeats."""
    parts = spec.strip().split("-")
    try:
        task = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"task {spec!r}: expected colors separated by '-', like '0-1-2-3'") from None
    if not task:
        raise ValueError(f"task {spec!r} is empty")
    bad = [c for c in task if not 0 <= c < n_colors]
    if bad:
        raise ValueError(f"task {spec!r}: colors {bad} are outside 0..{n_colors - 1}")
    for a, b in zip(task, task[1:]):
        if a == b:
            # Visiting means *entering* a cell, so an immediate repeat would need leaving and
            # re-entering a cell; no task of the paper has one.
            raise ValueError(f"task {spec!r}: color {a} repeats immediately, which no pinpad task allows")
    return task


def format_task(task: Task) -> str:
    return "-".join(str(c) for c in task)


def resolve_tasks(spec: str, env: str = "grid", n_colors: int = 8) -> TaskSet:
    """A named task set ("pretrain", "post") or a task string ("0-1-2-3") → TaskSet."""
    if env not in TASK_SETS:
        raise ValueError(f"unknown environment {env!r}; expected one of {sorted(TASK_SETS)}")
    per_subgoal = TASK_SETS[env]["pretrain"][1]
    if spec in TASK_SETS[env]:
        strings, per_subgoal = TASK_SETS[env][spec]
        return TaskSet(spec, tuple(parse_task(s, n_colors) for s in strings), per_subgoal)
    if "-" in spec or spec.isdigit():
        return TaskSet(spec, (parse_task(spec, n_colors),), per_subgoal)
    raise ValueError(
        f"task {spec!r}: expected a task set name {sorted(TASK_SETS[env])} or a task like '0-1-2-3'"
    )
