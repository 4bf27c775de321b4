"""Anaconda's grammar as users already write it: VLANs on bonds and bridges in one line, a
hostname-only network line, swap --recommended/--hibernation, a bare autopart, consoles."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from installer import checks, kickstart
from installer.config import Bootloader, recommended_swap_mib
from installer.firstboot import node_settings
from installer.storage import resolve_layout
from node_setup.model import load_node_config
from node_setup.validate import validate as validate_node
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport

DATA = Path(__file__).resolve().parents[2] / "data"
GiB = 1024 ** 3
ADDR = "--bootproto=static --ip=192.0.2.21 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.53"
ACCESS = ("rootpw --lock\n"
          "sshkey --username=root 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'\n")


def facts(name: str = "nvme-server", **changes: object) -> HostFacts:
    f = HostFacts.load(str(DATA / "facts" / f"{name}.json"))
    return dataclasses.replace(f, **changes)  # type: ignore[arg-type]


def node_network(text: str, host: HostFacts) -> dict[str, object]:
    """The kickstart as node_setup's network, checked by node_setup's own rules."""
    parsed = kickstart.parse(text)
    report = checks.check_host(parsed.config, host, parsed.report)
    assert not [p for p in report.problems if p.severity == "error" and "network" in p.message], report.render_text()
    data = node_settings(parsed.config, host)
    node_report = ValidationReport("node")
    node = load_node_config(data, node_report)
    assert node is not None and node_report.ok, node_report.render_text()
    assert validate_node(node).ok, validate_node(node).render_text()
    network = data["network"]
    assert isinstance(network, dict)
    return network


def round_trips(text: str) -> None:
    first = kickstart.parse(text)
    rendered = kickstart.render(first.config)
    again = kickstart.parse(rendered)
    assert again.report.ok, again.report.render_text() + rendered
    assert again.config == first.config
    assert kickstart.render(again.config) == rendered


# --- a VLAN on a bond or a bridge in one line ---------------------------------------------------

def test_vlan_on_a_bond_in_one_line_puts_the_address_on_the_vlan() -> None:
    text = (f"network --device=bond0 --bondslaves=ens1f0,ens1f1 --bondopts=mode=802.3ad,miimon=100 --vlanid=120 "
            f"{ADDR} --hostname=hv21.example.com --activate\n")
    network = node_network(text, facts())
    (bond,) = network["bonds"]  # type: ignore[misc]
    assert bond["name"] == "bond0" and bond["slaves"] == ["ens1f0", "ens1f1"] and bond["mode"] == "802.3ad"
    assert bond["ipv4"] == {"method": "disabled"} and bond["ipv6"] == {"method": "disabled"}
    (vlan,) = network["vlans"]  # type: ignore[misc]
    assert vlan["name"] == "bond0.120" and vlan["parent"] == "bond0" and vlan["id"] == 120
    assert vlan["ipv4"] == {"method": "static", "addresses": ["192.0.2.21/24"], "gateway": "192.0.2.1"}
    assert network["dns"] == {"servers": ["192.0.2.53"]}
    round_trips(text)


def test_vlan_on_a_bond_keeps_its_interface_name_and_mtu() -> None:
    text = f"network --device=bond0 --bondslaves=ens1f0,ens1f1 --vlanid=120 --interfacename=mgmt0 --mtu=9000 {ADDR}\n"
    network = node_network(text, facts())
    (bond,) = network["bonds"]  # type: ignore[misc]
    (vlan,) = network["vlans"]  # type: ignore[misc]
    assert vlan["name"] == "mgmt0" and vlan["parent"] == "bond0" and bond["mtu"] == vlan["mtu"] == 9000


def test_vlan_with_bridgeslaves_makes_the_bridge_carry_the_vlan() -> None:
    text = f"network --device=ovirtmgmt --bridgeslaves=ens1f0 --vlanid=120 {ADDR}\n"
    network = node_network(text, facts())
    (vlan,) = network["vlans"]  # type: ignore[misc]
    assert vlan["name"] == "ens1f0.120" and vlan["parent"] == "ens1f0" and vlan["ipv4"] == {"method": "disabled"}
    (bridge,) = network["bridges"]  # type: ignore[misc]
    assert bridge["name"] == "ovirtmgmt" and bridge["ports"] == ["ens1f0.120"]
    assert bridge["ipv4"]["addresses"] == ["192.0.2.21/24"]  # type: ignore[index]
    round_trips(text)


def test_vlan_on_a_bond_under_a_bridge_by_pxe_nic() -> None:
    """bootif resolves to the PXE NIC; the VLAN's port name follows it into the bridge."""
    host = facts("qemu-virtio")
    nic = host.nics[0]
    text = f"network --device=br0 --bridgeslaves=bootif --vlanid=7 {ADDR}\n"
    parsed = kickstart.parse(text)
    data = node_settings(parsed.config, host, f"BOOTIF=01-{nic.mac.replace(':', '-')}")
    network = data["network"]
    assert isinstance(network, dict)
    assert network["bridges"][0]["ports"] == [f"{nic.name}.7"]
    assert network["vlans"][0]["name"] == f"{nic.name}.7"


