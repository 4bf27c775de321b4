"""The node image boots to the hcinode console on the serial line: ISO under BIOS and UEFI, and PXE.

Until the TUI exists the console is a banner with "hcinode <version>" and the node's addresses;
the TUI issue makes these tests check its first screen instead.
"""

from __future__ import annotations

import json

import pytest

from nodecore import __version__
from tests.e2e.vm import BUILD

BANNER = rf"hcinode {__version__}"
# QEMU user-net gives the guest 10.0.2.15 by DHCP (NetworkManager)
ADDRESS = r"10\.0\.2\.15/24"
BOOT_TIMEOUT = 600  # TCG on 2 shared cores; a boot takes ~1-3 min


def _record(name: str, seconds: float) -> None:
    """Boot-to-console times for bench/image.py and the report."""
    path = BUILD / "e2e-boot-times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = round(seconds, 1)
    path.write_text(json.dumps(data, indent=1) + "\n")


@pytest.mark.e2e
@pytest.mark.parametrize("firmware", ["bios", "uefi"])
def test_iso_boots_to_console(vm_factory, node_iso, firmware) -> None:
    vm = vm_factory(f"iso-{firmware}", boot="iso", firmware=firmware, iso=node_iso)
    vm.start()
    vm.expect("Install hcinode", timeout=180)  # the grub menu on serial
    vm.expect(BANNER, timeout=BOOT_TIMEOUT)
    _record(f"iso_{firmware}", vm.seconds_since_start())
    vm.expect(ADDRESS, timeout=120)
    # the live system is named hcinode and keeps the squashfs reachable for the installer
    vm.sendline("")
    out = vm.run("hostname; ls -l /run/live/medium/live/filesystem.squashfs", timeout=60)
    assert "hcinode" in out
    assert "filesystem.squashfs" in out and "No such file" not in out
    vm.poweroff()


@pytest.mark.e2e
def test_pxe_boots_to_console(vm_factory, pxe_dir) -> None:
    vm = vm_factory("pxe", boot="pxe", firmware="bios", pxe_dir=pxe_dir, memory=2048,
                    kernel_args=["hcinode.test=pxe-{http_port}"])
    vm.start()
    vm.expect(BANNER, timeout=BOOT_TIMEOUT)
    _record("pxe_bios", vm.seconds_since_start())
    vm.expect(ADDRESS, timeout=120)
    vm.sendline("")
    out = vm.run("cat /proc/cmdline", timeout=60)
    # the harness's extra kernel arguments reached the kernel, with the HTTP port filled in
    assert f"hcinode.test=pxe-{vm.http.port if vm.http else ''}" in out
    vm.poweroff()
