"""Image pipeline benchmarks: one JSON object per measurement on stdout.

    .venv/bin/python bench/image.py [--skip-cold] [--skip-boot] [--release]

- sizes: build/node.iso, its squashfs and initrd (built first if missing)
- cold build: the node image with an empty cache (a temporary HCINODE_CACHE; downloads packages)
- warm rebuild after a Python-only change: a copy of the project with one changed .py file,
  built with the shared cache (the rootfs, pruning, initramfs and dependency wheels are reused)
- boot to console under TCG: build/node.iso under BIOS until the console banner appears
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from image_recipes.builder import (  # noqa: E402
    PROJECT_PACKAGES,
    Builder,
    BuildOptions,
    build_lock,
    build_plan,
    python_requirements,
)
from image_recipes.recipe import load_recipe  # noqa: E402
from nodecore.executor import Executor  # noqa: E402
from nodecore.runner import LocalRunner  # noqa: E402


def emit(name: str, value: float | int, unit: str, **extra: object) -> None:
    print(json.dumps({"bench": f"image.{name}", "value": value, "unit": unit, **extra}), flush=True)


def build(project: Path, build_dir: Path, cache: Path, release: bool = False) -> dict[str, float]:
    recipe = load_recipe("node")
    options = BuildOptions(release=release, project_dir=str(project), build_dir=str(build_dir), cache_dir=str(cache))
    plan = build_plan(recipe, options, python_requirements(str(ROOT)))
    builder = Builder()
    with build_lock(str(build_dir), str(cache)):
        started = time.monotonic()  # after the lock: waiting for someone else's build is not ours
        Executor(LocalRunner(), actions=builder.actions()).execute(plan)
        builder.timings["total"] = round(time.monotonic() - started, 1)
    return builder.timings


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in (*PROJECT_PACKAGES, "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold build (downloads ~300 MB)")
    parser.add_argument("--skip-boot", action="store_true", help="skip the TCG boot measurement")
    parser.add_argument("--release", action="store_true", help="time release (xz) builds instead of dev (zstd)")
    args = parser.parse_args()
    cache = Path(os.environ.get("HCINODE_CACHE") or "/var/cache/hcinode")
    iso = ROOT / "build" / "node.iso"

    with tempfile.TemporaryDirectory(prefix="hcinode-bench-") as tmp_name:
        tmp = Path(tmp_name)
        project = copy_project(tmp / "project")
        # first build with the shared cache (fills it if needed), then a Python-only change
        build(project, tmp / "build-a", cache, args.release)
        with open(project / "image_recipes" / "__init__.py", "a") as f:
            f.write(f"\n# bench change {time.time()}\n")
        timings = build(project, tmp / "build-b", cache, args.release)
        emit("warm_rebuild_python_change", timings.pop("total"), "s", steps=timings, release=args.release)
        squashfs = tmp / "build-b" / "work" / "node" / "filesystem.squashfs"
        emit("squashfs_size", squashfs.stat().st_size, "bytes", release=args.release)
        emit("initrd_size", (tmp / "build-b" / "pxe" / "initrd.img").stat().st_size, "bytes")
        emit("iso_size", (tmp / "build-b" / "node.iso").stat().st_size, "bytes", release=args.release)
        if not iso.exists():
            shutil.copy2(tmp / "build-b" / "node.iso", iso)
        if not args.skip_cold:
            timings = build(project, tmp / "build-cold", tmp / "cold-cache", args.release)
            emit("cold_build", timings.pop("total"), "s", steps=timings, release=args.release)

    if not args.skip_boot:
        from tests.e2e.vm import VM

        with tempfile.TemporaryDirectory(prefix="hcinode-bench-vm-") as tmp_name:
            vm = VM(name="bench", workdir=Path(tmp_name), boot="iso", firmware="bios", iso=iso)
            vm.start()
            try:
                vm.expect(r"hcinode \d+\.\d+", timeout=900)
                emit("boot_to_console_bios", round(vm.seconds_since_start(), 1), "s", accel=vm.accel)
            finally:
                vm.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