def test_bond_and_bridge_slaves_on_one_line_are_refused() -> None:
    parsed = kickstart.parse("network --device=x0 --bondslaves=ens1f0 --bridgeslaves=ens1f1\n")
    assert "--bondslaves and --bridgeslaves on one line" in parsed.report.render_text()


@pytest.mark.parametrize("option", ["--bondslaves=", "--bondslaves ''", "--bridgeslaves="])
def test_empty_slaves_are_an_error(option: str) -> None:
    parsed = kickstart.parse(f"network --device=bond0 {option} --bootproto=dhcp\n")
    assert not parsed.report.ok
    assert f"kickstart:1: network {option.split('=')[0].split()[0]} is empty" in parsed.report.render_text()


# --- network --hostname=NAME alone --------------------------------------------------------------

def test_hostname_only_network_line_is_no_device() -> None:
    parsed = kickstart.parse(f"network --hostname=hv1.example.com\n{ACCESS}")
    assert parsed.config.network.devices == ()
    assert parsed.config.hostname == "hv1.example.com"
    report = checks.validate(parsed.config, parsed.report)
    assert not [p for p in report.problems if p.field.startswith("kickstart:1")], report.render_text()
    round_trips(f"network --hostname=hv1.example.com\n{ACCESS}")


def test_hostname_with_a_device_is_still_a_device() -> None:
    parsed = kickstart.parse("network --hostname=hv1 --device=eno1\n")
    assert [d.device for d in parsed.config.network.devices] == ["eno1"]


# --- swap --recommended / --hibernation ---------------------------------------------------------

@pytest.mark.parametrize(("ram_gib", "hibernation", "swap_gib"), [
    (1, False, 2), (2, False, 4), (4, False, 4), (8, False, 8), (16, False, 8), (64, False, 32), (128, False, 4),
    (4, True, 8), (16, True, 24), (128, True, 4),
])
def test_recommended_swap_is_anacondas(ram_gib: int, hibernation: bool, swap_gib: int) -> None:
    assert recommended_swap_mib(ram_gib * GiB, hibernation=hibernation) == swap_gib * 1024


def test_recommended_swap_takes_at_most_a_tenth_of_the_disk_unless_hibernating() -> None:
    assert recommended_swap_mib(16 * GiB, disk_mib=20480) == 2048
    assert recommended_swap_mib(16 * GiB, hibernation=True, disk_mib=20480) == 24 * 1024


EXPLICIT = """ignoredisk --only-use=vda
clearpart --all --initlabel
reqpart --add-boot
part pv.01 --size=1 --grow
volgroup vg pv.01
logvol / --vgname=vg --name=root --size=8192
{swap}
"""


# 4 GiB of RAM: 4 GiB recommended, capped at a tenth of the 20 GiB disk; hibernation: 4 + 4 GiB
@pytest.mark.parametrize(("swap", "expected_mib"), [
    ("logvol swap --vgname=vg --name=swap --recommended", 2048),
    ("logvol swap --vgname=vg --name=swap --hibernation", 8192),
    ("part swap --recommended", 2048),
    ("part swap --hibernation", 8192),
])
def test_swap_size_comes_from_the_machines_ram(swap: str, expected_mib: int) -> None:
    host = facts("qemu-virtio", memory_bytes=4 * GiB)
    host = dataclasses.replace(host, disks=tuple(d for d in host.disks if d.name == "vda"))
    text = EXPLICIT.format(swap=swap) + ACCESS
    parsed = kickstart.parse(text)
    assert parsed.report.ok, parsed.report.render_text()
    report = ValidationReport("t")
    layout = resolve_layout(parsed.config, host, report)
    assert layout is not None and report.ok, report.render_text()
    sizes = [lv.size_mib for lv in layout.lvs if lv.fstype == "swap"] + \
            [p.size_mib for p in layout.partitions if p.fstype == "swap"]
    assert sizes == [expected_mib]
    round_trips(text)


