"""PXE with two NICs: BOOTIF= from the boot loader binds the live system's network to the NIC that
booted (make e2e-full).

build/pxe's loaders pass BOOTIF= (iPXE: ${netX/mac:hexhyp}; grub: $net_default_mac), live-boot
fetches the squashfs over that NIC, hcinode-cmdline-network hands the command line to
nm-initrd-generator, and NetworkManager activates the generated DHCP profile bound to that MAC and
nothing on the other NIC (which would get an address in the same subnet from its own user-net).
The kickstart's %pre (run on the live system after the fetch) prints what the live system sees to
the serial line; the test stops there (no install).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.test_install import kickstart
from tests.e2e.vm import VM, Disk, make_disk

BOOT_NIC, BOOT_MAC = "enp0s2", "52:54:00:12:34:56"  # the harness's NIC 0 (bootindex=1)
OTHER_NIC = "enp0s3"  # NIC 1: another user-net, which also answers DHCP
BOOT_TIMEOUT = 900

# each line: "bootif-e2e KEY: output, lines joined by |"
REPORT = rf"""
%pre
exec >/dev/ttyS0 2>&1
show() {{ printf 'bootif-e2e %s: %s\n' "$1" "$(sh -c "$2" 2>&1 | tr '\n' '|')"; }}
show cmdline 'cat /proc/cmdline'
show boot-nic-mac 'cat /sys/class/net/{BOOT_NIC}/address'
uuid=$(nmcli -g GENERAL.CON-UUID device show {BOOT_NIC})
show boot-nic-profile "grep -h -e '^mac-address=' -e '^interface-name=' -e '^method=' -e 'NetworkManager.origin=' \
    \$(grep -l '^uuid=$uuid\$' /run/NetworkManager/system-connections/*.nmconnection)"
show other-nic 'nmcli -g GENERAL.STATE,GENERAL.CONNECTION device show {OTHER_NIC}'
show addresses 'ip -4 -o addr show scope global'
show route 'ip route get 10.0.2.2'
show failed-units 'systemctl --failed --no-legend --plain'
show failed-logs 'systemctl --failed --no-legend --plain | while read -r u _; do journalctl -b -u "$u" -n5 -ocat; done'
echo "bootif-e2e done"
%end
"""


def _report(log: str) -> dict[str, str]:
    return {k: v.strip() for k, v in re.findall(r"bootif-e2e ([\w-]+): ([^\r\n]*)", log)}


@pytest.mark.e2e
@pytest.mark.e2e_full
@pytest.mark.parametrize("firmware", ["bios", "uefi"])  # iPXE's boot.ipxe, grubnetx64's grub/hcinode.cfg
def test_pxe_bootif_binds_the_live_network_to_the_boot_nic(
        pxe_dir: Path, vm_factory: Callable[..., VM], tmp_path: Path, firmware: str) -> None:
    vm = vm_factory(f"pxe-bootif-{firmware}", boot="pxe", firmware=firmware, pxe_dir=pxe_dir, memory=2048, nics=2,
                    disks=[Disk(make_disk(tmp_path / "disk0.qcow2", "20G"))],
                    kernel_args=["inst.ks=http://10.0.2.2:{http_port}/ks.cfg"],
                    http_files={"ks.cfg": kickstart() + REPORT})
    vm.start()
    fetched = vm.expect(r"kickstart: http://10\.0\.2\.2:\d+/ks\.cfg \(fetched over (\S+)\)", timeout=BOOT_TIMEOUT)
    seconds = vm.seconds_since_start()
    vm.expect(r"bootif-e2e done", timeout=300)
    vm.kill()
    log = (vm.workdir / "serial.log").read_bytes().decode(errors="replace")
    report = _report(log)
    print(f"pxe bootif ({firmware}) report:", report)
    # the loader named the NIC that booted (iPXE: dashes; grub: colons)
    dashed = BOOT_MAC.replace(":", "-")
    assert re.search(rf"(^| )BOOTIF=01-({dashed}|{BOOT_MAC})( |$)", report["cmdline"]), report["cmdline"]
    assert report["boot-nic-mac"].rstrip("|") == BOOT_MAC
    # NetworkManager runs the generator's DHCP profile on it, bound to its MAC, not to a name
    profile = report["boot-nic-profile"].split("|")
    assert "org.freedesktop.NetworkManager.origin=nm-initrd-generator" in profile, profile
    assert f"mac-address={BOOT_MAC}" in profile and "method=auto" in profile, profile
    assert not any(p.startswith("interface-name=") for p in profile), profile
    # the other NIC stays down: no default DHCP profile for it (no-auto-default from the service)
    assert "(connected)" not in report["other-nic"] and f" {OTHER_NIC} " not in report["addresses"], report
    # the kickstart came over the boot NIC: the route to the server and the fetch's source address
    assert f"dev {BOOT_NIC} " in report["route"], report["route"]
    boot_addresses = re.findall(rf"\d+: {BOOT_NIC}\s+inet ([\d.]+)/", report["addresses"])
    assert fetched is not None and fetched.group(1).decode() in boot_addresses, (fetched, report["addresses"])
    access = (vm.workdir / "http-access.log").read_text()
    assert re.search(r'"GET /ks\.cfg HTTP/1\.1" 200', access), access
    print(f"pxe bootif ({firmware}) timings:", {"power_on_to_fetch_s": round(seconds, 1)})
