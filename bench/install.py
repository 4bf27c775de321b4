"""Installer speed. Prints one JSON object per measurement.

- `payload_unsquashfs_s`: the node image (build/pxe/filesystem.squashfs) unpacked with `unsquashfs`
  onto a fresh ext4 file system on a loop device (what the installer does).
- `payload_blockcopy_s`: the same tree as an ext4 image, copied with `e2image -ra` (used blocks
  only) onto the same kind of device, then checked and grown (`e2fsck`, `resize2fs`): the
  alternative, if the media shipped a file-system image instead of the squashfs.
- `payload_image_bytes`: bytes each method reads from the media (squashfs vs the ext4 image's
  used blocks): what a PXE/HTTP install downloads.
- with `--vm`: `install_power_on_to_console_s`: PXE boot of a TCG VM with inst.ks=, unattended
  install, power-off, boot from the disk alone until the installed node's console shows its
  host name (tests/e2e harness); `install_steps_s`: the installer's own step timings.

Root is needed (loop devices, mounts). Commands run through nodecore's LocalRunner.
Run: `.venv/bin/python bench/install.py [--vm]`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodecore.runner import LocalRunner  # noqa: E402

RUNNER = LocalRunner(default_timeout=3600)
SQUASHFS = ROOT / "build" / "pxe" / "filesystem.squashfs"


def emit(name: str, value: object, **extra: object) -> None:
    print(json.dumps({"bench": "install", "name": name, "value": value, **extra}), flush=True)


class Loop:
    def __init__(self, path: Path, size: str) -> None:
        RUNNER.run(["truncate", "-s", size, str(path)])
        self.dev = RUNNER.run(["losetup", "--find", "--show", str(path)]).stdout.strip()
        self.mnt = path.with_suffix(".mnt")
        self.mnt.mkdir(exist_ok=True)

    def close(self) -> None:
        RUNNER.run(["umount", str(self.mnt)], check=False)
        RUNNER.run(["losetup", "-d", self.dev], check=False)


def drop_caches() -> None:
    RUNNER.run(["sync"])
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass  # not allowed in some containers: then both runs see a warm cache alike


def payload(work: Path) -> None:
    if not SQUASHFS.exists():
        emit("payload", None, skipped=f"{SQUASHFS} missing: run make pxe")
        return
    # the ext4 image the block copy would ship: the same tree, made once (not timed)
    tree = work / "tree"
    RUNNER.run(["unsquashfs", "-n", "-d", str(tree), str(SQUASHFS)])
    image = work / "rootfs.ext4"
    RUNNER.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "3G"])
    RUNNER.run(["rm", "-rf", str(tree)])
    used = int(RUNNER.run(["du", "-B1", str(image)]).stdout.split()[0])
    emit("payload_image_bytes", {"squashfs": SQUASHFS.stat().st_size, "ext4_image_used": used})

    a = Loop(work / "a.raw", "6G")
    try:
        RUNNER.run(["mkfs.ext4", "-q", "-F", a.dev])
        RUNNER.run(["mount", a.dev, str(a.mnt)])
        drop_caches()
        started = time.monotonic()
        RUNNER.run(["unsquashfs", "-f", "-n", "-d", str(a.mnt), str(SQUASHFS)])
        RUNNER.run(["sync"])
        emit("payload_unsquashfs_s", round(time.monotonic() - started, 1))
    finally:
        a.close()

    b = Loop(work / "b.raw", "6G")
    try:
        drop_caches()
        started = time.monotonic()
        RUNNER.run(["e2image", "-ra", str(image), b.dev])
        RUNNER.run(["e2fsck", "-fy", b.dev], check=False)
        RUNNER.run(["resize2fs", b.dev])
        RUNNER.run(["sync"])
        emit("payload_blockcopy_s", round(time.monotonic() - started, 1))
    finally:
        b.close()


def vm_install(work: Path) -> None:
    """The e2e flow, timed (see tests/e2e/test_install.py for what each phase checks)."""
    from tests.e2e.test_install import install_and_boot  # type: ignore[import-not-found]

    result = install_and_boot(work, firmware="bios")
    emit("install_power_on_to_console_s", result["total_s"], phases=result["phases"])
    emit("install_steps_s", result.get("steps", {}))


def main() -> int:
    if os.geteuid() != 0:
        print(json.dumps({"bench": "install", "error": "needs root (loop devices)"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="hcinode-bench-install-", dir="/var/tmp") as tmp:
        payload(Path(tmp))
        if "--vm" in sys.argv:
            vm_install(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
