"""Update speed (issue 16: apply under 2 minutes, the node serving again within one reboot, under TCG).
Prints one JSON object per measurement.

With `--vm` (root, minutes under TCG; take the VM lock: `flock /tmp/hcinode-vm.lock ...`): a PXE
install of build/pxe (tests/e2e harness), then tests/e2e/test_update.py's `update_cycle` on that disk:

- `apply_s`: `hcinode update apply URL` of v2 (the same tree built with `--image-version 0.1.1`)
  over HTTP, from the command to "written and armed" (download, checksum, thin LV, unsquashfs,
  initramfs, carry-over, boot menu);
- `apply_bytes_written`: bytes the guest wrote to its disk during the apply (/sys/block/vda/stat),
  and `image_bytes`, the squashfs it downloaded;
- `reboot_to_healthy_s`: from `systemctl reboot` to confirm-boot committing v2 (healthy);
- `rollback_s`: v3 (unhealthy on purpose), from its reboot until v2 answers again by itself
  (includes the trial bound, 300 s);
- `boot_v1_to_ssh_s`, `total_s`.

Without `--vm` it prints what it would need and exits 0 (`make bench` runs every bench).
Run: `.venv/bin/python bench/update.py --vm [--installed DIR] [--cpus N]` (DIR: keep/reuse the install, as
HCINODE_E2E_INSTALLED does for the tests).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def emit(name: str, value: object, **extra: object) -> None:
    print(json.dumps({"bench": "update", "name": name, "value": value, **extra}), flush=True)


def measurements(timings: dict[str, object]) -> dict[str, object]:
    """The e2e cycle's timings under the bench's names (issue 16's goals next to them)."""
    return {"apply_s": timings["apply_v2_s"], "apply_bytes_written": timings["apply_v2_bytes_written"],
            "image_bytes": timings["image_bytes"], "reboot_to_healthy_s": timings["reboot_v2_to_healthy_s"],
            "rollback_s": timings["v3_trial_to_back_on_v2_s"], "boot_v1_to_ssh_s": timings["boot_v1_to_ssh_s"],
            "total_s": timings["total_s"]}


def run_vm(work: Path, installed: Path | None, cpus: int | None) -> None:
    from tests.e2e.test_install import STATIC_IP, InstalledNode, overlay_of, pxe_install
    from tests.e2e.test_update import make_update_images, update_cycle
    from tests.e2e.vm import PXE_DIR, VM, VM_CPUS, Disk, make_ssh_key

    cpus = cpus or VM_CPUS

    if not (PXE_DIR / "boot.ipxe").exists():
        emit("update", None, skipped=f"{PXE_DIR} missing: run make pxe")
        return
    images = make_update_images(work / "images")
    if installed is not None and (installed / "installed.json").exists():
        node = InstalledNode(installed / "disk0.qcow2", make_ssh_key(installed),
                             json.loads((installed / "installed.json").read_text()))
    else:
        target = installed or work / "installed"
        node = pxe_install(target)
        (target / "installed.json").write_text(json.dumps(node.timings))
    vm = VM("update-bench", work / "vm", boot="disk", memory=2048, cpus=cpus, ssh_to=STATIC_IP, allow_reboot=True,
            disks=[Disk(overlay_of(node, work / "update.qcow2"))], pxe_dir=images.serve_dir,
            http_files={"README": "hcinode update bench images\n"})
    try:
        timings = update_cycle(node.key, images, vm)
    finally:
        vm.kill()
    for name, value in measurements(timings).items():
        emit(name, value, accel=vm.accel, cpus=cpus)
    emit("goal_apply_under_120s", timings["apply_v2_s"] <= 120)  # type: ignore[operator]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vm", action="store_true", help="install a VM and update it (minutes, root)")
    parser.add_argument("--installed", type=Path, help="keep the installed disk here and reuse it")
    parser.add_argument("--cpus", type=int, help="the updated VM's vCPUs (default: as the e2e tests, VM_CPUS)")
    args = parser.parse_args()
    if not args.vm:
        emit("update", None, skipped="needs --vm (a PXE-installed VM under the VM lock)")
        return 0
    with tempfile.TemporaryDirectory(prefix="hcinode-bench-update-") as tmp:
        run_vm(Path(tmp), args.installed, args.cpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
