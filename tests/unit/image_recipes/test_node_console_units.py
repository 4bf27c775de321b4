"""The node image's consoles start without waiting for the network: the getty units are Debian's
without the orderings that lead to network.target, the unattended-install unit (which the gettys
are ordered after, and which is ordered after NetworkManager) is in the boot only with inst.ks=,
and the live medium skips LVM monitoring, which every unit waited for."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

OVERLAY = Path(__file__).resolve().parents[3] / "image_recipes/recipes/node/overlay"
SYSTEM = OVERLAY / "etc/systemd/system"
GENERATOR = OVERLAY / "usr/lib/systemd/system-generators/hcinode-install-generator"
DEBIAN = Path("/lib/systemd/system")
# what network.target (NetworkManager, dbus) reaches the console through
NETWORK_BOUND = {"systemd-user-sessions.service", "rc-local.service", "network.target", "network-online.target",
                 "NetworkManager.service", "NetworkManager-wait-online.service"}


def values(text: str, key: str) -> list[str]:
    return [word for line in text.splitlines() if line.startswith(f"{key}=")
            for word in line.split("=", 1)[1].split()]


@pytest.mark.parametrize("name", ["getty@.service", "serial-getty@.service"])
def test_the_console_gettys_are_not_ordered_after_the_network(name: str) -> None:
    ours = (SYSTEM / name).read_text()
    assert not set(values(ours, "After")) & NETWORK_BOUND
    for drop_in in SYSTEM.glob(f"{name}.d/*.conf"):
        assert not set(values(drop_in.read_text(), "After")) & NETWORK_BOUND


@pytest.mark.parametrize("name", ["getty@.service", "serial-getty@.service"])
def test_the_getty_units_are_debians_but_for_those_orderings(name: str) -> None:
    debian = DEBIAN / name
    if not debian.is_file():
        pytest.skip(f"no {debian} on this machine")

    def settings(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.startswith("#") and
                not line.startswith("After=")]

    ours, theirs = (SYSTEM / name).read_text(), debian.read_text()
    assert settings(ours) == settings(theirs)
    assert values(ours, "After") == [a for a in values(theirs, "After") if a not in NETWORK_BOUND]


def test_the_install_unit_is_wanted_by_nothing_in_the_image() -> None:
    assert not any(p.name == "hcinode-install.service" for p in SYSTEM.glob("*.wants/*"))
    unit = (SYSTEM / "hcinode-install.service").read_text()
    assert "[Install]" not in unit  # `systemctl enable` would put it back on every boot
    assert "getty@tty1.service" in values(unit, "Before")  # with inst.ks= the console still waits for it


def run_generator(tmp_path: Path, cmdline: str, installed: bool = False) -> Path:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    if installed:
        (tmp_path / "root/etc/hcinode").mkdir(parents=True)
        (tmp_path / "root/etc/hcinode/installed").write_text("{}\n")
    out = tmp_path / "normal"
    out.mkdir()
    subprocess.run(["sh", str(GENERATOR), str(out), str(tmp_path / "early"), str(tmp_path / "late")], check=True,
                   env={**os.environ, "HCINODE_CMDLINE": str(tmp_path / "cmdline"),
                        "HCINODE_ROOT": str(tmp_path / "root")})
    return out / "multi-user.target.wants/hcinode-install.service"


@pytest.mark.parametrize("cmdline", ["BOOT_IMAGE=/live/vmlinuz boot=live inst.ks=http://10.0.2.2:8000/ks.cfg quiet",
                                     "boot=live inst.ks=hd:LABEL=KS:/ks.cfg", "boot=live inst.ks"])
def test_a_boot_with_inst_ks_has_the_install_unit(tmp_path: Path, cmdline: str) -> None:
    wants = run_generator(tmp_path, cmdline)
    assert os.readlink(wants) == "/etc/systemd/system/hcinode-install.service"


@pytest.mark.parametrize("cmdline", ["BOOT_IMAGE=/live/vmlinuz boot=live quiet", "boot=live xinst.ks=x inst.ksx"])
def test_a_boot_without_inst_ks_has_no_install_unit(tmp_path: Path, cmdline: str) -> None:
    assert not run_generator(tmp_path, cmdline).parent.exists()


def test_an_installed_node_never_has_the_install_unit(tmp_path: Path) -> None:
    assert not run_generator(tmp_path, "root=/dev/onn/root inst.ks=http://x/ks.cfg", installed=True).parent.exists()


def test_the_generator_is_executable() -> None:
    assert os.access(GENERATOR, os.X_OK)


def test_lvm_monitoring_runs_on_the_installed_node_only() -> None:
    drop_in = (SYSTEM / "lvm2-monitor.service.d/hcinode-installed-only.conf").read_text()
    assert values(drop_in, "ConditionPathExists") == ["/etc/hcinode/installed"]
