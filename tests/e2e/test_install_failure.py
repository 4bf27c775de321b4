"""A failing and an interrupted unattended install in VMs (make e2e-full).

The first test's install run proves two things:

1. `ip=CLIENT::GW:NETMASK:HOSTNAME:IFACE:none` on the kernel command line decides the live
   system's network (hcinode-cmdline-network.service -> nm-initrd-generator -> NetworkManager):
   the kickstart is fetched over http from 10.0.2.60, and no DHCP address shows up;
2. a `%post --erroronfail` that fails: the console names the failing step and the logs, `%onerror`
   runs, the machine does not follow the kickstart's `reboot`, the logs are on the target disk
   (read back by a second VM from the disk itself), and the disk does not boot the half-installed
   system (GRUB says so and hands back to the firmware).

The second test cuts the power during the payload copy and boots the install media again with the
same kickstart: the re-run starts over (the live system's journal was in RAM), completes, and the
disk boots to the node console.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_install import check_installed_console, kickstart, run_install
from tests.e2e.test_install_iso import VMWithNvram
from tests.e2e.vm import VM, Disk, make_disk, root_shell

IFACE = "enp0s2"  # the user-net NIC of the harness's VMs (q35, PCI slot 2)
LIVE_IP = "10.0.2.60"
BOOT_TIMEOUT = 900
INSTALL_TIMEOUT = 2400

FAILING_SECTIONS = """
%post --erroronfail --log=/root/ks-post-fail.log
echo "hcinode-e2e: this %post fails on purpose"
exit 7
%end

%onerror
echo "hcinode-e2e: %onerror ran, target $HCINODE_TARGET"
echo onerror-ran > "$HCINODE_TARGET/root/onerror-ran"
%end
"""


def failing_kickstart() -> str:
    """The e2e kickstart, but `reboot` at the end (a wrong reboot would end the VM: -no-reboot) and a
    second %post that fails with --erroronfail, plus an %onerror."""
    text = kickstart()
    assert "\npoweroff\n" in text
    return text.replace("\npoweroff\n", "\nreboot\n") + FAILING_SECTIONS


def _install_until_failure(vm: VM) -> dict[str, float]:
    vm.start()
    # 1. the live system's network comes from ip=: the profile, the address, the fetch
    vm.expect(rf"hcinode: network from the kernel command line: connection\.interface-name={IFACE} "
              rf"ipv4\.address1={re.escape(LIVE_IP)}/24,10\.0\.2\.254 ipv4\.dns=10\.0\.2\.3;? ipv4\.method=manual",
              timeout=BOOT_TIMEOUT)
    vm.expect(r"hcinode: unattended install from inst\.ks=http://10\.0\.2\.2:\d+/ks\.cfg", timeout=BOOT_TIMEOUT)
    started = vm.seconds_since_start()
    vm.expect(rf"hcinode: live network: {IFACE} {re.escape(LIVE_IP)}/24", timeout=300)
    vm.expect(rf"kickstart: http://10\.0\.2\.2:\d+/ks\.cfg \(fetched over {re.escape(LIVE_IP)}\)", timeout=300)
    # 2. the failure, as the console tells it
    vm.expect(r"the install FAILED at step \d+/\d+: Run 2 %post script\(s\)", timeout=INSTALL_TIMEOUT)
    failed = vm.seconds_since_start()
    vm.expect(r"%post script 2 \(kickstart line \d+\) failed with exit code 7; its log: "
              r"/run/hcinode/install/logs/ks-script-post-2\.log", timeout=60)
    vm.expect(r"%onerror script 1 ran \(exit code 0\); its log: /run/hcinode/install/logs/ks-script-onerror-1\.log",
              timeout=60)
    vm.expect(r"the logs are kept on the target disk in /var/log/hcinode-install \(on /dev/mapper/onn-var_log\)",
              timeout=60)
    vm.expect(r"this machine does not reboot", timeout=60)
    vm.expect(r"fix the cause and run again to resume at step \d+: hcinode install --kickstart http://", timeout=60)
    vm.expect(r"hcinode: INSTALL FAILED \(exit code 1\)", timeout=60)
    # the kickstart says reboot, but a failed install must stay up: the console comes instead (the node
    # pages: the TUI shows the installer flow only on media booted without inst.ks=)
    vm.expect(r"Node status|What to do|Press Enter for a shell", timeout=600)
    time.sleep(30)
    assert vm.child is not None and vm.child.isalive(), "the VM rebooted or powered off after the failure"
    log = (vm.workdir / "serial.log").read_bytes().decode(errors="replace")
    live = re.findall(r"hcinode: live network: (\S+) (\S+)", log)
    assert live == [(IFACE, f"{LIVE_IP}/24")], f"the live system had other addresses: {live}"
    assert "10.0.2.15" not in log, "a DHCP address (10.0.2.15) showed up next to the static ip="
    assert "reboot: Restarting system" not in log and "Rebooting." not in log
    access = (vm.workdir / "http-access.log").read_text()
    assert re.search(r'"GET /ks\.cfg HTTP/1\.1" 200', access), access
    return {"boot_to_installer_s": round(started, 1), "install_until_failure_s": round(failed - started, 1)}


def _disk_refuses_to_boot(vm: VM) -> float:
    """The half-installed disk alone: GRUB's guard speaks and hands back; no menu, no kernel."""
    vm.start()
    vm.expect(r"the install on this disk did not finish", timeout=300)
    seconds = vm.seconds_since_start()
    time.sleep(90)  # long enough for GRUB to load a kernel and for that kernel to print its banner
    log = (vm.workdir / "serial.log").read_bytes().decode(errors="replace")
    after = log[log.index("did not finish"):]
    for sign in ("Linux version", "Hostname set to", "hcinode (e2e-node1", "can't find command"):
        assert sign not in after, f"{sign!r} after the guard's message:\n{after[-3000:]}"
    vm.kill()
    return seconds


