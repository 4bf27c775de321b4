"""bench/update.py's names for the e2e cycle's timings; the e2e test's variant recipe is a valid
node recipe with one more overlay (what builds the unhealthy v3)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from image_recipes.recipe import load_recipe
from tests.e2e.test_update import BROKEN_UNIT, NODE_RECIPE, variant_recipe

BENCH = Path(__file__).resolve().parents[3] / "bench" / "update.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_update", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measurements_rename_the_cycle_timings() -> None:
    timings = {"apply_v2_s": 95.0, "apply_v2_bytes_written": 900, "image_bytes": 233, "reboot_v2_to_healthy_s": 200.0,
               "v3_trial_to_back_on_v2_s": 700.0, "boot_v1_to_ssh_s": 150.0, "total_s": 1500.0}
    assert _bench().measurements(timings) == {
        "apply_s": 95.0, "apply_bytes_written": 900, "image_bytes": 233, "reboot_to_healthy_s": 200.0,
        "rollback_s": 700.0, "boot_v1_to_ssh_s": 150.0, "total_s": 1500.0}


def test_bench_without_vm_says_what_it_needs() -> None:
    out = subprocess.run([sys.executable, str(BENCH)], capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["skipped"].startswith("needs --vm")


def test_variant_recipe_adds_an_overlay_to_the_node_recipe(tmp_path) -> None:
    directory = variant_recipe(tmp_path, "broken", {
        "etc/systemd/system/x.service": BROKEN_UNIT,
        "etc/systemd/system/multi-user.target.wants/x.service": "->../x.service"})
    recipe = load_recipe(str(directory / "recipe.yaml"))
    node = load_recipe("node")
    assert recipe.overlay_dirs() == [str(NODE_RECIPE / "overlay"), str(directory / "extra")]
    assert recipe.packages == node.packages and recipe.prune == node.prune
    assert (directory / "extra/etc/systemd/system/multi-user.target.wants/x.service").readlink() == Path("../x.service")
    variant_recipe(tmp_path, "broken", {"etc/systemd/system/x.service": BROKEN_UNIT})  # again: replaces
