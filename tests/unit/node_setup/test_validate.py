"""Table-driven validation of NodeConfig: each case changes a valid config and expects one problem."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from node_setup import load_node_config, validate
from node_setup.model import IPv4
from nodecore.report import ValidationReport

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz9Wn7Gv8F3s0vB7P4u2qgYQ7kq7nq6xq1x4c8C4l7d admin@example"

BASE: dict[str, Any] = {
    "hostname": "node1.example.com",
    "network": {
        "interfaces": [{"name": "eth0", "mac": "52:54:00:00:00:01"}, {"name": "eth1", "mac": "52:54:00:00:00:02"},
                       {"name": "eth2", "ipv4": {"method": "dhcp"}}],
        "bonds": [{"name": "bond0", "slaves": ["eth0", "eth1"], "mode": "802.3ad",
                   "options": {"lacp_rate": "fast", "xmit_hash_policy": "layer3+4"}}],
        "vlans": [{"name": "bond0.100", "parent": "bond0", "id": 100}],
        "bridges": [{"name": "ovirtmgmt", "ports": ["bond0.100"],
                     "ipv4": {"method": "static", "addresses": ["198.51.100.10/24"], "gateway": "198.51.100.1"},
                     "ipv6": {"method": "static", "addresses": ["2001:db8::10/64"], "gateway": "2001:db8::1"}}],
        "dns": {"servers": ["198.51.100.53"], "search": ["example.com"]},
    },
    "ntp_servers": ["ntp1.example.com", "198.51.100.123"],
    "timezone": "UTC",
    "keyboard": "us",
    "admin_password": "Corr3ct-horse",
    "ssh": {"enabled": True, "password_login": False, "authorized_keys": [KEY]},
    "syslog": {"host": "198.51.100.5", "port": 514, "protocol": "udp"},
}


def load(data: dict[str, Any]) -> ValidationReport:
    report = ValidationReport("test")
    config = load_node_config(data, report)
    if config is not None:
        report.extend(validate(config))
    return report


def test_base_config_is_valid_without_warnings() -> None:
    report = load(BASE)
    assert report.problems == []


def net(d: dict[str, Any]) -> dict[str, Any]:
    return d["network"]  # type: ignore[no-any-return]


def bridge_ip(d: dict[str, Any]) -> dict[str, Any]:
    return net(d)["bridges"][0]["ipv4"]  # type: ignore[no-any-return]


Patch = Callable[[dict[str, Any]], None]

# (case id, patch of BASE, severity, field path, words in the message)
CASES: list[tuple[str, Patch, str, str, str]] = [
    ("unknown key with suggestion", lambda d: d.update(hostnme="x"), "error", "hostnme", "unknown key"),
    ("bad bond mode", lambda d: net(d)["bonds"][0].update(mode="fastest"), "error", "network.bonds[0].mode",
     "not allowed"),
    ("vlan id zero", lambda d: net(d)["vlans"][0].update(id=0), "error", "network.vlans[0].id", "out of range"),
    ("vlan id 4095", lambda d: net(d)["vlans"][0].update(id=4095), "error", "network.vlans[0].id", "out of range"),
    ("vlan unknown parent", lambda d: net(d)["vlans"][0].update(parent="bond9"), "error",
     "network.vlans[0].parent", "not defined"),
    ("vlan on bond slave", lambda d: net(d)["vlans"][0].update(parent="eth0"), "error",
     "network.vlans[0].parent", "bond slave"),
    ("vlan on bridge", lambda d: net(d)["vlans"].append({"name": "v5", "parent": "ovirtmgmt", "id": 5}), "error",
     "network.vlans[1].parent", "must be a NIC or a bond"),
    ("duplicate vlan on one parent", lambda d: net(d)["vlans"].append({"name": "v100", "parent": "bond0", "id": 100}),
     "error", "network.vlans[1].id", "defined twice"),
    ("bond without slaves", lambda d: net(d)["bonds"][0].update(slaves=[]), "error", "network.bonds[0].slaves",
     "no slaves"),
    ("bond with one slave warns", lambda d: net(d)["bonds"][0].update(slaves=["eth0"]), "warning",
     "network.bonds[0].slaves", "no redundancy"),
    ("NIC in two bonds", lambda d: net(d)["bonds"].append({"name": "bond1", "slaves": ["eth1"]}), "error",
     "network.bonds[1].slaves[0]", "two bonds"),
    ("bond slave undefined", lambda d: net(d)["bonds"][0].update(slaves=["eth0", "eth7"]), "error",
     "network.bonds[0].slaves[1]", "not defined"),
    ("bond slave is a vlan", lambda d: net(d)["bonds"][0].update(slaves=["eth0", "bond0.100"]), "error",
     "network.bonds[0].slaves[1]", "not a physical interface"),
    ("MTU mismatch bond and slave", lambda d: (net(d)["bonds"][0].update(mtu=9000),
                                               net(d)["interfaces"][0].update(mtu=1500)), "error",
     "network.bonds[0].slaves[0]", "MTU mismatch"),
    ("vlan MTU above parent", lambda d: (net(d)["bonds"][0].update(mtu=1500), net(d)["vlans"][0].update(mtu=9000)),
     "error", "network.vlans[0].mtu", "larger"),
    ("MTU out of range", lambda d: net(d)["interfaces"][2].update(mtu=40), "error", "network.interfaces[2].mtu",
     "out of range"),
    ("IPv6 MTU below 1280", lambda d: net(d)["bridges"][0].update(mtu=1000), "error", "network.bridges[0].mtu",
     "1280"),
    ("lacp_rate outside 802.3ad", lambda d: net(d)["bonds"][0].update(mode="active-backup",
                                                                       options={"lacp_rate": "fast"}),
     "error", "network.bonds[0].options.lacp_rate", "802.3ad"),
    ("unknown bond option", lambda d: net(d)["bonds"][0]["options"].update(speed="max"), "error",
     "network.bonds[0].options.speed", "unknown bonding option"),
    ("bad xmit hash policy", lambda d: net(d)["bonds"][0]["options"].update(xmit_hash_policy="l4"), "error",
     "network.bonds[0].options.xmit_hash_policy", "not allowed"),
    ("miimon zero warns", lambda d: net(d)["bonds"][0].update(miimon=0), "warning", "network.bonds[0].miimon",
     "no link monitoring"),
    ("bad MAC", lambda d: net(d)["interfaces"][0].update(mac="52:54:00:00:01"), "error",
     "network.interfaces[0].mac", "not a MAC"),
    ("duplicate MAC", lambda d: net(d)["interfaces"][1].update(mac="52:54:00:00:00:01"), "error",
     "network.interfaces[1].mac", "also given"),
    ("duplicate device name", lambda d: net(d)["interfaces"][1].update(name="eth0"), "error",
     "network.interfaces[1].name", "used twice"),
    ("invalid interface name", lambda d: net(d)["interfaces"][2].update(name="a-very-long-interface0"), "error",
     "network.interfaces[2].name", "not a valid interface name"),
    ("gateway outside subnet", lambda d: bridge_ip(d).update(gateway="198.51.101.1"), "error",
     "network.bridges[0].ipv4.gateway", "outside the subnet"),
    ("gateway is own address", lambda d: bridge_ip(d).update(gateway="198.51.100.10"), "error",
     "network.bridges[0].ipv4.gateway", "own address"),
    ("gateway wrong family", lambda d: bridge_ip(d).update(gateway="2001:db8::1"), "error",
     "network.bridges[0].ipv4.gateway", "not an IPv4"),
    ("static without address", lambda d: bridge_ip(d).update(addresses=[], gateway=""), "error",
     "network.bridges[0].ipv4.addresses", "at least one"),
    ("address without prefix", lambda d: bridge_ip(d).update(addresses=["198.51.100.10"]), "error",
     "network.bridges[0].ipv4.addresses[0]", "no prefix"),
    ("network address as host", lambda d: bridge_ip(d).update(addresses=["198.51.100.0/24"]), "error",
     "network.bridges[0].ipv4.addresses[0]", "network or broadcast"),
    ("addresses with dhcp", lambda d: net(d)["interfaces"][2]["ipv4"].update(addresses=["192.0.2.5/24"]), "error",
     "network.interfaces[2].ipv4.addresses", "method is dhcp"),
    ("overlapping subnets", lambda d: net(d)["interfaces"][2].update(
        ipv4={"method": "static", "addresses": ["198.51.100.20/25"]}), "error",
     "network.bridges[0].ipv4.addresses[0]", "overlaps"),
    ("duplicate address", lambda d: net(d)["interfaces"][2].update(
        ipv4={"method": "static", "addresses": ["198.51.100.10/24"]}), "error",
     "network.bridges[0].ipv4.addresses[0]", "duplicate address"),
    ("IPv6 gateway outside subnet", lambda d: net(d)["bridges"][0]["ipv6"].update(gateway="2001:db9::1"), "error",
     "network.bridges[0].ipv6.gateway", "outside the subnet"),
    ("IPv6 address in ipv4", lambda d: bridge_ip(d).update(addresses=["2001:db8::5/64"]), "error",
     "network.bridges[0].ipv4.addresses[0]", "not an IPv4"),
    ("bond slave with IP", lambda d: net(d)["interfaces"][0].update(ipv4={"method": "dhcp"}), "error",
     "network.interfaces[0].ipv4", "port of bond0"),
    ("bridge port with IP", lambda d: net(d)["vlans"][0].update(ipv4={"method": "dhcp"}), "error",
     "network.vlans[0].ipv4", "port of ovirtmgmt"),
    ("bridge port undefined", lambda d: net(d)["bridges"][0].update(ports=["eth9"]), "error",
     "network.bridges[0].ports[0]", "not defined"),
    ("bond slave as bridge port", lambda d: net(d)["bridges"][0].update(ports=["eth0"]), "error",
     "network.bridges[0].ports[0]", "slave of bond"),
    ("bridge without ports warns", lambda d: net(d)["bridges"][0].update(ports=[]), "warning",
     "network.bridges[0].ports", "no ports"),
    ("route to bad network", lambda d: bridge_ip(d).update(routes=[{"to": "10.0.0.1/8", "via": "198.51.100.2"}]),
     "error", "network.bridges[0].ipv4.routes[0].to", "not a network"),
    ("route next hop off link warns", lambda d: bridge_ip(d).update(routes=[{"to": "10.0.0.0/8", "via": "10.1.1.1"}]),
     "warning", "network.bridges[0].ipv4.routes[0].via", "not in this device's subnets"),
    ("two default gateways warn", lambda d: net(d)["interfaces"][2].update(
        ipv4={"method": "static", "addresses": ["192.0.2.5/24"], "gateway": "192.0.2.1"}), "warning", "network",
     "several IPv4 default gateways"),
    ("two IPv6 default gateways warn", lambda d: net(d)["interfaces"][2].update(
        ipv6={"method": "static", "addresses": ["2001:db8:1::5/64"], "gateway": "2001:db8:1::1"}), "warning",
     "network", "several IPv6 default gateways (eth2, ovirtmgmt)"),
    ("nothing has an address", lambda d: (net(d)["bridges"][0].update(ipv4={}, ipv6={}),
                                          net(d)["interfaces"][2].update(ipv4={})), "error", "network",
     "unreachable"),
    ("DNS server by name", lambda d: net(d)["dns"].update(servers=["dns.example.com"]), "error",
     "network.dns.servers[0]", "not an IP address"),
    ("bad search domain", lambda d: net(d)["dns"].update(search=["exa mple.com"]), "error", "network.dns.search[0]",
     "not a valid domain"),
    ("bad check host", lambda d: net(d).update(check={"hosts": ["not a host"]}), "error", "network.check.hosts[0]",
     "not an address"),
    ("check timeout zero", lambda d: net(d).update(check={"timeout": 0}), "error", "network.check.timeout",
     "1..600"),
    ("bad hostname", lambda d: d.update(hostname="node_1!"), "error", "hostname", "not a valid host name"),
    ("localhost hostname", lambda d: d.update(hostname="localhost"), "error", "hostname", "localhost"),
    ("bad NTP server", lambda d: d.update(ntp_servers=["ntp server"]), "error", "ntp_servers[0]", "not an address"),
    ("unknown timezone", lambda d: d.update(timezone="Mars/Olympus_Mons"), "error", "timezone", "time zone"),
    ("bad keyboard", lambda d: d.update(keyboard="US Keyboard"), "error", "keyboard", "not one the node knows"),
    # the console keymap files the image ships are XKB's: upper case is not a layout, "de" is
    ("keyboard DE", lambda d: d.update(keyboard="DE"), "error", "keyboard", "not one the node knows"),
    ("keyboard variant unknown", lambda d: d.update(keyboard="de-latin9"), "error", "keyboard", "no variant"),
    ("short password", lambda d: d.update(admin_password="abc1"), "error", "admin_password", "too short"),
    ("weak password", lambda d: d.update(admin_password="aaaaaaaaaa"), "error", "admin_password", "too easy"),
    # character classes mixed, still guessed at once: zxcvbn's estimate decides
    ("common password", lambda d: d.update(admin_password="password1"), "error", "admin_password", "too easy"),
    ("repeated password", lambda d: d.update(admin_password="node07node07"), "error", "admin_password", "too easy"),
    ("newline in password", lambda d: d.update(admin_password="Corr3ct-horse\nroot:x"), "error", "admin_password",
     "newline"),
    ("hash with a newline", lambda d: d.update(admin_password="$6$salt$abc\nroot::0:"), "error", "admin_password",
     "crypt hash"),
    ("dsa ssh key", lambda d: d["ssh"].update(authorized_keys=["ssh-dss AAAAB3NzaC1kc3MAAACBAP admin"]), "error",
     "ssh.authorized_keys[0]", "ssh-dss"),
    ("ssh key under the wrong type", lambda d: d["ssh"].update(authorized_keys=["ssh-rsa " + KEY.split()[1]]),
     "error", "ssh.authorized_keys[0]", "not a ssh-rsa key"),
    ("unknown bond option", lambda d: net(d)["bonds"][0]["options"].update(foo="1"), "error",
     "network.bonds[0].options.foo", "unknown bonding option"),
    # keyfile injection: a newline would start a new keyfile line ([connection], permissions=...)
    ("newline in a bond option", lambda d: net(d)["bonds"][0]["options"].update(
        xmit_hash_policy="layer3+4\n[connection]\npermissions=user:x"), "error",
     "network.bonds[0].options.xmit_hash_policy", "control character"),
    ("newline in a DNS scope id", lambda d: net(d)["dns"].update(servers=["fe80::1%eth0\n[ipv4]"]), "error",
     "network.dns.servers[0]", "control character"),
    ("bad DNS scope id", lambda d: net(d)["dns"].update(servers=["fe80::1%eth0 x"]), "error",
     "network.dns.servers[0]", "scope"),
    ("trailing newline in a name", lambda d: net(d)["interfaces"][2].update(name="eth2\n"), "error",
     "network.interfaces[2].name", "control character"),
    ("ESC in the hostname", lambda d: d.update(hostname="node1\x1b[2J"), "error", "hostname", "control character"),
    ("interface name with ':'", lambda d: net(d)["interfaces"][2].update(name="eth2:1"), "error",
     "network.interfaces[2].name", "not a valid interface name"),
    ("broken hash", lambda d: d.update(admin_password="$6$ not a hash"), "error", "admin_password", "crypt hash"),
    ("bad ssh key", lambda d: d["ssh"].update(authorized_keys=["ssh-ed25519"]), "error", "ssh.authorized_keys[0]",
     "not an OpenSSH public key"),
    ("ssh without any login warns", lambda d: d["ssh"].update(authorized_keys=[]), "warning", "ssh",
     "no key is given"),
    ("syslog port", lambda d: d["syslog"].update(port=70000), "error", "syslog.port", "out of range"),
    ("syslog protocol", lambda d: d["syslog"].update(protocol="relp"), "error", "syslog.protocol", "not allowed"),
    ("vlan id not a number", lambda d: net(d)["vlans"][0].update(id="ten"), "error", "network.vlans[0].id",
     "whole number"),
]


@pytest.mark.parametrize("patch,severity,field,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validation_case(patch: Patch, severity: str, field: str, words: str) -> None:
    data = copy.deepcopy(BASE)
    patch(data)
    report = load(data)
    matches = [p for p in report.problems if p.field == field and words in p.message]
    assert matches, f"expected {severity} at {field} with {words!r}; got:\n{report.render_text()}"
    assert matches[0].severity == severity
    if severity == "warning":
        assert report.ok, report.render_text()


def test_all_problems_reported_at_once() -> None:
    data = copy.deepcopy(BASE)
    net(data)["vlans"][0]["id"] = 5000
    net(data)["bonds"][0]["slaves"] = []
    data["hostname"] = "bad_name"
    bridge_ip(data)["gateway"] = "10.0.0.1"
    report = load(data)
    fields = {p.field for p in report.errors}
    assert {"network.vlans[0].id", "network.bonds[0].slaves", "hostname", "network.bridges[0].ipv4.gateway"} <= fields


def test_password_never_in_report() -> None:
    data = copy.deepcopy(BASE)
    data["admin_password"] = "weakpass"  # too weak: only lower-case letters
    report = load(data)
    assert "weakpass" not in report.render_text() and "weakpass" not in report.to_json()


def test_password_with_a_colon_is_fine() -> None:
    data = copy.deepcopy(BASE)
    data["admin_password"] = "Corr3ct:horse:battery"  # hashed by us, never a chpasswd 'user:pass' line
    assert load(data).ok, load(data).render_text()


def test_console_built_config_is_checked_for_control_characters() -> None:
    from node_setup import Bond, Interface, NetworkConfig, NodeConfig

    config = NodeConfig(network=NetworkConfig(
        interfaces=(Interface("eth0"), Interface("eth1", ipv4=IPv4(method="dhcp"))),
        bonds=(Bond("bond0", slaves=("eth0",), options={"updelay": "100\n[connection]"}),)))
    assert "network.bonds[0].options.updelay" in {p.field for p in validate(config).errors}


def test_empty_config_is_valid() -> None:
    assert load({}).ok