def _logs_on_the_disk(vm: VM) -> str:
    """Another live boot (rescue shell) reads the logs back from the target's LVs and /boot."""
    vm.start()
    root_shell(vm)
    vm.run("vgchange -ay onn >/dev/null 2>&1; udevadm settle; mkdir -p /mnt/log /mnt/root /mnt/boot", timeout=600)
    # /boot: the ext4 partition of vda (blivet numbers the partitions in its own order)
    vm.run("mount -o ro /dev/onn/var_log /mnt/log && mount -o ro /dev/onn/root /mnt/root && mount -o ro "
           "$(blkid -o device -t TYPE=ext4 /dev/vda[0-9] | head -1) /mnt/boot", timeout=300)
    listing = vm.run("ls /mnt/log/hcinode-install/ /mnt/boot/", timeout=60)
    for name in ("hcinode.log", "hcinode-ks.cfg", "install-failed.txt", "ks-script-post-1.log",
                 "ks-script-post-2.log", "ks-script-onerror-1.log", "hcinode-install-unfinished"):
        assert name in listing, f"{name} missing on the target: {listing}"
    failed = vm.run("cat /mnt/log/hcinode-install/install-failed.txt", timeout=60)
    assert re.search(r"the install FAILED at step \d+/\d+: Run 2 %post script", failed), failed
    post = vm.run("cat /mnt/log/hcinode-install/ks-script-post-2.log /mnt/root/root/ks-post-fail.log", timeout=60)
    assert post.count("hcinode-e2e: this %post fails on purpose") == 2 and "exit code 7" in post, post
    onerror = vm.run("cat /mnt/log/hcinode-install/ks-script-onerror-1.log /mnt/root/root/onerror-ran", timeout=60)
    assert "hcinode-e2e: %onerror ran, target /run/hcinode/target" in onerror and "onerror-ran" in onerror, onerror
    journal = vm.run("grep -c 'failed: Run 2 %post' /mnt/log/hcinode-install/hcinode.log", timeout=60)
    assert journal.strip() not in ("", "0"), journal
    vm.run("umount /mnt/log /mnt/root /mnt/boot", timeout=60)
    vm.kill()
    return listing


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_static_ip_fetch_then_failed_post_keeps_logs_and_never_boots_half_installed(
        node_iso: Path, vm_factory: Callable[..., VM], tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "disk0.qcow2", "20G")
    t0 = time.monotonic()
    installer = vm_factory(
        "install-fail", boot="kernel", iso=node_iso, memory=2048, disks=[Disk(disk)],
        kernel_args=[f"ip={LIVE_IP}::10.0.2.254:255.255.255.0:ksnode:{IFACE}:none", "nameserver=10.0.2.3",
                     "inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
        http_files={"ks.cfg": failing_kickstart()})
    phases: dict[str, float] = _install_until_failure(installer)
    installer.kill()
    phases["disk_boot_to_guard_s"] = round(_disk_refuses_to_boot(
        vm_factory("half-installed", boot="disk", memory=1024, disks=[Disk(disk)])), 1)
    rescue_started = time.monotonic()
    _logs_on_the_disk(vm_factory("rescue", boot="kernel", iso=node_iso, memory=1536, disks=[Disk(disk)],
                                 kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1"]))
    phases["rescue_read_logs_s"] = round(time.monotonic() - rescue_started, 1)
    phases["total_s"] = round(time.monotonic() - t0, 1)
    print("install failure timings:", phases)


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_power_loss_during_payload_copy_then_rerun_completes(
        node_iso: Path, vm_factory: Callable[..., VM], tmp_path: Path) -> None:
    disk = make_disk(tmp_path / "disk0.qcow2", "20G")
    t0 = time.monotonic()

    def installer(name: str) -> VM:
        return vm_factory(name, boot="kernel", iso=node_iso, memory=2048, disks=[Disk(disk)],
                          kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                          http_files={"ks.cfg": kickstart()})

    first = installer("interrupted")
    first.start()
    first.expect(r"done\s+Mount the new file systems on /run/hcinode/target", timeout=BOOT_TIMEOUT + INSTALL_TIMEOUT)
    time.sleep(5)  # unsquashfs is writing the root file system now
    first.kill()  # the power cut: no unmount, no sync
    log = (first.workdir / "serial.log").read_bytes().decode(errors="replace")
    assert "done     Copy the node image" not in log, "the copy finished before the power cut; test is void"
    interrupted_at = round(time.monotonic() - t0, 1)

    phases: dict[str, float] = {"power_cut_after_s": interrupted_at}
    phases.update({f"rerun_{k}": v for k, v in run_install(installer("rerun")).items()
                   if not k.startswith("step: ")})
    phases["disk_boot_to_console_bios_s"] = round(check_installed_console(
        vm_factory("installed", boot="disk", memory=1536, disks=[Disk(disk)])), 1)
    phases["total_s"] = round(time.monotonic() - t0, 1)
    print("power loss + re-run timings:", phases)


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_failed_install_under_uefi_never_boots_half_installed(
        node_iso: Path, vm_factory: Callable[..., VM], tmp_path: Path) -> None:
    """The GRUB guard under UEFI (shim + Debian's signed GRUB), booted through the NVRAM entry the
    failed install left: the message, then back to the firmware, never the installed kernel."""
    disk = make_disk(tmp_path / "disk0.qcow2", "20G")
    t0 = time.monotonic()
    installer = vm_factory("install-fail-uefi", boot="kernel", iso=node_iso, firmware="uefi", memory=2048,
                           disks=[Disk(disk)], kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                           http_files={"ks.cfg": failing_kickstart()})
    installer.start()
    installer.expect(r"the install FAILED at step \d+/\d+: Run 2 %post script\(s\)",
                     timeout=BOOT_TIMEOUT + INSTALL_TIMEOUT)
    installer.expect(r"hcinode: INSTALL FAILED \(exit code 1\)", timeout=120)
    installer.kill()
    failed_at = round(time.monotonic() - t0, 1)
    half = VMWithNvram("half-installed-uefi", tmp_path / "half-installed-uefi", boot="disk", firmware="uefi",
                       memory=1024, disks=[Disk(disk)], nvram=installer.workdir / "OVMF_VARS.fd")
    try:
        guard_s = _disk_refuses_to_boot(half)
    finally:
        half.kill()
    log = (half.workdir / "serial.log").read_bytes().decode(errors="replace")
    assert 'BdsDxe: loading Boot' in log and '"hcinode"' in log, "not booted through the hcinode entry"
    print("uefi failure timings:", {"install_until_failure_s": failed_at, "disk_boot_to_guard_s": round(guard_s, 1)})


@pytest.mark.e2e
@pytest.mark.e2e_full
def test_pxe_static_ip_replaces_the_initramfs_dhcp(pxe_dir: Path, vm_factory: Callable[..., VM]) -> None:
    """PXE (fetch=): live-boot's initramfs DHCPs for the squashfs and lists the NIC as 'manual' in
    /etc/network/interfaces; with ip= the live system still ends up on the static address only."""
    vm = vm_factory("pxe-static-ip", boot="pxe", pxe_dir=pxe_dir, memory=2048,
                    kernel_args=[f"ip={LIVE_IP}::10.0.2.254:255.255.255.0:ksnode:{IFACE}:none", "nameserver=10.0.2.3",
                                 "inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                    http_files={"ks.cfg": failing_kickstart()})
    vm.start()
    # (the service's own line goes to /dev/console: tty0 here, the last console= of boot.ipxe)
    vm.expect(rf"hcinode: live network: {IFACE} {re.escape(LIVE_IP)}/24", timeout=BOOT_TIMEOUT)
    vm.expect(rf"kickstart: http://10\.0\.2\.2:\d+/ks\.cfg \(fetched over {re.escape(LIVE_IP)}\)", timeout=300)
    seconds = vm.seconds_since_start()
    vm.kill()
    log = (vm.workdir / "serial.log").read_bytes().decode(errors="replace")
    live = re.findall(r"hcinode: live network: (\S+) (\S+)", log)
    assert live == [(IFACE, f"{LIVE_IP}/24")], f"the initramfs DHCP address survived: {live}"
    print("pxe static ip= timings:", {"power_on_to_fetch_s": round(seconds, 1)})