def test_recommended_on_a_file_system_or_with_a_size_is_refused() -> None:
    parsed = kickstart.parse(EXPLICIT.format(swap="logvol /srv --vgname=vg --name=srv --recommended\n"
                                                  "part swap --recommended --size=100"))
    text = checks.validate(parsed.config, parsed.report).render_text()
    assert "logvol srv: --recommended sizes swap only" in text
    assert "part swap: --recommended computes the size; drop --size/--grow" in text


# --- a bare autopart ----------------------------------------------------------------------------

def test_bare_autopart_makes_the_documented_default_layout() -> None:
    """docs/kickstart.md: `thinp` is the default layout; a bare `autopart` is that layout too."""
    host = facts("qemu-virtio")
    host = dataclasses.replace(host, disks=tuple(d for d in host.disks if d.name == "vda"))
    bare = kickstart.parse("autopart\n").config
    none = kickstart.parse("\n").config
    assert bare.storage.autopart == "thinp"
    report = ValidationReport("t")
    assert resolve_layout(bare, host, report) == resolve_layout(none, host, report)
    doc = (Path(__file__).resolve().parents[3] / "docs" / "kickstart.md").read_text()
    assert "a bare `autopart` is the same" in doc


# --- the console the installer was booted with --------------------------------------------------

@pytest.mark.parametrize(("append", "cmdline", "expected"), [
    ("", "BOOT_IMAGE=/live/vmlinuz boot=live console=tty0 console=ttyS0,115200n8 inst.ks=http://x/ks",
     "console=tty0 console=ttyS0,115200n8"),
    ("quiet", "boot=live console=ttyS1,9600", "quiet console=ttyS1,9600"),
    ("console=ttyS0,57600", "boot=live console=tty0 console=ttyS0,115200n8", "console=ttyS0,57600"),
    ("nomodeset", "boot=live hcinode.console=serial", "nomodeset"),
    ("", "console=ttyS0 console=ttyS0", "console=ttyS0"),
])
def test_installed_kernel_keeps_the_live_console(append: str, cmdline: str, expected: str) -> None:
    assert Bootloader(append=append).kernel_args(cmdline) == expected


@pytest.mark.parametrize("line, keyboard, unused", [
    ("keyboard --xlayouts=us,de", "us", "de"),
    ("keyboard --vckeymap=de --xlayouts=us,fr", "de", "us, fr"),
    ("keyboard --xlayouts=de", "de", ""),
    ("keyboard --xlayouts='cz (qwerty)'", "cz-qwerty", ""),  # anaconda's "layout (variant)"
])
def test_keyboard_uses_one_layout_and_says_which_xlayouts_are_not_used(line: str, keyboard: str,
                                                                        unused: str) -> None:
    parsed = kickstart.parse(f"rootpw --lock\n{line}\n")
    assert parsed.config.keyboard == keyboard
    said = [p.render() for p in parsed.report.warnings if "keyboard" in p.render()]
    if unused:
        assert any(w.startswith("warning: kickstart:2: ") and f"--xlayouts {unused}" in w and "not used" in w
                   for w in said), said
    else:
        assert not said, said


def test_two_default_gateways_on_different_devices_are_a_warning_naming_both() -> None:
    """node_setup warned, but the install checks passed on only node_setup's errors."""
    parsed = kickstart.parse(
        "rootpw --iscrypted $6$saltsalt$" + "x" * 86 + "\n"
        "network --device=eno1 --bootproto=static --ip=192.0.2.11 --netmask=255.255.255.0 --gateway=192.0.2.1\n"
        "network --device=eno1 --vlanid=20 --bootproto=static --ip=198.51.100.5 --netmask=255.255.255.0 "
        "--gateway=198.51.100.1 --hostname=n1.example.com\n")
    report = checks.validate(parsed.config, parsed.report)
    said = [p.render() for p in report.warnings]
    assert any("several IPv4 default gateways (eno1, eno1.20)" in w for w in said), said
