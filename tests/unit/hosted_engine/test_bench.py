"""bench/hosted_engine.py's grouping of the deploy's step timings into the issue's stages."""

import importlib.util
from pathlib import Path

from hosted_engine.plan import PlanFacts, deploy_plan

BENCH = Path(__file__).resolve().parents[3] / "bench" / "hosted_engine.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_hosted_engine", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_step_of_the_plan_falls_into_its_stage(spec):
    bench = _bench()
    plan = deploy_plan(spec, PlanFacts("qemu", 512, True, "/s"))
    timings = {step.title: 1.0 for step in plan.steps}
    got = bench.stages(timings, wall_s=100.0, apply_s=80.0)
    assert got["preflight_s"] == 20.0 and got["total_s"] == 100.0
    assert got["disk_copy_s"] == 4.0  # sha256 check, convert, keep, resize
    assert got["boot_s"] == 2.0 and got["health_s"] == 1.0 and got["enrol_s"] == 1.0
    assert got["finish_s"] == 4.0
    assert sum(v for k, v in got.items() if k not in ("preflight_s", "total_s")) == len(plan.steps)


def _failover_bench():
    path = BENCH.parent / "ha_failover.py"
    spec = importlib.util.spec_from_file_location("bench_ha_failover", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_failover_marks_split_into_stages_that_add_up():
    got = _failover_bench().split({"detection_s": 66.0, "lease_free_s": 101.5, "vm_start_s": 108.0,
                                   "healthy_s": 230.0})
    assert got == {"detection_s": 66.0, "lease_expiry_s": 35.5, "vm_start_s": 6.5, "engine_health_s": 122.0,
                   "total_s": 230.0}


def test_a_lease_seen_free_before_the_detection_is_a_zero_stage():
    got = _failover_bench().split({"detection_s": 70.0, "lease_free_s": 60.0, "vm_start_s": 75.0, "healthy_s": 200.0})
    assert got["lease_expiry_s"] == 0.0 and got["vm_start_s"] == 5.0
    assert sum(v for k, v in got.items() if k != "total_s") == got["total_s"]


def test_a_missing_mark_is_a_zero_stage():
    got = _failover_bench().split({"vm_start_s": 120.0, "healthy_s": 250.0})
    assert got["detection_s"] == 0.0 and got["lease_expiry_s"] == 0.0 and got["vm_start_s"] == 120.0
    assert got["total_s"] == 250.0
