from typing import Any

import pytest

from hosted_engine.spec import parse_spec
from tests.unit.hosted_engine.conftest import base_data


def _set(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node.setdefault(key, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value


DELETE = object()


def test_the_example_spec_is_valid(spec):
    assert spec.engine.fqdn == "engine.example.com"
    assert spec.mount_point == "/mnt/glusterSD/engine"
    assert spec.volume_source == "host1.example.com:/engine"
    assert spec.bridge.name == "ovirtmgmt"


def test_the_deployment_uuid_and_mac_are_stable(spec):
    again, _ = parse_spec(base_data())
    assert again is not None
    assert spec.deployment_uuid == again.deployment_uuid
    assert spec.mac == again.mac and spec.mac.startswith("52:54:00:")


def test_defaults_fill_what_a_minimal_spec_leaves_out():
    data = {"engine": {"fqdn": "engine.example.com", "admin_password_file": "/root/pw"},
            "network": {"ip": "192.0.2.10", "gateway": "192.0.2.1", "dns": ["192.0.2.1"]},
            "storage": {"server": "host1"}, "bridge": {"nic": "eth0"}}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    assert spec.appliance.path == "build/engine-appliance.qcow2"
    assert spec.sanlock.io_timeout == 10 and spec.vm.memory_mib == 4096 and not spec.test.allow_tcg


# every field wrong in its own way: (field, bad value, the field named in the report, words of the message)
BAD = [
    ("engine.fqdn", "engine_1!", "engine.fqdn", "not a valid host name"),
    ("engine.fqdn", "engine", "engine.fqdn", "not fully qualified"),
    ("engine.fqdn", DELETE, "engine.fqdn", "missing required key"),
    ("engine.admin_password_file", "relative/pw", "engine.admin_password_file", "absolute path"),
    ("engine.root_ssh_key", "ssh-dss AAAA", "engine.root_ssh_key", "ssh-dss"),
    ("engine.hosts", {"engine.example.com": "192.0.2.99"}, "engine.hosts.engine.example.com", "network.ip is"),
    ("engine.hosts", {"bad_name!": "192.0.2.10"}, "engine.hosts.bad_name!", "not a host name"),
    ("engine.hosts", {"engine.example.com": "nope"}, "engine.hosts.engine.example.com", "not an IP"),
    ("engine.password", "x", "engine.password", "unknown key"),
    ("network.mode", "bootp", "network.mode", "not allowed"),
    ("network.ip", "192.0.2.300", "network.ip", "not an IPv4 address"),
    ("network.ip", DELETE, "network.ip", "missing"),
    ("network.ip", "192.0.2.255", "network.ip", "broadcast"),
    ("network.prefix", 33, "network.prefix", "not a usable IPv4 prefix"),
    ("network.prefix", "24x", "network.prefix", "whole number"),
    ("network.gateway", "198.51.100.1", "network.gateway", "outside 192.0.2.0/24"),
    ("network.gateway", "192.0.2.10", "network.gateway", "engine's own address"),
    ("network.gateway", "gw", "network.gateway", "not an IPv4 address"),
    ("network.gateway", DELETE, "network.gateway", "missing"),
    ("network.dns", ["dns.example.com"], "network.dns[0]", "not an IP"),
    ("network.mac", "52:54:00:zz:00:01", "network.mac", "not a MAC address"),
    ("vm.memory_mib", 512, "vm.memory_mib", "out of range"),
    ("vm.memory_mib", "4G", "vm.memory_mib", "whole number"),
    ("vm.vcpus", 0, "vm.vcpus", "out of range"),
    ("vm.disk_gib", 2, "vm.disk_gib", "out of range"),
    ("appliance.path", "/images/engine.img", "appliance.path", "not a .qcow2"),
    ("appliance.path", "/images/../x.qcow2", "appliance.path", "'..'"),
    ("appliance.sha256", "ABC", "appliance.sha256", "not a sha256"),
    ("appliance.url", "ftp://mirror/x.qcow2", "appliance.url", "not an http(s) URL"),
    ("storage.server", "host_1!", "storage.server", "not an address or host name"),
    ("storage.server", DELETE, "storage.server", "missing required key"),
    ("storage.volume", "en gine", "storage.volume", "not a Gluster volume name"),
    ("storage.backup_servers", ["host1.example.com"], "storage.backup_servers[0]", "main server"),
    ("storage.backup_servers", ["-bad-"], "storage.backup_servers[0]", "not an address"),
    ("storage.mount_root", "mnt", "storage.mount_root", "absolute path"),
    ("bridge.name", "a-very-long-bridge-name", "bridge.name", "longer than 15"),
    ("bridge.nic", DELETE, "bridge.nic", "exactly one of bridge.nic and bridge.bond"),
    ("bridge.nic", "ovirtmgmt", "bridge.nic", "the bridge itself"),
    ("bridge.vlan", 5000, "bridge.vlan", "out of range"),
    ("bridge.bond", {"name": "bond0", "slaves": ["eth1"]}, "bridge.nic", "exactly one"),
    ("sanlock.io_timeout", 0, "sanlock.io_timeout", "out of range"),
    ("sanlock.io_timeout", 61, "sanlock.io_timeout", "out of range"),
    ("test.allow_tcg", "yes", "test.allow_tcg", "true or false"),
]


@pytest.mark.parametrize(("field", "value", "named", "words"), BAD,
                         ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_every_field_wrong_in_its_own_way_is_named(field, value, named, words):
    data = base_data()
    _set(data, field, value)
    spec, report = parse_spec(data)
    assert spec is None
    fields = [p.field for p in report.errors]
    assert named in fields, report.render_text()
    message = next(p.message for p in report.errors if p.field == named)
    assert words in message, report.render_text()


def test_every_problem_is_reported_at_once():
    data = base_data()
    _set(data, "engine.fqdn", "x!")
    _set(data, "vm.vcpus", 0)
    _set(data, "sanlock.io_timeout", 0)
    _set(data, "network.mac", "nope")
    _, report = parse_spec(data)
    assert {"engine.fqdn", "vm.vcpus", "sanlock.io_timeout", "network.mac"} <= {p.field for p in report.errors}


def test_dhcp_needs_a_mac_and_no_static_address():
    data = base_data()
    data["network"] = {"mode": "dhcp", "ip": "192.0.2.10"}
    data["engine"]["hosts"] = {}
    _, report = parse_spec(data)
    assert {"network.mac", "network.ip"} <= {p.field for p in report.errors}
    data["network"] = {"mode": "dhcp", "mac": "52:54:00:AA:BB:CC"}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    assert spec.mac == "52:54:00:aa:bb:cc"


def test_a_bond_under_the_bridge():
    data = base_data()
    data["bridge"] = {"name": "ovirtmgmt", "bond": {"name": "bond0", "slaves": ["eth0", "eth1"],
                                                   "mode": "802.3ad"}, "vlan": 100}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    data["bridge"]["bond"]["mode"] = "fastest"
    data["bridge"]["bond"]["slaves"] = []
    _, report = parse_spec(data)
    assert {"bridge.bond.mode", "bridge.bond.slaves"} <= {p.field for p in report.errors}


def test_a_url_needs_its_sha256():
    data = base_data()
    data["appliance"] = {"url": "https://mirror.example.com/engine-appliance.qcow2"}
    _, report = parse_spec(data)
    assert [p.field for p in report.errors] == ["appliance.sha256"]


def test_a_short_io_timeout_is_a_warning():
    data = base_data()
    data["sanlock"]["io_timeout"] = 2
    spec, report = parse_spec(data)
    assert spec is not None
    assert [p.field for p in report.warnings] == ["sanlock.io_timeout"]
