"""Unattended installs in VMs: PXE (and the ISO) boot with inst.ks=, the installer writes the disk
and powers the VM off, then the disk alone boots to the node console with the kickstart's host name
and static address. A second disk full of data must come out byte for byte the same.

The PXE install runs once per test session (the `installed_node` fixture in conftest.py, via
`pxe_install`); tests boot qcow2 overlays of that pristine disk. The kickstart authorizes the
session's ed25519 key for root, so tests reach the installed node over ssh (tests/e2e/vm.py).

`install_and_boot` is also what bench/install.py times.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.vm import VM, Disk, SshKey, make_disk, make_ssh_key, vm_ssh, wait_for_ssh

HOSTNAME = "e2e-node1.example.com"
STATIC_IP = "10.0.2.50"
# "hcinode-e2e" (SHA-512 crypt): the test logs in with it on the installed node's console
ROOT_HASH = "$6$gJ7NaWK0lOjPsXDf$O/bngIIAn7g.vWDTAUnvznQyQSfyZjKqEjHeKUYCTh/btfUofRxTQQqK9Yuw2/wM4hROMvxdQPPscqaw2DNcJ."
INSTALL_TIMEOUT = 2400  # TCG on 2 shared cores: live boot + blivet + copy + initramfs
BOOT_TIMEOUT = 900


NET_TAIL = f"--gateway=10.0.2.254 --nameserver=10.0.2.3 --hostname={HOSTNAME}"


def kickstart(disk: str = "vda", sshkey: str = "", join: dict[str, str] | None = None) -> str:
    """`join`: the %hcinode keys engine_url, join_token, ca_fingerprint (the node joins at first boot)."""
    key = f'sshkey --username=root "{sshkey}"\n' if sshkey else ""
    hcinode = "".join(f"{k} = {v}\n" for k, v in (join or {}).items())
    return f"""# hcinode e2e: the oVirt Node NG style default layout on the first disk only
text
eula --agreed
ignoredisk --only-use={disk}
clearpart --all --initlabel --drives={disk}
zerombr
autopart --type=thinp
rootpw --iscrypted {ROOT_HASH}
{key}network --device=link --bootproto=static --ip={STATIC_IP} --netmask=255.255.255.0 {NET_TAIL}
# TCG on shared cores: udev may need longer than systemd's 90 s default to settle the LVs. No console=
# here: the installed node must keep the serial console the installer was booted with by itself
bootloader --append="systemd.default_timeout_start_sec=900" --timeout=1
timezone UTC
poweroff

