"""Unattended installs in VMs: PXE (and the ISO) boot with inst.ks=, the installer writes the disk
and powers the VM off, then the disk alone boots to the node console with the kickstart's host name
and static address. A second disk full of data must come out byte for byte the same.

`install_and_boot` is also what bench/install.py times.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.vm import VM, Disk, make_disk

HOSTNAME = "e2e-node1.example.com"
STATIC_IP = "10.0.2.50"
# "hcinode-e2e" (SHA-512 crypt): the test logs in with it on the installed node's console
ROOT_HASH = "$6$gJ7NaWK0lOjPsXDf$O/bngIIAn7g.vWDTAUnvznQyQSfyZjKqEjHeKUYCTh/btfUofRxTQQqK9Yuw2/wM4hROMvxdQPPscqaw2DNcJ."
INSTALL_TIMEOUT = 2400  # TCG on 2 shared cores: live boot + blivet + copy + initramfs
BOOT_TIMEOUT = 900


NET_TAIL = f"--gateway=10.0.2.254 --nameserver=10.0.2.3 --hostname={HOSTNAME}"


def kickstart(disk: str = "vda") -> str:
    return f"""# hcinode e2e: the oVirt Node NG style default layout on the first disk only
text
eula --agreed
ignoredisk --only-use={disk}
clearpart --all --initlabel --drives={disk}
zerombr
autopart --type=thinp
rootpw --iscrypted {ROOT_HASH}
network --device=link --bootproto=static --ip={STATIC_IP} --netmask=255.255.255.0 {NET_TAIL}
# TCG on shared cores: udev may need longer than systemd's 90 s default to settle the LVs
bootloader --append="console=tty0 console=ttyS0,115200n8 systemd.default_timeout_start_sec=900" --timeout=1
timezone UTC
poweroff

%post --log=/root/ks-post.log
echo "post ran in the target" > /root/post-ran
%end
"""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_data_disk(path: Path, size: int = 64 * 1024 * 1024) -> str:
    path.write_bytes(os.urandom(size))
    return _sha256(path)


def run_install(vm: VM) -> dict[str, float]:
    """Follow an unattended install on the serial console until the VM powers itself off."""
    vm.start()
    vm.expect(r"hcinode: unattended install from inst\.ks=", timeout=BOOT_TIMEOUT)
    started = vm.seconds_since_start()
    vm.expect(r"hcinode installed on /dev/vda", timeout=INSTALL_TIMEOUT)
    installed = vm.seconds_since_start()
    steps = {}
    vm.expect(r"\ds  Unmount /run/hcinode/target", timeout=120)  # the last line of the step timings
    tail = vm.tail(20000)
    for title in ("Partition and format /dev/vda (blivet)", "Install GRUB for BIOS and UEFI", "Run 1 %post script"):
        assert re.search(rf"done\s+{re.escape(title)}", tail), title
    for m in re.finditer(r"^\s+([\d.]+)s  (.+?)\r?$", vm.tail(20000), re.M):
        steps[m.group(2).strip()] = float(m.group(1))
    vm.wait_exit(timeout=300)  # poweroff
    return {"boot_to_installer_s": round(started, 1), "install_s": round(installed - started, 1),
            "until_poweroff_s": round(vm.seconds_since_start(), 1), **{f"step: {k}": v for k, v in steps.items()}}


def check_installed_console(vm: VM) -> float:
    """The installed node (disk alone, no boot=live) reaches its console (the TUI's status page, or
    the banner) showing the kickstart's host name and static address."""
    vm.start()
    vm.expect(rf"hcinode \({re.escape(HOSTNAME)}\)", timeout=300)  # the installed GRUB's menu
    vm.expect(rf"Hostname set to <{re.escape(HOSTNAME)}>", timeout=BOOT_TIMEOUT)  # /etc/hostname
    vm.expect(rf"hcinode 0\.\d+\.\d+ \| {re.escape(HOSTNAME)}|hostname: {re.escape(HOSTNAME)}", timeout=600)
    vm.expect(rf"{re.escape(STATIC_IP)}/24", timeout=300)  # the management address, from the kickstart
    seconds = vm.seconds_since_start()
    vm.poweroff()
    return seconds


def install_and_boot(work: Path, *, firmware: str = "bios", also_uefi: bool = False) -> dict[str, Any]:
    """PXE install (inst.ks over HTTP from 10.0.2.2), then boot the disk alone; returns timings."""
    from tests.e2e.vm import PXE_DIR

    work.mkdir(parents=True, exist_ok=True)
    disk = make_disk(work / "disk0.qcow2", "20G")
    data = work / "data.raw"
    data_sum = make_data_disk(data)
    t0 = time.monotonic()
    installer = VM("install", work / "install", boot="pxe", firmware="bios", pxe_dir=PXE_DIR, memory=2048,
                   kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                   http_files={"ks.cfg": kickstart()}, disks=[Disk(disk), Disk(data)])
    try:
        phases: dict[str, Any] = run_install(installer)
    finally:
        installer.kill()
    assert _sha256(data) == data_sum, "the second disk was touched by the install"
    boots = ["bios", "uefi"] if also_uefi else [firmware]
    for fw in boots:
        node = VM(f"installed-{fw}", work / f"installed-{fw}", boot="disk", firmware=fw, memory=1536,
                  disks=[Disk(disk), Disk(data)])
        try:
            phases[f"disk_boot_to_console_{fw}_s"] = round(check_installed_console(node), 1)
        finally:
            node.kill()
    assert _sha256(data) == data_sum
    return {"total_s": round(time.monotonic() - t0, 1), "phases": phases}


@pytest.mark.e2e
def test_pxe_install_then_boot_from_disk_bios(pxe_dir: Path, tmp_path: Path) -> None:
    result = install_and_boot(tmp_path, firmware="bios")
    print("install timings:", result)
