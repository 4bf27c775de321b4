"""Image pipeline benchmarks: one JSON object per measurement on stdout.

    .venv/bin/python bench/image.py [--skip-cold] [--skip-boot] [--release] [--cold-cache DIR]
                                [--previous DIR|MANIFEST] [--firmware bios,uefi] [--installed DIR]
                                [--boot-only ISO]

- cold build: the node image from a copy of the project with an empty cache (a new directory
  under /var/tmp, or --cold-cache DIR, which must be empty; downloads ~300 MB of packages; deleted
  afterwards unless --keep-cache). The shared cache ($HCINODE_CACHE) is never touched by it.
- warm rebuild after a Python-only change: one .py file of the copy changed, rebuilt with the
  same cache (rootfs, pruning, initramfs and dependency wheels are reused). With --skip-cold the
  shared cache is used (the first build fills it if needed).
- sizes of the warm build's ISO, squashfs, kernel and initrds (the ISO's and PXE's).
- boot to console under TCG: that ISO under each --firmware (bios, uefi) until the console header
  appears, then systemd-analyze time/blame/critical-chain read on the serial console (the TUI's
  "Rescue shell" -> the console's root shell). `--boot-only build/node.iso` boots an existing ISO
  (sizes from the manifest.json beside it). Boots belong under `flock /tmp/hcinode-vm.lock`.
- boot to console of an installed disk with `--installed DIR` (DIR/disk0.qcow2 and DIR/id_ed25519,
  as HCINODE_E2E_INSTALLED keeps a test session's PXE install): an overlay of it booted alone until
  the node console's header, then systemd-analyze of the installed system over ssh.
- the previous release: `--previous DIR` (its build directory: manifest.json and node.iso) puts its
  sizes beside ours (`previous` in each line), boots its ISO in the same run under each firmware just
  before ours (`image.previous.boot_to_console_*`, and `previous` in our boot lines) and prints its
  build's step times from its manifest (`image.previous.build`). `--previous MANIFEST`: sizes only.
- every VM gets the e2e harness's vCPUs (`cpus` in each boot's output: both cores here).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from image_recipes.builder import (  # noqa: E402
    PROJECT_PACKAGES,
    Builder,
    BuildOptions,
    build_lock,
    build_plan,
    python_requirements,
    sha256_file,
)
from image_recipes.recipe import load_recipe  # noqa: E402
from nodecore import pipeline  # noqa: E402
from nodecore.runner import LocalRunner  # noqa: E402

if TYPE_CHECKING:
    from tests.e2e.vm import VM


def emit(name: str, value: object, unit: str, **extra: object) -> None:
    print(json.dumps({"bench": f"image.{name}", "value": value, "unit": unit, **extra}), flush=True)


def build(project: Path, build_dir: Path, cache: Path, release: bool = False) -> dict[str, float]:
    recipe = load_recipe("node")
    options = BuildOptions(release=release, project_dir=str(project), build_dir=str(build_dir), cache_dir=str(cache))
    plan = build_plan(recipe, options, python_requirements(str(ROOT), roots=recipe.python.dependencies))
    builder = Builder()
    with build_lock(str(build_dir), str(cache)):
        started = time.monotonic()  # after the lock: waiting for someone else's build is not ours
        pipeline.apply(plan, LocalRunner(), name="image-node", actions=builder.actions(), journal=False)
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


def node_section(manifest: dict[str, Any]) -> dict[str, Any]:
    """The node build's part of a manifest.json (older manifests were that part alone)."""
    node: dict[str, Any] = manifest.get("builds", {}).get("node", manifest)
    return node


def size_figures(manifest: dict[str, Any]) -> dict[str, int]:
    """ISO, squashfs, kernel and initrd sizes from a build's manifest.json (node section)."""
    node = node_section(manifest)
    artifacts = node.get("artifacts", {})
    parts = node.get("iso_parts") or {}
    figures = {"iso_size": artifacts.get("node.iso", {}).get("size"),
               "squashfs_size": artifacts.get("pxe/filesystem.squashfs", {}).get("size"),
               "kernel_size": artifacts.get("pxe/vmlinuz", {}).get("size"),
               "initrd_size": artifacts.get("pxe/initrd.img", {}).get("size"),
               # before the ISO had its own initrd it carried PXE's
               "iso_initrd_size": parts.get("live/initrd.img") or artifacts.get("pxe/initrd.img", {}).get("size")}
    return {k: v for k, v in figures.items() if isinstance(v, int)}


