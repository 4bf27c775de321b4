"""The ISO install with the kickstart on a second, labelled disk (inst.ks=hd:LABEL=HCIKS:/ks.cfg),
under UEFI; the installed disk then boots alone. Slow (a second full install): make e2e-full."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_install import _sha256, check_installed_console, kickstart, run_install
from tests.e2e.vm import VM, Disk, make_disk


def iso_install_with_labelled_kickstart_disk(work: Path, firmware: str) -> dict[str, Any]:
    """The ISO's kernel with inst.ks=hd:LABEL=HCIKS:/ks.cfg; the kickstart on a second, labelled disk."""
    from nodecore.runner import LocalRunner

    work.mkdir(parents=True, exist_ok=True)
    disk = make_disk(work / "disk0.qcow2", "20G")
    ks_dir = work / "ks"
    ks_dir.mkdir()
    (ks_dir / "ks.cfg").write_text(kickstart())
    ks_disk = work / "ks.raw"
    LocalRunner().run(["mkfs.ext4", "-q", "-F", "-L", "HCIKS", "-d", str(ks_dir), str(ks_disk), "16M"])
    ks_sum = _sha256(ks_disk)
    installer = VM("install-iso", work / "install", boot="kernel", firmware=firmware, memory=2048,
                   kernel_args=["inst.ks=hd:LABEL=HCIKS:/ks.cfg"], disks=[Disk(disk), Disk(ks_disk)])
    try:
        phases: dict[str, Any] = run_install(installer)
    finally:
        installer.kill()
    assert _sha256(ks_disk) == ks_sum, "the kickstart disk was written to"
    node = VM(f"installed-{firmware}", work / f"installed-{firmware}", boot="disk", firmware=firmware,
              memory=1536, disks=[Disk(disk)])
    try:
        phases[f"disk_boot_to_console_{firmware}_s"] = round(check_installed_console(node), 1)
    finally:
        node.kill()
    return phases



@pytest.mark.e2e
@pytest.mark.e2e_full
def test_iso_install_with_kickstart_on_labelled_disk_uefi(node_iso: Path, tmp_path: Path) -> None:
    phases = iso_install_with_labelled_kickstart_disk(tmp_path, firmware="uefi")
    print("install timings:", phases)
