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
