"""Heartbeat collectors with a fake libvirt and Gluster XML captured from a real cluster."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from agent import collect
from nodecore.runner import RecordingRunner
from tests.unit.tui.conftest import load_facts

XML = Path(__file__).resolve().parents[2] / "data" / "gluster" / "status"

DOMAIN_XML = """<domain><devices>
<disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
<interface type='bridge'><target dev='vnet0'/></interface>
</devices></domain>"""


class FakeDomain:
    def __init__(self, name: str, state: int) -> None:
        self._name, self._state = name, state

    def name(self) -> str:
        return self._name

    def UUIDString(self) -> str:  # noqa: N802 - libvirt's name
        return f"uuid-{self._name}"

    def info(self) -> list[int]:
        return [self._state, 4194304, 2097152, 2, 123456789]

    def XMLDesc(self, _flags: int) -> str:  # noqa: N802
        return DOMAIN_XML

    def blockStats(self, dev: str) -> tuple[int, int, int, int, int]:  # noqa: N802
        if dev == "sda":
            raise RuntimeError("no media")
        return (10, 4096, 20, 8192, 0)

    def interfaceStats(self, _dev: str) -> tuple[int, ...]:  # noqa: N802
        return (1000, 10, 0, 0, 2000, 20, 0, 0)


class FakeConn:
    def __init__(self) -> None:
        self.closed = False

    def listAllDomains(self, _flags: int) -> list[FakeDomain]:  # noqa: N802
        return [FakeDomain("web01", 1), FakeDomain("db01", 5)]

    def close(self) -> None:
        self.closed = True


class FakeLibvirt:
    def __init__(self, reachable: bool = True) -> None:
        self.reachable = reachable
        self.conn = FakeConn()

    def registerErrorHandler(self, *_args: Any) -> None:  # noqa: N802
        pass

    def openReadOnly(self, uri: str) -> FakeConn:  # noqa: N802
        if not self.reachable:
            raise RuntimeError("Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file")
        return self.conn


def test_domains_with_counters() -> None:
    lib = FakeLibvirt()
    vms, note = collect.vms(lib)
    assert note == "" and lib.conn.closed
    assert vms == [
        {"name": "db01", "uuid": "uuid-db01", "state": "shutoff", "vcpus": 2, "memory_kib": 2097152,
         "cpu_time_ns": 123456789, "disks": [], "nics": []},
        {"name": "web01", "uuid": "uuid-web01", "state": "running", "vcpus": 2, "memory_kib": 2097152,
         "cpu_time_ns": 123456789, "disks": [{"name": "vda", "rd_bytes": 4096, "wr_bytes": 8192}],
         "nics": [{"name": "vnet0", "rx_bytes": 1000, "tx_bytes": 2000}]},
    ]


def test_libvirt_unreachable_is_an_empty_list_and_a_note() -> None:
    vms, note = collect.vms(FakeLibvirt(reachable=False))
    assert vms == [] and note.startswith("libvirt unreachable: Failed to connect socket")


def test_gluster_from_the_status_reader() -> None:
    runner = RecordingRunner()
    runner.respond(["gluster", "pool", "list"], stdout=(XML / "pool-list.xml").read_text())
    runner.respond(["gluster", "volume", "info"], stdout=(XML / "volume-info.xml").read_text())
    runner.respond(["gluster", "volume", "status"], stdout=(XML / "volume-status-detail.xml").read_text())
    runner.respond(["gluster", "volume", "heal"], stdout=(XML / "heal-data.xml").read_text())
    section, note = collect.gluster(runner, which=lambda _name: "/usr/sbin/gluster")
    assert note == ""
    assert {"host": "198.51.100.12", "connected": True} in section["peers"]
    data = next(v for v in section["volumes"] if v["name"] == "data")
    assert data["status"] == "Started" and data["heal_pending"] == 0
    assert data["bricks"][0] == {"host": "198.51.100.11", "path": "/run/gluster_bricks/data/data", "online": True}
    assert collect.storage_summary(section)["volumes"][0].keys() == {"name", "status", "heal_pending"}


def test_gluster_absent_or_down() -> None:
    assert collect.gluster(RecordingRunner(), which=lambda _n: None) == ({"peers": [], "volumes": []},
                                                                       "gluster is not installed")
    down = RecordingRunner()
    down.respond(["gluster"], returncode=1, stderr="Connection failed. Please check if gluster daemon is operational.")
    assert collect.gluster(down, which=lambda _n: "/usr/sbin/gluster")[1] == "glusterd is not running"


def test_every_heartbeat_probe_runs_quiet(monkeypatch: Any) -> None:
    # the agent runs gluster, lsblk, ip and pvs every interval, forever: at INFO those lines would
    # rotate the installer's and the console's history out of hcinode.log within days
    import gluster_setup.status
    import nodecore.facts
    from agent.daemon import default_collectors

    seen: list[Any] = []
    monkeypatch.setattr(gluster_setup.status, "collect", lambda runners, _names: seen.append(runners["local"]) or
                        (_ for _ in ()).throw(OSError("stop here")))
    monkeypatch.setattr(nodecore.facts, "collect", lambda runner=None: seen.append(runner) or load_facts("node"))
    collect.gluster(which=lambda _n: "/usr/sbin/gluster")
    default_collectors().facts()
    assert len(seen) == 2 and all(getattr(r, "run_level", None) == logging.DEBUG for r in seen), seen


def test_facts_summary_has_no_partition_trees() -> None:
    summary = collect.facts_summary(load_facts("node"))
    assert summary["hostname"] == "node01.lab.example" and summary["cpu"]["threads"] == 48
    assert all("children" not in d for d in summary["disks"])


def test_ha_state_from_the_ha_agents_file(tmp_path: Path) -> None:
    import json
    import os

    path = tmp_path / "hosted-engine.json"
    assert collect.ha(str(path)) is None  # no HA agent on this host
    path.write_text(json.dumps({"state": "EngineUp", "score": 3400}))
    assert collect.ha(str(path)) == {"state": "EngineUp", "score": 3400, "stale": False}
    os.utime(path, (1, 1))
    assert collect.ha(str(path))["stale"] is True  # type: ignore[index]
