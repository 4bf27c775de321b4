"""The live media's ip=/BOOTIF= handling (overlay usr/libexec/hcinode/cmdline-network): what it hands
to NetworkManager's nm-initrd-generator and what it does around it (here with a fake generator;
the real one runs in the e2e test tests/e2e/test_install_failure.py, and below when installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

SCRIPT = ROOT / "image_recipes/recipes/node/overlay/usr/libexec/hcinode/cmdline-network"
UNIT = ROOT / "image_recipes/recipes/node/overlay/etc/systemd/system/hcinode-cmdline-network.service"
REAL_GENERATOR = Path("/usr/lib/NetworkManager/nm-initrd-generator")
STATIC = "ip=10.0.2.60::10.0.2.254:255.255.255.0:ksnode:enp0s2:none"

# writes what a generator run for a static ip= writes, and records its arguments
FAKE_GENERATOR = """#!/bin/bash
printf '%s\\n' "$@" > "$FAKE_ARGS"
[ -n "${FAKE_FAIL:-}" ] && exit 1
[ -n "${FAKE_NOTHING:-}" ] && exit 0
while [ $# -gt 0 ]; do
    case "$1" in -c) conn="$2"; shift ;; -i) data="$2"; shift ;; esac
    shift
done
mkdir -p "$conn" "$data"
echo ksnode > "$data/hostname"
cat > "$conn/enp0s2.nmconnection" <<EOF
[connection]
id=enp0s2
autoconnect-retries=1
interface-name=enp0s2

[ipv4]
address1=10.0.2.60/24,10.0.2.254
dns=10.0.2.3;
method=manual

[ipv6]
method=disabled

