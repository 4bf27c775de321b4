"""Spec validation: every problem is reported with its field, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gluster_setup.spec import parse_spec

FP = "SHA256:" + "A" * 43


def base() -> dict[str, Any]:
    return {
        "hosts": [
            {"address": f"10.0.0.{i}", "name": f"node{i}.example.com", "host_key": FP, "disks": ["/dev/sdb"]}
            for i in (1, 2, 3)
        ],
        "volumes": [
            {"name": "engine", "size": "100G", "thin": False},
            {"name": "data", "size": "500G"},
            {"name": "vmstore", "size": "500G"},
        ],
    }


def mutate(path: str, value: Any) -> dict[str, Any]:
    """Set (or delete, for value=DELETE) a dotted path like 'hosts.0.disks' in a copy of base()."""
    data = base()
    node: Any = data
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    last = keys[-1]
    if value is DELETE:
        del node[int(last) if isinstance(node, list) else last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()

ERROR_CASES = [
    # (id, mutation path, value, field with the error, text in the message)
    ("no-hosts", "hosts", [], "hosts", "no hosts"),
    ("bad-address", "hosts.0.address", "10.0.0.300", "hosts[0].address", "not an IP address"),
    ("bad-name", "hosts.1.name", "node_1!", "hosts[1].name", "not an IP address or host name"),
    ("duplicate-address", "hosts.1.address", "10.0.0.1", "hosts[1].address", "also hosts[0]"),
    ("duplicate-name", "hosts.2.name", "node1.example.com", "hosts[2].name", "also hosts[0]"),
    ("bad-fingerprint", "hosts.0.host_key", "MD5:aa:bb", "hosts[0].host_key", "not a SHA256 fingerprint"),
    ("missing-host-key", "hosts.0.host_key", DELETE, "hosts[0].host_key", "no SSH host key"),
    ("bad-port", "hosts.0.ssh_port", 70000, "hosts[0].ssh_port", "not a TCP port"),
    ("no-disks", "hosts.0.disks", [], "hosts[0].disks", "no disks"),
    ("disk-not-dev", "hosts.0.disks", ["sdb"], "hosts[0].disks[0]", "not a device path"),
    ("disk-twice", "hosts.0.disks", ["/dev/sdb", "/dev/sdb"], "hosts[0].disks[1]", "listed twice"),
    ("bad-vg", "hosts.0.vg_name", "bad vg", "hosts[0].vg_name", "not a valid LVM name"),
    ("two-hosts-replica3", "hosts.2", DELETE, "hosts", "whole replica sets of 3"),
    ("replica2-no-arbiter", "replica", 2, "replica", "splits brain"),
    ("replica4", "replica", 4, "replica", "not supported"),
    ("arbiter-with-replica3", "arbiter", True, "arbiter", "goes with replica 2"),
    ("jbod-disk-count", "disk_type", {"type": "JBOD", "disk_count": 4}, "disk_type.disk_count", "JBOD"),
    ("raid6-too-few", "disk_type", {"type": "RAID6", "disk_count": 1}, "disk_type.disk_count",
     "at least 2 data disks"),
    ("raid-stripe-unit", "disk_type", {"type": "RAID6", "disk_count": 10, "stripe_unit": "3000"},
     "disk_type.stripe_unit", "not a stripe unit"),
    ("raid-type", "disk_type", {"type": "RAID7"}, "disk_type.type", "not allowed"),
    ("chunk-not-64k", "thin_pool", {"chunk_size": "96K"}, "thin_pool.chunk_size", "multiple of 64KiB"),
    ("metadata-too-big", "thin_pool", {"metadata_size": "20G"}, "thin_pool.metadata_size", "outside"),
    ("no-volumes", "volumes", [], "volumes", "no volumes"),
    ("volume-bad-name", "volumes.1.name", "da ta", "volumes[1].name", "not a valid volume name"),
    ("volume-twice", "volumes.2.name", "data", "volumes[2].name", "listed twice"),
    ("volume-too-small", "volumes.1.size", "1M", "volumes[1].size", "too small"),
    ("volume-bad-size", "volumes.1.size", "lots", "volumes[1].size", "not a size"),
    ("volume-bad-option", "volumes.1.options", {"Not An Option": "x"}, "volumes[1].options.Not An Option",
     "not a Gluster option"),
    ("unknown-key", "replcia", 3, "replcia", "unknown key"),
    ("relative-brick-root", "brick_root", "bricks", "brick_root", "absolute path"),
    ("same-roots", "mount_root", "/gluster_bricks", "mount_root", "must not share"),
    # values that reached the hosts' shells and fstab as written (a fuzzing run found them)
    ("quote-in-mount-root", "mount_root", "/mnt/x'; touch /tmp/pwned; '", "mount_root", "blanks or control"),
    ("newline-in-brick-root", "brick_root", "/b\nUUID=1 / xfs defaults 0 0", "brick_root", "control character"),
    ("dotdot-brick-root", "brick_root", "/gluster_bricks/../etc", "brick_root", "'..'"),
    ("unnormalised-mount-root", "mount_root", "/mnt/./gluster", "mount_root", "normalised"),
    ("fstab-with-tab", "fstab", "/etc/fs\ttab", "fstab", "control character"),
    ("disk-outside-dev", "hosts.0.disks", ["/dev/../etc/passwd"], "hosts[0].disks[0]", "'..'"),
    ("disk-with-newline", "hosts.0.disks", ["/dev/sdb\n/dev/sdc"], "hosts[0].disks[0]", "control character"),
    ("identity-relative", "ssh.identity", "id_rsa", "ssh.identity", "absolute"),
    ("bad-uid", "owner_uid", -1, "owner_uid", "not a uid"),
    ("relative-identity", "ssh", {"identity": "id_ed25519"}, "ssh.identity", "absolute path"),
    ("cache-without-disk", "cache", {"size": "10G"}, "hosts[0].cache_disk", "no cache_disk"),
    ("cache-disk-without-cache", "hosts.0.cache_disk", "/dev/nvme0n1", "hosts[0].cache_disk",
     "without a cache section"),
    ("cache-disk-is-brick", "hosts.0.cache_disk", "/dev/sdb", "hosts[0].cache_disk", "also a brick disk"),
    ("nolvm-disk-count", "lvm", False, "hosts[0].disks", "one disk per volume"),
    ("hosts-not-list", "hosts", {"a": 1}, "hosts", "expected a list"),
    # bricks are written host:/path and glusterd listens on IPv4 by default: refused, not half-deployed
    ("ipv6-storage-address", "hosts.0.address", "2001:db8::11", "hosts[0].address", "IPv6"),
    ("newline-in-address", "hosts.0.address", "198.51.100.11\n", "hosts[0].address", "control character"),
    ("ssh-user-trailing-newline", "ssh.user", "root\n", "ssh.user", "control character"),
    # each option is a `key=value` line of the option group file glusterd reads
    ("option-value-newline", "volumes.1.options", {"cluster.quorum-type": "auto\nuser.x=1"},
     "volumes[1].options.cluster.quorum-type", "control character"),
    ("option-key-newline", "volumes.1.options", {"cluster.quorum-type\nuser.x": "auto"},
     "volumes[1].options.'cluster.quorum-type\\nuser.x'", "control character"),
    ("option-value-line-separator", "volumes.1.options", {"cluster.quorum-type": "auto\u2028user.x=1"},
     "volumes[1].options.cluster.quorum-type", "control character"),
    ("hostname-trailing-newline", "hosts.0.name", "host1.example.com\n", "hosts[0].name", "control character"),
]


@pytest.mark.parametrize("case_id,path,value,field,text", ERROR_CASES, ids=[c[0] for c in ERROR_CASES])
def test_invalid_spec_reports_field(case_id: str, path: str, value: Any, field: str, text: str) -> None:
    spec, report = parse_spec(mutate(path, value))
    assert spec is None
    matching = [p for p in report.errors if p.field == field and text in p.message]
    assert matching, f"expected error at {field} containing {text!r}; got:\n{report.render_text()}"


def test_base_spec_is_valid_with_defaults() -> None:
    spec, report = parse_spec(base())
    assert spec is not None, report.render_text()
    assert report.problems == []
    assert spec.replica == 3 and spec.replica_set == 3
    assert spec.vg_for(spec.hosts[0]) == "gluster_vg"
    assert spec.thin_pool.metadata_size == 16 * 1024**3


def test_default_volumes_are_ovirt_hci() -> None:
    data = base()
    del data["volumes"]
    spec, _ = parse_spec(data)
    assert spec is not None
    assert [(v.name, v.thin) for v in spec.volumes] == [("engine", False), ("data", True), ("vmstore", True)]


def test_all_problems_reported_at_once() -> None:
    data = mutate("replica", 2)
    data["hosts"][0]["disks"] = ["sdb"]
    data["volumes"][0]["size"] = "1M"
    spec, report = parse_spec(data)
    assert spec is None
    fields = {p.field for p in report.errors}
    assert {"replica", "hosts[0].disks[0]", "volumes[0].size"} <= fields


def test_single_node_is_a_warning() -> None:
    data = base()
    data["hosts"] = data["hosts"][:1]
    data["replica"] = 1
    spec, report = parse_spec(data)
    assert spec is not None
    assert [p.field for p in report.warnings] == ["replica"]


def test_replica2_arbiter_is_set_of_three() -> None:
    spec, report = parse_spec(mutate("arbiter", True) | {"replica": 2})
    assert spec is not None, report.render_text()
    assert spec.replica_set == 3


def test_six_hosts_make_two_sets() -> None:
    data = base()
    data["hosts"] += [{"address": f"10.0.0.{i}", "host_key": FP, "disks": ["/dev/sdb"]} for i in (4, 5, 6)]
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()


def test_known_hosts_file_replaces_fingerprints() -> None:
    data = base()
    for h in data["hosts"]:
        del h["host_key"]
    data["ssh"] = {"known_hosts": "/root/.ssh/known_hosts"}
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()


def test_thin_engine_is_warned() -> None:
    spec, report = parse_spec(mutate("volumes.0.thin", True))
    assert spec is not None
    assert any(p.field == "volumes.engine" for p in report.warnings)


def test_raid6_geometry_accepted() -> None:
    spec, report = parse_spec(mutate("disk_type", {"type": "RAID6", "disk_count": 10, "stripe_unit": "128K"}))
    assert spec is not None, report.render_text()
    assert spec.disk_type.stripe_unit == 128 * 1024


def test_nolvm_one_disk_per_volume() -> None:
    data = base()
    data["lvm"] = False
    for h in data["hosts"]:
        h["disks"] = ["/dev/sdb", "/dev/sdc", "/dev/sdd"]
    spec, report = parse_spec(data)
    assert spec is not None, report.render_text()
    assert any(p.field.endswith(".thin") for p in report.warnings)