%post --log=/root/ks-post.log
echo "post ran in the target" > /root/post-ran
%end
""" + (f"\n%hcinode\n{hcinode}%end\n" if hcinode else "")


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
    # an installer that fails says so on the serial line and waits there: stop at once, not at the timeout
    match = vm.expect([r"hcinode installed on /dev/vda", r"hcinode: INSTALL FAILED[^\r\n]*"], timeout=INSTALL_TIMEOUT)
    assert match is None or b"FAILED" not in match.group(0), f"{match.group(0).decode()}\n{vm.tail(4000)}"
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


def check_installed_console(vm: VM, poweroff: bool = True) -> float:
    """The installed node (disk alone, no boot=live) reaches its console (the TUI's status page, or
    the banner) showing the kickstart's host name and static address. All of it on the serial line:
    the kickstart names no console, so GRUB's serial terminal and the kernel's console=ttyS0 come
    from the console the installer was booted with."""
    vm.start()
    vm.expect(rf"hcinode \({re.escape(HOSTNAME)}\)", timeout=300)  # the installed GRUB's menu, on ttyS0
    vm.expect(rf"Hostname set to <{re.escape(HOSTNAME)}>", timeout=BOOT_TIMEOUT)  # /etc/hostname
    vm.expect(rf"hcinode 0\.\d+\.\d+ \| {re.escape(HOSTNAME)}|hostname: {re.escape(HOSTNAME)}", timeout=600)
    vm.expect(rf"{re.escape(STATIC_IP)}/24", timeout=300)  # the management address, from the kickstart
    seconds = vm.seconds_since_start()
    if poweroff:
        vm.poweroff()
    return seconds


@dataclass(frozen=True)
class InstalledNode:
    """A disk the PXE install wrote (never booted: boot overlays of it) and the key root accepts."""

    disk: Path
    key: SshKey
    timings: dict[str, Any]


def pxe_install(work: Path, join: dict[str, str] | None = None) -> InstalledNode:
    """PXE boot with inst.ks over HTTP from 10.0.2.2, unattended install to vda, power-off.

    A second disk full of random data is attached and must come out byte for byte the same.
    `join`: %hcinode join settings (the kickstart() argument); timings["join"] records the engine
    URL and pin (not the token)."""
    from tests.e2e.vm import PXE_DIR

    work.mkdir(parents=True, exist_ok=True)
    key = make_ssh_key(work)
    disk = make_disk(work / "disk0.qcow2", "20G")
    data = work / "data.raw"
    data_sum = make_data_disk(data)
    t0 = time.monotonic()
    installer = VM("install", work / "install", boot="pxe", firmware="bios", pxe_dir=PXE_DIR, memory=2048,
                   kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                   http_files={"ks.cfg": kickstart(sshkey=key.public, join=join)}, disks=[Disk(disk), Disk(data)])
    try:
        timings: dict[str, Any] = run_install(installer)
    finally:
        installer.kill()
    assert _sha256(data) == data_sum, "the second disk was touched by the install"
    data.unlink()
    timings["pxe_install_total_s"] = round(time.monotonic() - t0, 1)
    if join:
        timings["join"] = {"engine_url": join["engine_url"], "ca_fingerprint": join["ca_fingerprint"]}
    return InstalledNode(disk, key, timings)


def overlay_of(node: InstalledNode, path: Path) -> Path:
    """A qcow2 overlay backed by the installed disk: a boot writes there, the install stays pristine."""
    return make_disk(path, "20G", backing=node.disk)


def check_disk_boot(vm: VM, node: InstalledNode, firmware: str) -> dict[str, float]:
    """Start `vm` (an overlay of the installed disk alone): console with host name and static IP,
    then ssh with the kickstart's key confirms the firmware the node booted under. Left running."""
    console = check_installed_console(vm, poweroff=False)
    vm.drain_serial()
    out = wait_for_ssh(vm, node.key, timeout=600, command="hostname; test -d /sys/firmware/efi && "
                       "echo firmware=uefi || echo firmware=bios; ls /boot/efi/EFI/BOOT")
    ssh_at = vm.seconds_since_start()
    assert HOSTNAME.split(".")[0] in out and f"firmware={firmware}" in out, out
    assert "BOOTX64.EFI" in out, out  # the removable path OVMF falls back to (no NVRAM entry)
    addr = vm_ssh(vm, node.key, f"ip -o -4 addr show | grep -F ' {STATIC_IP}/24'").stdout
    assert STATIC_IP in addr
    # the live console= arguments were carried into the installed bootloader (not in the kickstart)
    boot = vm_ssh(vm, node.key, "cat /proc/cmdline; grep -E '^GRUB_(TERMINAL|SERIAL_COMMAND)' /etc/default/grub"
                  ).stdout
    assert "console=ttyS0,115200n8" in boot and "GRUB_TERMINAL='console serial'" in boot, boot
    assert "--unit=0 --speed=115200" in boot and "inst.ks" not in boot, boot
    return {f"disk_boot_to_console_{firmware}_s": round(console, 1), f"disk_boot_to_ssh_{firmware}_s": round(ssh_at, 1)}


def boot_installed(node: InstalledNode, work: Path, firmware: str) -> dict[str, float]:
    """Boot an overlay of the installed disk alone (check_disk_boot), then power it off."""
    work.mkdir(parents=True, exist_ok=True)
    vm = VM(f"installed-{firmware}", work, boot="disk", firmware=firmware, memory=1536, ssh_to=STATIC_IP,
            disks=[Disk(overlay_of(node, work / "overlay.qcow2"))])
    try:
        timings = check_disk_boot(vm, node, firmware)
        vm.poweroff()
    finally:
        vm.kill()
    return timings


def install_and_boot(work: Path, *, firmware: str = "bios", also_uefi: bool = False) -> dict[str, Any]:
    """PXE install, then boot the disk alone (BIOS, and UEFI too with also_uefi); returns timings."""
    t0 = time.monotonic()
    node = pxe_install(work)
    phases = dict(node.timings)
    for fw in (["bios", "uefi"] if also_uefi else [firmware]):
        phases.update(boot_installed(node, work / f"installed-{fw}", fw))
    return {"total_s": round(time.monotonic() - t0, 1), "phases": phases}


# make e2e boots the installed disk under BIOS in the join and network tests (overlays of this
# install) and under UEFI with these checks (check_disk_boot) in test_update.py's make e2e proof:
# both variants here are make e2e-full's
@pytest.mark.e2e
@pytest.mark.e2e_full
@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_pxe_install_then_boot_from_disk(installed_node: InstalledNode, tmp_path: Path, firmware: str) -> None:
    """The installed disk (PXE install, BIOS) boots alone; under UEFI OVMF with an empty variable
    store finds EFI/BOOT/BOOTX64.EFI (shim -> grub) on the ESP."""
    phases = {**installed_node.timings, **boot_installed(installed_node, tmp_path / firmware, firmware)}
    print("install timings:", phases)
