"""Switch-alignment metrics on synthetic sequences with known boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from irl.eval.switching import match_boundaries, switch_alignment, true_boundaries

# Two episodes: subgoals 0 0 0 1 1 1 2 2 (boundaries 3, 6) and 3 3 1 1 1 (boundary 2).
SUBGOALS = [np.array([0, 0, 0, 1, 1, 1, 2, 2]), np.array([3, 3, 1, 1, 1])]


def beta_at(length: int, steps: list[int], low: float = 0.0) -> np.ndarray:
    beta = np.full(length, low)
    beta[0] = 1.0
    beta[steps] = 1.0
    return beta


def test_true_boundaries_are_the_first_steps_of_new_subgoals() -> None:
    assert true_boundaries(SUBGOALS[0]).tolist() == [3, 6]
    assert true_boundaries(SUBGOALS[1]).tolist() == [2]
    assert true_boundaries(np.array([1, 1, 1])).tolist() == []


def test_perfect_switches_score_one() -> None:
    m = switch_alignment([beta_at(8, [3, 6]), beta_at(5, [2])], SUBGOALS)
    assert m["boundary_f1"] == 1.0 and m["boundary_precision"] == 1.0 and m["boundary_recall"] == 1.0
    assert m["switches_per_episode"] == m["true_subgoals_per_episode"] == 2.5
    assert m["beta_nonbinary_fraction"] == 0.0


def test_switches_one_step_late_are_within_tolerance_two_steps_are_not() -> None:
    assert switch_alignment([beta_at(8, [4, 7]), beta_at(5, [3])], SUBGOALS)["boundary_f1"] == 1.0
    m = switch_alignment([beta_at(5, [4])], SUBGOALS[1:])
    assert m["boundary_f1"] == 0.0 and m["switches_per_episode"] == 2.0


def test_spurious_and_missing_switches() -> None:
    # episode 1: a true switch at 3, a spurious one at 1, the one at 6 missed; episode 2 perfect
    m = switch_alignment([beta_at(8, [1, 3]), beta_at(5, [2])], SUBGOALS)
    assert m["boundary_precision"] == pytest.approx(2 / 3)
    assert m["boundary_recall"] == pytest.approx(2 / 3)
    assert m["boundary_f1"] == pytest.approx(2 / 3)


def test_one_prediction_matches_at_most_one_boundary() -> None:
    assert match_boundaries(np.array([4]), np.array([3, 5])) == 1
    assert match_boundaries(np.array([3, 4]), np.array([3, 5])) == 2


def test_nonbinary_fraction_counts_beta_between_point_one_and_point_nine() -> None:
    beta = np.array([1.0, 0.5, 0.05, 0.95, 0.1])
    m = switch_alignment([beta], [np.array([0, 0, 0, 1, 1])])
    assert m["beta_nonbinary_fraction"] == pytest.approx(2 / 4)


def test_beta_always_one_switches_every_step() -> None:
    m = switch_alignment([np.ones(8), np.ones(5)], SUBGOALS)
    assert m["switches_per_episode"] == 6.5
    assert m["boundary_recall"] == 1.0 and m["boundary_precision"] == pytest.approx(3 / 11)


def test_mismatched_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="shape"):
        switch_alignment([np.ones(3)], [np.zeros(4)])
    with pytest.raises(ValueError, match="traces"):
        switch_alignment([], [])
