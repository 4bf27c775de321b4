"""oVirt's score table."""

from __future__ import annotations

import pytest

from hosted_engine.score import ScoreInputs, compute, cpu_penalty, failed_start_count, penalties

GIB = 1 << 30
OK = dict(free_memory=8 * GIB, vm_memory=4 * GIB)


@pytest.mark.parametrize("changes, expected", [
    ({}, 3400),
    ({"vm_config_ok": False}, 2400),
    ({"network_ok": 0.5}, 2600),
    ({"network_ok": 0.0}, 1800),
    ({"network_ok": 2 / 3}, 3400 - int((1 - 2 / 3) * 1600)),
    ({"bridge_up": False}, 2800),
    ({"cpu_load": 0.4}, 3400),
    ({"cpu_load": 0.65}, 2900),
    ({"cpu_load": 0.8}, 2600),
    ({"cpu_load": 0.95}, 2400),
    ({"free_memory": 2 * GIB}, 3000),
    ({"free_memory": 2 * GIB, "engine_runs_here": True}, 3400),
    ({"failed_starts": 1}, 3350),
    ({"failed_starts": 3}, 3250),
    ({"failed_starts": 4}, 0),
    ({"local_maintenance": True}, 0),
    ({"vm_config_ok": False, "network_ok": 0.0, "bridge_up": False, "cpu_load": 1.0,
      "free_memory": 0, "failed_starts": 3}, 0),
    ({"bridge_up": False, "failed_starts": 2}, 2700),
])
def test_score_table(changes: dict[str, object], expected: int) -> None:
    assert compute(ScoreInputs(**{**OK, **changes})) == expected  # type: ignore[arg-type]


def test_penalties_name_what_the_score_lost() -> None:
    assert penalties(ScoreInputs(**OK)) == {}  # type: ignore[arg-type]
    assert penalties(ScoreInputs(**{**OK, "bridge_up": False, "cpu_load": 0.5})) == \
        {"bridge": 600, "cpu": 200}  # type: ignore[arg-type]
    assert penalties(ScoreInputs(**{**OK, "local_maintenance": True, "bridge_up": False})) == \
        {"local_maintenance": 3400}  # type: ignore[arg-type]
    assert penalties(ScoreInputs(**{**OK, "failed_starts": 4})) == {"failed_starts": 3400}  # type: ignore[arg-type]


def test_cpu_penalty_is_linear_and_bounded() -> None:
    assert [cpu_penalty(x) for x in (0.0, 0.4, 0.5, 0.9, 1.5)] == [0, 0, 200, 1000, 1000]


def test_failed_starts_reset_600_s_after_the_last() -> None:
    assert failed_start_count((), 100.0) == 0
    assert failed_start_count((10.0, 500.0), 1100.0) == 2
    assert failed_start_count((10.0, 500.0), 1100.1) == 0
