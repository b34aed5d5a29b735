"""`python -m serving --cpus`: the CPU spec is parsed and checked before the server starts."""

from __future__ import annotations

import os

import pytest

from serving.__main__ import parse_cpus


def test_cpu_specs_parse_to_sets() -> None:
    assert parse_cpus("0") == {0}
    n = os.cpu_count() or 1
    assert parse_cpus(f"0-{n - 1}") == set(range(n))
    assert parse_cpus(" 0 ,0") == {0}


@pytest.mark.parametrize("spec, why", [("x", "not a CPU id"), ("1-", "not a CPU id"), ("-1", "not a CPU id"),
                                       ("1-0", "runs low-high"),
                                       ("100000", "do not exist")])
def test_bad_cpu_specs_name_the_problem(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_cpus(spec)
