"""bench/update.py's names for the e2e cycle's timings; the e2e test's v2/v3 are the session's image
with another version (v3: and a unit that fails at boot), served with the kernel and initrd beside."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from installer.target import sha256_file
from tests.e2e.test_update import BROKEN_UNIT, V2, V3, make_update_images

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


def test_update_images_are_the_session_image_with_a_version_change_and_the_kernel_beside(tmp_path) -> None:
    pxe = tmp_path / "pxe"
    (pxe / "root/usr/share/hcinode").mkdir(parents=True)
    (pxe / "root/usr/share/hcinode/image.json").write_text(json.dumps({"version": "0.1.0", "architecture": "amd64"}))
    subprocess.run(["mksquashfs", str(pxe / "root"), str(pxe / "filesystem.squashfs"), "-quiet", "-no-progress"],
                   check=True)
    for name in ("vmlinuz", "initrd.img"):
        (pxe / name).write_text(name)
    images = make_update_images(tmp_path / "work", pxe)
    for version in (V2, V3):
        directory = images.serve_dir / version
        unpacked = tmp_path / f"check-{version}"
        subprocess.run(["unsquashfs", "-q", "-d", str(unpacked), str(directory / "filesystem.squashfs")], check=True,
                       capture_output=True)
        assert json.loads((unpacked / "usr/share/hcinode/image.json").read_text())["version"] == version
        broken = unpacked / "etc/systemd/system/multi-user.target.wants/hcinode-e2e-broken.service"
        assert broken.is_symlink() == (version == V3)
        sums = (directory / "SHA256SUMS").read_text()
        for name in ("filesystem.squashfs", "vmlinuz", "initrd.img"):
            assert f"{sha256_file(str(directory / name))}  {name}\n" in sums
        assert (directory / "vmlinuz").stat().st_ino == (pxe / "vmlinuz").stat().st_ino  # a hard link
    assert BROKEN_UNIT.count("ExecStart=/bin/false") == 1
    before = (images.serve_dir / V2 / "filesystem.squashfs").stat().st_mtime_ns
    assert make_update_images(tmp_path / "work", pxe).sizes == images.sizes  # the same image: not made again
    assert (images.serve_dir / V2 / "filesystem.squashfs").stat().st_mtime_ns == before
