"""GRUB as the installer writes it (BIOS core.img in the BIOS boot partition, UEFI signed shim +
grub on the ESP), on a partitioned disk image, then booted in QEMU under SeaBIOS and OVMF until
the installed node's GRUB menu shows on the serial line. Root; no device-mapper needed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from installer import target
from nodecore.runner import LocalRunner

pytestmark = pytest.mark.integration
RUNNER = LocalRunner()
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


@pytest.fixture(scope="module")
def installed_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("boot")
    image = work / "disk.raw"
    RUNNER.run(["truncate", "-s", "1G", str(image)])
    RUNNER.run(["sgdisk", "-n1:0:+1M", "-t1:ef02", "-n2:0:+100M", "-t2:ef00", "-n3:0:+200M", "-t3:8300",
                "-n4:0:0", "-t4:8300", str(image)])
    # This kernel has no partition-table support (no /dev/loopNpM): one loop device for the whole
    # disk (GRUB reads the GPT itself) and one per partition at its offset.
    loop = RUNNER.run(["losetup", "--find", "--show", str(image)]).stdout.strip()
    table = json.loads(RUNNER.run(["sfdisk", "--json", str(image)]).stdout)["partitiontable"]
    parts = [loop]
    for p in table["partitions"]:
        parts.append(RUNNER.run(["losetup", "--find", "--show", "--offset", str(p["start"] * 512), "--sizelimit",
                                 str(p["size"] * 512), str(image)]).stdout.strip())
    tgt = work / "target"
    try:
        RUNNER.run(["mkfs.vfat", "-F", "32", parts[2]])
        RUNNER.run(["mkfs.ext4", "-q", "-F", parts[3]])
        RUNNER.run(["mkfs.ext4", "-q", "-F", parts[4]])
        devices = {
            "biosboot": {"path": parts[1], "fstype": "biosboot", "mountpoint": "", "options": ""},
            "/boot/efi": {"path": parts[2], "fstype": "efi", "mountpoint": "/boot/efi", "options": "umask=0077"},
            "/boot": {"path": parts[3], "fstype": "ext4", "mountpoint": "/boot", "options": "defaults"},
            "/": {"path": parts[4], "fstype": "ext4", "mountpoint": "/", "options": "defaults"},
        }
        devices_file = work / "devices.json"
        devices_file.write_text(json.dumps(devices))
        params = {"target": str(tgt), "devices_file": str(devices_file)}
        # no vfat in this kernel either: the ESP's files land in a directory and go onto the FAT
        # partition with mtools afterwards
        no_esp = work / "devices-no-esp.json"
        no_esp.write_text(json.dumps({k: v for k, v in devices.items() if k != "/boot/efi"}))
        target.mount_target(RUNNER, {**params, "devices_file": str(no_esp)})
        (tgt / "boot/vmlinuz-6.1.0-test").write_bytes(b"not a kernel")
        (tgt / "boot/initrd.img-6.1.0-test").write_bytes(b"not an initrd")
        target.install_bootloader(RUNNER, {**params, "disks": [loop], "append": "console=ttyS0,115200n8",
                                           "timeout": 60, "location": "mbr", "firmware": "bios", "hostname": "n1"})
        efi = tgt / "boot/efi/EFI"
        assert (efi / "BOOT/BOOTX64.EFI").read_bytes() == Path("/usr/lib/shim/shimx64.efi.signed").read_bytes()
        assert (efi / "debian/grub.cfg").exists() and (tgt / "boot/grub/i386-pc/core.img").exists()
        cfg = (tgt / "boot/grub/grub.cfg").read_text()
        assert "root=UUID=" in cfg and "console=ttyS0,115200n8" in cfg
        RUNNER.run(["mcopy", "-s", "-i", parts[2], str(efi), "::/"])
        target.unmount_target(RUNNER, params)
    finally:
        RUNNER.run(["umount", "--recursive", str(tgt)], check=False)
        for dev in parts:
            RUNNER.run(["losetup", "-d", dev], check=False)
    yield image


def _boot_to_grub_menu(image: Path, work: Path, uefi: bool) -> str:
    argv = ["-machine", "q35", "-m", "256", "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio",
            "-accel", "tcg", "-drive", f"file={image},format=raw,if=virtio,snapshot=on", "-net", "none"]
    if uefi:
        vars_copy = work / "vars.fd"
        shutil.copyfile(OVMF_VARS, vars_copy)
        argv += ["-drive", f"if=pflash,format=raw,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,file={vars_copy}"]
    log = open(work / f"serial-{'uefi' if uefi else 'bios'}.log", "wb")  # noqa: SIM115
    child = pexpect.spawn("qemu-system-x86_64", argv, timeout=240, logfile=log)
    try:
        child.expect(r"hcinode \(n1\)", timeout=240)
        return "menu"
    except (pexpect.TIMEOUT, pexpect.EOF):
        log.flush()
        tail = (work / f"serial-{'uefi' if uefi else 'bios'}.log").read_bytes()[-2000:].decode(errors="replace")
        raise AssertionError(f"no GRUB menu of the installed node on the serial line; tail:\n{tail}") from None
    finally:
        child.terminate(force=True)
        log.close()


def test_bios_boots_to_the_installed_grub_menu(installed_disk: Path, tmp_path: Path) -> None:
    assert _boot_to_grub_menu(installed_disk, tmp_path, uefi=False) == "menu"


def test_uefi_boots_shim_and_grub_to_the_installed_grub_menu(installed_disk: Path, tmp_path: Path) -> None:
    assert _boot_to_grub_menu(installed_disk, tmp_path, uefi=True) == "menu"
