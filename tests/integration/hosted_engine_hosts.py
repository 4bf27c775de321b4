"""The hosted-engine test bed on namespaced hosts (tests/integration/nshosts.py with virt=True), shared
by tests/integration/test_hosted_engine_deploy.py and bench/hosted_engine.py: three hosts with
libvirtd + virtlogd + sanlock, the management bridge `ovirtmgmt` in host 1's network namespace,
the replica 3 engine volume (`hcinode gluster deploy`'s code), a hosted-engine spec for host 1.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from gluster_setup import ops
from gluster_setup.spec import parse_spec as parse_gluster_spec
from tests.integration.nshosts import BRIDGE_ADDRESS, REPO, NsCluster, spec_data

WORKDIR = "/tmp/hcinode-he-it"
APPLIANCE = os.environ.get("HCINODE_APPLIANCE") or next(
    (p for p in (os.path.join(REPO, "build", "engine-appliance.qcow2"), "/work/main/build/engine-appliance.qcow2")
     if os.path.exists(p)), os.path.join(REPO, "build", "engine-appliance.qcow2"))
FQDN = "engine.hcinode.test"
ENGINE_IP = "198.51.100.50"
IO_TIMEOUT = 5  # sanlock: add_lockspace ~21 s (DESIGN.md); a warning below 6 s, fine for a test
PASSWORD = "Quorn-Tavel-7-Brisket-Ulmo"  # the engine's admin password (test only)
DOMAIN = "HostedEngine"
HE_STATE = "/var/lib/hcinode/hosted-engine"


def cluster(workdir: str = WORKDIR) -> NsCluster:
    return NsCluster(3, workdir, disks_per_host=1, disk_size="7G", virt=True, bridges={1: "ovirtmgmt"},
                     sanlock_io_timeout=IO_TIMEOUT)


def make_volume(c: NsCluster) -> str:
    """The engine volume: replica 3 with the virt group, mounted on every host at /run/glusterSD/engine."""
    data = spec_data(c, c.hosts, [{"name": "engine", "size": "6G", "thin": False}])
    spec, report = parse_gluster_spec(data, "test spec")
    assert spec is not None, report.render_text()
    runners = ops.connect(spec, known_hosts=os.path.join(c.workdir, "known_hosts"))
    ops.deploy(spec, runners)
    return "engine"


def he_spec_data(c: NsCluster, **changes: Any) -> dict[str, Any]:
    """Host 1's hosted-engine spec; `changes` as `section__key=value` (None drops the key)."""
    h1, h2, h3 = c.hosts
    data: dict[str, Any] = {
        "engine": {"fqdn": FQDN, "admin_password_file": os.path.join(c.workdir, "admin.pass"),
                   "hosts": {FQDN: ENGINE_IP}},
        "network": {"mode": "static", "ip": ENGINE_IP, "prefix": 24, "gateway": BRIDGE_ADDRESS,
                    "dns": [BRIDGE_ADDRESS]},
        "vm": {"memory_mib": 1536, "vcpus": 2, "disk_gib": 4},
        "appliance": {"path": os.path.join(c.workdir, "engine-appliance.qcow2")},
        "storage": {"server": h1.address, "volume": "engine", "backup_servers": [h2.address, h3.address],
                    "mount_root": "/run/glusterSD"},
        "bridge": {"name": "ovirtmgmt", "nic": f"{c.prefix}1i"},
        "sanlock": {"io_timeout": IO_TIMEOUT},
        "test": {"allow_tcg": True},
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for p in parents:
            node = node[p]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


def write_spec(c: NsCluster, name: str, data: dict[str, Any]) -> str:
    path = os.path.join(c.workdir, name)
    Path(path).write_text(yaml.safe_dump(data))
    return path


def write_he_spec(c: NsCluster) -> str:
    """The admin password file (0600), a copy of the appliance, the spec: its path."""
    password = os.path.join(c.workdir, "admin.pass")
    Path(password).write_text(PASSWORD + "\n")
    os.chmod(password, 0o600)
    # a copy: libvirt relabels what it is given, and the deploy must not touch build/
    shutil.copy(APPLIANCE, os.path.join(c.workdir, "engine-appliance.qcow2"))
    return write_spec(c, "he.yaml", he_spec_data(c))
