"""The node image boots to the hcinode console on the serial line: ISO under BIOS and UEFI, and PXE.

The console on live media is the TUI's installer: its header "hcinode <version> | <hostname> | ..."
and the welcome page. (The banner with the version and addresses is only a fallback for when the TUI
cannot start; these tests fail on it, so a TUI that crashes at boot cannot hide behind the banner.)
"""

from __future__ import annotations

import json

import pytest

from nodecore import __version__
from tests.e2e.vm import BUILD

BANNER = rf"hcinode {__version__}"
TUI_HOSTNAME = r"\| hcinode \|"
BOOT_TIMEOUT = 900  # TCG on 2 shared cores: ~3 min idle, much longer while other VMs run


def _record(name: str, seconds: float) -> None:
    """Boot-to-console times for bench/image.py and the report."""
    path = BUILD / "e2e-boot-times.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = round(seconds, 1)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _wait_for_console(vm, record_as: str) -> None:
    """The TUI's first screen on a live system named hcinode."""
    vm.expect(BANNER, timeout=BOOT_TIMEOUT)
    _record(record_as, vm.seconds_since_start())
    vm.expect(TUI_HOSTNAME, timeout=300)
    vm.expect("What to do", timeout=120)  # the installer's welcome page, not a login or the banner


# make e2e boots the ISO under BIOS to the installer's first screen in the interactive install
# (tests/e2e/test_tui_serial.py): here only UEFI; the BIOS boot of this test is make e2e-full's
@pytest.mark.e2e
@pytest.mark.parametrize("firmware", [pytest.param("bios", marks=pytest.mark.e2e_full), "uefi"])
def test_iso_boots_to_console(vm_factory, node_iso, firmware) -> None:
    vm = vm_factory(f"iso-{firmware}", boot="iso", firmware=firmware, iso=node_iso)
    vm.start()
    vm.expect("Install hcinode", timeout=300)  # the grub menu on serial
    _wait_for_console(vm, f"iso_{firmware}")
    vm.poweroff()


# PXE is proven in `make e2e` by the unattended PXE install (tests/e2e/test_install.py)
@pytest.mark.e2e
@pytest.mark.e2e_full
def test_pxe_boots_to_console(vm_factory, pxe_dir) -> None:
    vm = vm_factory("pxe", boot="pxe", firmware="bios", pxe_dir=pxe_dir, memory=2048,
                    kernel_args=["hcinode.test=pxe-{http_port}"])
    vm.start()
    _wait_for_console(vm, "pxe_bios")
    # the squashfs came over HTTP from the harness's server (live-boot fetch=)
    assert vm.http is not None
    access = (vm.workdir / "http-access.log").read_text()
    assert "GET /filesystem.squashfs" in access and "GET /vmlinuz" in access
    vm.poweroff()


# UEFI network boot of build/pxe: OVMF's PXE (QEMU user-net TFTP) loads shim (bootx64.efi), shim the
# signed grubnetx64 (grubx64.efi), grub reads grub/grub.cfg and the menu and fetches the kernel and
# initrd over TFTP; live-boot fetches the squashfs over HTTP
@pytest.mark.e2e
@pytest.mark.e2e_full
def test_pxe_uefi_boots_to_console(vm_factory, pxe_dir) -> None:
    for name in ("bootx64.efi", "grubx64.efi", "grub/grub.cfg", "grub/hcinode.cfg"):
        assert (pxe_dir / name).is_file(), f"build/pxe/{name} is missing"
    vm = vm_factory("pxe-uefi", boot="pxe", firmware="uefi", pxe_dir=pxe_dir, memory=2048,
                    kernel_args=["hcinode.test=pxe-uefi-{http_port}"])
    vm.start()
    vm.expect("Install hcinode \\(network\\)", timeout=600)  # grub's menu (grub/hcinode.cfg), on serial
    _wait_for_console(vm, "pxe_uefi")
    access = (vm.workdir / "http-access.log").read_text()
    # the squashfs came from the harness's server on its random port: its grub/grub.cfg was read
    assert "GET /filesystem.squashfs" in access
    vm.poweroff()