[user]
org.freedesktop.NetworkManager.origin=nm-initrd-generator
EOF
"""


def run_script(tmp_path: Path, cmdline: str, generator: Path | None = None,
               **env: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    fake = tmp_path / "fake-generator"
    fake.write_text(FAKE_GENERATOR)
    fake.chmod(0o755)
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    etc = tmp_path / "etc"
    (etc / "network").mkdir(parents=True, exist_ok=True)
    # what live-boot wrote from a dracut-style ip= (its own syntax: IFACE:ADDRESS:NETMASK:GATEWAY:DNS)
    (etc / "network/interfaces").write_text("auto lo\niface lo inet loopback\n\nallow-hotplug enp0s2\n"
                                            "iface enp0s2 inet manual\n")
    result = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30, env={
        **os.environ, "HCINODE_CMDLINE": str(tmp_path / "cmdline"), "HCINODE_NM_GENERATOR": str(generator or fake),
        "HCINODE_RUN_DIR": str(tmp_path / "run"), "HCINODE_ETC_DIR": str(etc), "HCINODE_TOUCH_HOST": "no",
        "FAKE_ARGS": str(tmp_path / "args"), **env})
    return result, tmp_path


def test_without_ip_or_bootif_nothing_happens(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, "boot=live quiet inst.ks=http://10.0.2.2:8000/ks.cfg")
    assert result.returncode == 0 and result.stdout == ""
    assert not (tmp_path / "args").exists() and not (tmp_path / "run").exists()


def test_static_ip_becomes_a_networkmanager_profile(tmp_path: Path) -> None:
    cmdline = f"boot=live quiet {STATIC} nameserver=10.0.2.3 inst.ks=http://10.0.2.2:8000/ks.cfg"
    result, _ = run_script(tmp_path, cmdline)
    assert result.returncode == 0, result.stderr
    args = (tmp_path / "args").read_text().splitlines()
    run = tmp_path / "run"
    assert args[:2] == ["-c", str(run / "NetworkManager/system-connections")]
    assert args[args.index("--") + 1:] == cmdline.split()  # the whole command line: the generator picks
    profile = (run / "NetworkManager/system-connections/enp0s2.nmconnection").read_text()
    assert "autoconnect-retries=0" in profile  # keeps trying: no second NetworkManager takes over here
    # live-boot's interfaces file would leave enp0s2 unmanaged (ifupdown plugin, managed=false)
    interfaces = (tmp_path / "etc/network/interfaces").read_text()
    assert "enp0s2" not in interfaces and "iface lo inet loopback" in interfaces
    assert result.stdout.strip() == ("hcinode: network from the kernel command line: "
                                     "connection.interface-name=enp0s2 ipv4.address1=10.0.2.60/24,10.0.2.254 "
                                     "ipv4.dns=10.0.2.3; ipv4.method=manual ipv6.method=disabled")


def test_bootif_alone_is_enough(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, "boot=live BOOTIF=01-52-54-00-12-34-56")
    assert result.returncode == 0 and (tmp_path / "args").exists()


NO_AUTO_DEFAULT = "run/NetworkManager/conf.d/90-hcinode-cmdline-network.conf"


def test_a_profile_from_the_cmdline_stops_dhcp_on_the_other_nics(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, f"boot=live {STATIC}")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / NO_AUTO_DEFAULT).read_text() == "[main]\nno-auto-default=*\n"


def test_without_a_profile_networkmanager_keeps_its_dhcp_defaults(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, "boot=live BOOTIF=garbage", FAKE_NOTHING="1")
    assert result.returncode == 0 and not (tmp_path / NO_AUTO_DEFAULT).exists()


def test_generator_failure_leaves_dhcp(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, f"boot=live {STATIC}", FAKE_FAIL="1")
    assert result.returncode == 0
    assert "nm-initrd-generator failed" in result.stdout
    assert "enp0s2" in (tmp_path / "etc/network/interfaces").read_text()  # untouched


def test_no_profile_from_live_boot_syntax_leaves_everything(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, "boot=live ip=eth0:1.2.3.4:255.255.255.0:1.2.3.1:8.8.8.8", FAKE_NOTHING="1")
    assert result.returncode == 0 and "no network profile from ip=/BOOTIF=" in result.stdout
    assert "enp0s2" in (tmp_path / "etc/network/interfaces").read_text()


def test_the_unit_runs_before_networkmanager_on_the_live_media_only() -> None:
    unit = UNIT.read_text()
    for line in ("ConditionKernelCommandLine=|ip", "ConditionKernelCommandLine=|BOOTIF",
                 "ConditionPathExists=!/etc/hcinode/installed", "Before=NetworkManager.service network-pre.target",
                 "ExecStart=/usr/libexec/hcinode/cmdline-network", "WantedBy=NetworkManager.service"):
        assert line in unit.splitlines(), line
    wants = UNIT.parent / "NetworkManager.service.wants" / UNIT.name
    assert wants.is_symlink() and os.readlink(wants) == f"../{UNIT.name}"
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(not REAL_GENERATOR.exists() or shutil.which("bash") is None,
                    reason="NetworkManager's nm-initrd-generator is not installed here")
def test_with_the_real_generator(tmp_path: Path) -> None:
    result, _ = run_script(tmp_path, f"boot=live quiet {STATIC} nameserver=10.0.2.3", generator=REAL_GENERATOR)
    assert result.returncode == 0, result.stderr
    assert "connection.interface-name=enp0s2 ipv4.address1=10.0.2.60/24,10.0.2.254" in result.stdout


@pytest.mark.skipif(not REAL_GENERATOR.exists(), reason="NetworkManager's nm-initrd-generator is not installed here")
@pytest.mark.parametrize("bootif", ["01-52-54-00-12-34-56",  # iPXE ${netX/mac:hexhyp}, pxelinux IPAPPEND 2
                                    "01-52:54:00:12:34:56"])  # grub's $net_default_mac (build/pxe/grub)
def test_bootif_alone_gives_dhcp_on_that_nic_with_the_real_generator(tmp_path: Path, bootif: str) -> None:
    result, _ = run_script(tmp_path, f"boot=live quiet BOOTIF={bootif}", generator=REAL_GENERATOR)
    assert result.returncode == 0, result.stderr
    assert ("hcinode: network from the kernel command line: ethernet.mac-address=52:54:00:12:34:56 "
            "ipv4.method=auto ipv6.method=auto") in result.stdout, result.stdout
