"""The ISO install with the kickstart on a second, labelled disk (inst.ks=hd:LABEL=HCIKS:/ks.cfg),
under UEFI; the installed disk then boots alone, with the NVRAM the install left behind: the
firmware must boot it through the "hcinode" entry efibootmgr created (not the removable-media
fallback path). Slow (a second full install): make e2e-full."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_install import _sha256, check_installed_console, kickstart, run_install
from tests.e2e.vm import VM, Disk, make_disk

# OVMF on the serial console, e.g. BdsDxe: loading Boot0004 "hcinode" from HD(2,GPT,...)/\EFI\debian\shimx64.efi
NVRAM_BOOT = re.compile(rb'BdsDxe: loading Boot([0-9A-F]{4}) "hcinode" from HD\(')


@dataclass
class VMWithNvram(VM):
    """A UEFI VM that starts from a saved variable store (the installer VM's) instead of a blank one."""

    nvram: Path | None = None

    def qemu_argv(self) -> list[str]:
        argv = super().qemu_argv()  # copies the blank OVMF_VARS.fd into the workdir ...
        if self.nvram:
            shutil.copyfile(self.nvram, self.workdir / "OVMF_VARS.fd")  # ... which this replaces
        return argv


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
    nvram = work / "install" / "OVMF_VARS.fd" if firmware == "uefi" else None
    node = VMWithNvram(f"installed-{firmware}", work / f"installed-{firmware}", boot="disk", firmware=firmware,
                       memory=1536, disks=[Disk(disk)], nvram=nvram)
    try:
        phases[f"disk_boot_to_console_{firmware}_s"] = round(check_installed_console(node), 1)
    finally:
        node.kill()
    if firmware == "uefi":
        serial = (node.workdir / "serial.log").read_bytes()
        entry = NVRAM_BOOT.search(serial)
        assert entry, "the first boot of the disk did not go through the 'hcinode' NVRAM entry: " + \
            " | ".join(m.decode(errors="replace") for m in re.findall(rb"BdsDxe: [^\r\n]*", serial))
        phases["nvram_entry"] = f"Boot{entry.group(1).decode()}"
    return phases


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_iso_install_with_kickstart_on_labelled_disk_uefi(node_iso: Path, tmp_path: Path) -> None:
    """The ISO install under UEFI; the disk then boots through the installer's NVRAM entry."""
    phases = iso_install_with_labelled_kickstart_disk(tmp_path, firmware="uefi")
    print("install timings:", phases)
