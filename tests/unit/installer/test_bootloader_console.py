"""The installed node keeps the console the installer was booted with (anaconda does the same):
the live kernel's console= arguments reach the installed kernel, and GRUB talks on that serial port."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from pathlib import Path

import pytest

from installer import kickstart, plan, target
from installer.storage import resolve_layout
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport

DATA = Path(__file__).resolve().parents[2] / "data"
PXE_SERIAL = "BOOT_IMAGE=vmlinuz boot=live fetch=http://10.0.2.2/fs.squashfs console=tty0 console=ttyS0,115200n8 " \
             "inst.ks=http://10.0.2.2/ks.cfg"


def _bootloader_params(kickstart_text: str, cmdline: str) -> dict[str, object]:
    facts = HostFacts.load(str(DATA / "facts" / "qemu-virtio.json"))
    facts = dataclasses.replace(facts, kernel_cmdline=cmdline, disks=tuple(d for d in facts.disks if d.name == "vda"))
    parsed = kickstart.parse(kickstart_text)
    layout = resolve_layout(parsed.config, facts, ValidationReport())
    assert layout is not None
    (step,) = [s for s in plan.build_plan(parsed.config, layout, facts).steps if s.action == "install_bootloader"]
    return dict(step.params)


def test_plan_gives_the_installed_kernel_the_live_serial_console() -> None:
    params = _bootloader_params("rootpw --lock\nbootloader --append=nomodeset\n", PXE_SERIAL)
    assert params["append"] == "nomodeset console=tty0 console=ttyS0,115200n8"


def test_a_console_in_bootloader_append_wins() -> None:
    params = _bootloader_params("rootpw --lock\nbootloader --append='console=ttyS1,9600'\n", PXE_SERIAL)
    assert params["append"] == "console=ttyS1,9600"


def test_installer_arguments_of_the_live_system_are_not_copied() -> None:
    params = _bootloader_params("rootpw --lock\n", PXE_SERIAL)
    assert "inst.ks" not in str(params["append"]) and "boot=live" not in str(params["append"])


@pytest.mark.parametrize(("args", "serial"), [
    ("console=ttyS0,115200n8", "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1"),
    ("console=tty0 console=ttyS1,9600", "serial --unit=1 --speed=9600 --word=8 --parity=no --stop=1"),
    ("console=ttyS2,57600e7", "serial --unit=2 --speed=57600 --word=7 --parity=even --stop=1"),
    ("console=ttyS0", "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1"),
    ("console=tty0", ""),
    ("console=ttyUSB0,115200", ""),
    ("", ""),
])
def test_grub_serial_command_follows_the_kernel_console(args: str, serial: str) -> None:
    assert target.grub_serial_command(args) == serial


def _cfg(append: str) -> str:
    return target.grub_cfg(version="6.1.0-28-amd64", boot_uuid="u1", boot_prefix="", hostname="n1",
                           root_arg="root=/dev/mapper/onn-root", append=append, timeout=5)


def test_grub_cfg_serial_terminal_uses_the_consoles_port_and_speed() -> None:
    cfg = _cfg("console=tty0 console=ttyS1,9600n8")
    assert "serial --unit=1 --speed=9600 --word=8 --parity=no --stop=1\nterminal_input console serial\n" \
           "terminal_output console serial\n" in cfg
    assert "ro console=tty0 console=ttyS1,9600n8\n" in cfg
    assert "serial" not in _cfg("console=tty0")


def test_etc_default_grub_matches_grub_cfg_and_is_valid_shell() -> None:
    text = target.grub_defaults("console=tty0 console=ttyS0,115200n8 x='a b'", 7)
    assert "GRUB_TERMINAL='console serial'" in text
    values = subprocess.run(["sh", "-c", text + '\nprintf "%s\\n" "$GRUB_CMDLINE_LINUX" "$GRUB_SERIAL_COMMAND" '
                             '"$GRUB_TIMEOUT"'], capture_output=True, text=True, check=True).stdout.splitlines()
    assert values == ["console=tty0 console=ttyS0,115200n8 x='a b'",
                      "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1", "7"]
    plain = target.grub_defaults("quiet", 5)
    assert "GRUB_TERMINAL" not in plain and f"GRUB_CMDLINE_LINUX={shlex.quote('quiet')}" in plain