# what the console does not need shows in these: the chain of the console unit, the slowest units
ANALYZE = {"time": "systemd-analyze time",
           "blame": "systemd-analyze blame --no-pager | head -25",
           "critical_chain": "systemd-analyze critical-chain --no-pager serial-getty@ttyS0.service",
           "critical_chain_multi_user": "systemd-analyze critical-chain --no-pager multi-user.target",
           # the TUI logs "console ready" when its first screen is built: with the clock and the uptime
           # read together that gives its second since the kernel started (userspace_to_console); an
           # installed node's log also holds earlier boots' lines
           "console_ready": "grep 'console ready' /var/log/hcinode/hcinode.log | tail -20; date '+%F %T.%N'; "
                            "cat /proc/uptime"}


def userspace_to_console(analyze: dict[str, str]) -> float | None:
    """Seconds from the start of userspace (systemd-analyze's kernel time) to the first "console ready"."""
    kernel = re.search(r"([\d.]+)s \(kernel\)", analyze.get("time", ""))
    lines = [line.strip() for line in analyze.get("console_ready", "").splitlines() if line.strip()]
    ready = [datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f") for line in lines if "console ready" in line]
    if not (kernel and ready and len(lines) >= 2):
        return None
    now = datetime.strptime(lines[-2][:26], "%Y-%m-%d %H:%M:%S.%f")
    booted = now - timedelta(seconds=float(lines[-1].split()[0]))  # the kernel's start on the log's clock
    this_boot = [t for t in ready if t >= booted]
    if not this_boot:
        return None
    return round((min(this_boot) - booted).total_seconds() - float(kernel.group(1)), 1)


def systemd_analyze(vm: VM) -> dict[str, str]:
    """systemd-analyze of the booted live system, read on its serial console: the welcome page's
    "Rescue shell" (down, space, F10) ends the TUI, the console's banner gives a root shell on Enter."""
    from tests.e2e.vm import root_shell

    vm.send_key("down")
    vm.send(" ")
    vm.send_key("f10")
    root_shell(vm)
    # the boot finishes (ssh-keygen at idle priority may still run): time needs a finished boot
    vm.run("timeout 600 systemctl is-system-running --wait", timeout=660)
    return {name: vm.run(command, timeout=120) for name, command in ANALYZE.items()}


def boot_to_console(iso: Path, workdir: Path, firmware: str, analyze: bool = True) -> dict[str, object]:
    """Power-on to the console's first screen (the TUI's header with the version), then systemd-analyze:
    {"value": seconds to the header, "first_screen_s", "accel", "cpus", "iso", "systemd_analyze"}."""
    from tests.e2e.vm import VM

    vm = VM(name=f"bench-{firmware}", workdir=workdir / firmware, boot="iso", firmware=firmware, iso=iso)
    vm.workdir.mkdir(parents=True, exist_ok=True)
    vm.start()
    try:
        vm.expect(r"hcinode \d+\.\d+", timeout=900)
        figures: dict[str, object] = {"value": round(vm.seconds_since_start(), 1)}
        vm.expect("What to do", timeout=300)  # the installer's first screen is complete
        figures.update(first_screen_s=round(vm.seconds_since_start(), 1), accel=vm.accel, cpus=vm.cpus,
                       iso=str(iso))
        if analyze:
            try:
                analysis = systemd_analyze(vm)
                figures.update(systemd_analyze=analysis, userspace_to_console_s=userspace_to_console(analysis))
            except Exception as exc:  # noqa: BLE001 - the boot time stands; say why the analysis is missing
                figures["systemd_analyze_error"] = f"{type(exc).__name__}: {str(exc)[-400:]}"
        return figures
    finally:
        vm.kill()


def boot_isos(iso: Path, previous_iso: Path | None, workdir: Path, firmwares: list[str], analyze: bool) -> None:
    """Each firmware: the previous release's ISO (when given) and then ours, one after the other on
    the same machine, so a regression is not the machine's load of another hour."""
    for firmware in firmwares:
        before: dict[str, object] = {}
        if previous_iso:
            before = boot_to_console(previous_iso, workdir / "previous", firmware, analyze)
            emit(f"previous.boot_to_console_{firmware}", **before, unit="s")
        ours = boot_to_console(iso, workdir, firmware, analyze)
        emit(f"boot_to_console_{firmware}", **ours, unit="s", previous=before.get("value"),
             previous_first_screen_s=before.get("first_screen_s"))


def load_previous(path: str | None) -> tuple[dict[str, int], Path | None]:
    """--previous: a manifest.json (sizes) or a build directory (manifest.json and node.iso)."""
    if not path:
        return {}, None
    given = Path(path).resolve()
    manifest = given / "manifest.json" if given.is_dir() else given
    iso = manifest.parent / "node.iso" if given.is_dir() else None
    if not manifest.is_file():
        raise ValueError(f"--previous {path}: no manifest.json (give a previous release's build directory or manifest)")
    if iso and not iso.is_file():
        raise ValueError(f"--previous {path}: no node.iso beside its manifest.json (give the manifest for sizes only)")
    data = json.loads(manifest.read_text())
    node = node_section(data)
    steps = node.get("step_seconds") or {}
    emit("previous.build", round(sum(steps.values()), 1), "s", steps=steps, release=node.get("release"),
         note="that build's own run, from its manifest (cached steps count 0)")
    return size_figures(data), iso


def boot_installed_to_console(installed: Path, workdir: Path, firmware: str, analyze: bool = True) -> None:
    """An installed disk (DIR of bench/update.py --installed or HCINODE_E2E_INSTALLED: disk0.qcow2 and
    the kickstart's key) booted alone from an overlay, power-on to its console's first screen (the
    node pages' header), then systemd-analyze of the installed system over ssh."""
    from tests.e2e.test_install import HOSTNAME, STATIC_IP
    from tests.e2e.vm import VM, Disk, make_disk, make_ssh_key, vm_ssh, wait_for_ssh

    work = workdir / f"installed-{firmware}"
    work.mkdir(parents=True, exist_ok=True)
    overlay = make_disk(work / "overlay.qcow2", "20G", backing=installed / "disk0.qcow2")
    vm = VM(f"bench-installed-{firmware}", work, boot="disk", firmware=firmware, ssh_to=STATIC_IP,
            disks=[Disk(overlay)])
    vm.start()
    try:
        vm.expect(rf"hcinode \d+\.\d+\.\d+ \| {HOSTNAME}", timeout=900)
        seconds = round(vm.seconds_since_start(), 1)
        vm.drain_serial()
        extra: dict[str, object] = {}
        if analyze:
            key = make_ssh_key(installed)
            wait_for_ssh(vm, key, timeout=900)
            vm_ssh(vm, key, "timeout 600 systemctl is-system-running --wait", timeout=660, check=False)
            analysis = {
                name: vm_ssh(vm, key, command, timeout=120, check=False).stdout for name, command in ANALYZE.items()}
            extra.update(systemd_analyze=analysis, userspace_to_console_s=userspace_to_console(analysis))
        emit(f"boot_to_console_installed_{firmware}", seconds, "s", accel=vm.accel, cpus=vm.cpus, **extra)
    finally:
        vm.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="skip the cold build (downloads ~300 MB)")
    parser.add_argument("--skip-boot", action="store_true", help="skip the TCG boot measurement")
    parser.add_argument("--release", action="store_true", help="time release (xz) builds instead of dev (zstd)")
    parser.add_argument("--cold-cache", help="empty directory for the cold build's cache (default: new, /var/tmp)")
    parser.add_argument("--keep-cache", action="store_true", help="keep the cold build's cache")
    parser.add_argument("--previous", metavar="DIR|MANIFEST",
                        help="the previous release's build directory (manifest.json, node.iso: sizes, build "
                        "steps and boots beside ours) or its manifest.json (sizes only)")
    parser.add_argument("--firmware", default="bios", help="boot firmwares, comma-separated: bios,uefi")
    parser.add_argument("--boot-only", metavar="ISO", help="no builds: boot this ISO (under the VM lock) and "
                        "report boot to console and systemd-analyze; its manifest.json beside it gives sizes")
    parser.add_argument("--no-analyze", action="store_true", help="boot times only (no systemd-analyze)")
    parser.add_argument("--installed", metavar="DIR", type=Path,
                        help="also boot this installed disk (DIR/disk0.qcow2 and its key, as HCINODE_E2E_INSTALLED "
                        "or bench/update.py --installed keep it) to its console under each --firmware")
    args = parser.parse_args()
    firmwares = [f for f in args.firmware.split(",") if f]
    if unknown := sorted(set(firmwares) - {"bios", "uefi"}):
        parser.error(f"--firmware: unknown {', '.join(unknown)} (bios, uefi)")
    try:
        previous, previous_iso = load_previous(args.previous)
    except ValueError as exc:
        parser.error(str(exc))
    analyze = not args.no_analyze

    def boots(iso: Path, workdir: Path) -> None:
        boot_isos(iso, previous_iso, workdir, firmwares, analyze)
        for firmware in firmwares if args.installed else []:
            boot_installed_to_console(args.installed, workdir, firmware, analyze=analyze)

    if args.boot_only:
        iso = Path(args.boot_only).resolve()
        manifest = iso.parent / "manifest.json"
        if manifest.is_file():
            for name, value in size_figures(json.loads(manifest.read_text())).items():
                emit(name, value, "bytes", previous=previous.get(name))
        with tempfile.TemporaryDirectory(prefix="hcinode-bench-", dir="/var/tmp") as tmp_name:
            boots(iso, Path(tmp_name))
        return 0
    shared_cache = Path(os.environ.get("HCINODE_CACHE") or "/var/cache/hcinode")

    with tempfile.TemporaryDirectory(prefix="hcinode-bench-", dir="/var/tmp") as tmp_name:
        tmp = Path(tmp_name)
        project = copy_project(tmp / "project")
        cache = shared_cache
        if not args.skip_cold:
            cache = Path(args.cold_cache) if args.cold_cache else tmp / "cold-cache"
            if cache.exists() and any(cache.iterdir()):
                parser.error(f"--cold-cache {cache} is not empty: a cold build needs an empty cache")
            timings = build(project, tmp / "build-cold", cache, args.release)
            # sha256 of a build from a fresh mmdebstrap: compare with a build of the same tree from
            # the shared cache to check reproducibility across bootstraps
            cold = tmp / "build-cold"
            emit("cold_build", timings.pop("total"), "s", steps=timings, release=args.release, sha256={
                "squashfs": sha256_file(str(cold / "work" / "node" / "filesystem.squashfs")),
                "initrd": sha256_file(str(cold / "pxe" / "initrd.img")),
                "iso": sha256_file(str(cold / "node.iso"))})
        else:
            build(project, tmp / "build-a", cache, args.release)  # fills the shared cache if needed
        with open(project / "image_recipes" / "__init__.py", "a") as f:
            f.write(f"\n# bench change {time.time()}\n")
        timings = build(project, tmp / "build-b", cache, args.release)
        emit("warm_rebuild_python_change", timings.pop("total"), "s", steps=timings, release=args.release)
        for name, value in size_figures(json.loads((tmp / "build-b" / "manifest.json").read_text())).items():
            emit(name, value, "bytes", release=args.release, previous=previous.get(name))
        iso = tmp / "build-b" / "node.iso"
        if not args.skip_boot:
            boots(iso, tmp / "vm")
        if args.keep_cache and cache != shared_cache:
            kept = Path(tempfile.mkdtemp(prefix="hcinode-bench-cache-", dir="/var/tmp"))
            cache.rename(kept / "cache")
            print(f"cold cache kept in {kept / 'cache'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
