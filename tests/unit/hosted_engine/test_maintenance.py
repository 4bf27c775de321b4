"""maintenance global|local|none and reinitialize-lockspace: the one function the CLI, console and
engine command call, its refusals, and the reinitialize plan (sanlock calls are fakes; the metadata
file and host.json are real)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hosted_engine import hosts_cli, lockspace, maintenance
from hosted_engine import metadata as md
from hosted_engine.ha_agent import HostConfig, read_local_maintenance
from nodecore.cli import main
from nodecore.errors import InvalidInput
from tests.unit.hosted_engine.he_hosts import (
    DEPLOYMENT,
    NOW,
    FilesRunner,
    buffered,
    make_deployment,
    slot,
    write_host_json,
)


def yes(_host: HostConfig) -> bool:
    return True


def no(_host: HostConfig) -> bool:
    return False


@pytest.fixture
def node(env: Path) -> tuple[Path, md.MetadataFile]:
    d = make_deployment(env / "mnt")
    host_file = write_host_json(env / "state", env / "mnt", 1, engine_url="https://engine.example.test")
    return host_file, buffered(str(d / "metadata"))


def test_global_on_and_off(node: tuple[Path, md.MetadataFile]) -> None:
    host_file, meta = node
    done = maintenance.set_maintenance("global", str(host_file), joined=yes, wall=lambda: NOW)
    assert "no HA agent starts" in done.message
    first = meta.read_all(DEPLOYMENT)[0].slot
    assert isinstance(first, md.GlobalSlot) and first.global_maintenance
    assert (first.sequence, first.written_by) == (1, 1)
    maintenance.set_maintenance("none", str(host_file), joined=yes, wall=lambda: NOW)
    first = meta.read_all(DEPLOYMENT)[0].slot
    assert isinstance(first, md.GlobalSlot) and not first.global_maintenance and first.sequence == 2


def test_global_needs_the_host_id(node: tuple[Path, md.MetadataFile]) -> None:
    host_file, meta = node
    with pytest.raises(InvalidInput) as err:
        maintenance.set_maintenance("global", str(host_file), joined=no)
    assert err.value.report.errors[0].field == "host id" and "start the HA agent" in err.value.report.errors[0].hint
    assert meta.read_all()[0].status == "empty"


def test_local_sets_the_flag_the_agent_reads(node: tuple[Path, md.MetadataFile]) -> None:
    host_file, _meta = node
    maintenance.set_maintenance("local", str(host_file), joined=no, wall=lambda: NOW)  # no host id needed
    assert read_local_maintenance(str(host_file)) is True
    data = json.loads(host_file.read_text())
    assert data["engine_url"] == "https://engine.example.test" and oct(os.stat(host_file).st_mode & 0o777) == "0o600"
    assert HostConfig.load(str(host_file)).local_maintenance
    # none with global maintenance off: only the flag, so no host id is needed either
    maintenance.set_maintenance("none", str(host_file), joined=no, wall=lambda: NOW)
    assert read_local_maintenance(str(host_file)) is False


def test_local_on_the_engines_host_needs_a_live_taker(node: tuple[Path, md.MetadataFile]) -> None:
    host_file, meta = node
    meta.write_host(slot(1, "node1", vm="up"))
    meta.write_host(slot(2, "node2", local_maintenance=True))
    meta.write_host(slot(3, "node3", ts=NOW - 300))  # stale
    with pytest.raises(InvalidInput) as err:
        maintenance.set_maintenance("local", str(host_file), joined=yes, wall=lambda: NOW)
    assert "no other live host can take it over" in err.value.report.errors[0].message
    assert read_local_maintenance(str(host_file)) is False
    meta.write_host(slot(3, "node3", ts=NOW - 5, seq=2))
    done = maintenance.set_maintenance("local", str(host_file), joined=yes, wall=lambda: NOW)
    assert "moves to another host first" in done.message and read_local_maintenance(str(host_file))


def test_bad_mode(node: tuple[Path, md.MetadataFile]) -> None:
    with pytest.raises(InvalidInput):
        maintenance.set_maintenance("partial", str(node[0]), joined=yes)


def test_cli_maintenance(node: tuple[Path, md.MetadataFile], monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(maintenance, "holds_host_id", no)
    assert main(["hosted-engine", "maintenance", "global"]) == 2
    assert "does not hold its host id" in capsys.readouterr().err
    assert main(["hosted-engine", "maintenance", "local"]) == 0
    assert "local maintenance on host id 1" in capsys.readouterr().out


def test_holds_host_id_without_sanlock_is_false(node: tuple[Path, md.MetadataFile],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    class NoSanlock:
        def inq_lockspace(self, *_a: object, **_k: object) -> None:
            raise OSError(111, "Connection refused")

    monkeypatch.setattr(lockspace, "_sanlock", lambda: NoSanlock())
    assert maintenance.holds_host_id(HostConfig.load(str(node[0]))) is False


# --- reinitialize-lockspace --------------------------------------------------------------------------

def facts(node: tuple[Path, md.MetadataFile], *, here: bool = False, owners: list[int] | None = None,
          ) -> maintenance.ReinitFacts:
    return maintenance.probe_reinit(HostConfig.load(str(node[0])), vm_running_here=here,
                                    lease_owners=lambda: owners or [], wall=lambda: NOW)


def test_reinit_only_under_global_maintenance_and_no_engine(node: tuple[Path, md.MetadataFile]) -> None:
    _host_file, meta = node
    fields = [e.field for e in maintenance.check_reinit(facts(node)).errors]
    assert fields == ["global maintenance"]
    meta.write_global(md.GlobalSlot(DEPLOYMENT, True, NOW, 1, 1))
    assert maintenance.check_reinit(facts(node)).ok
    meta.write_host(slot(2, "node2", vm="up"))
    why = [e.message for e in maintenance.check_reinit(facts(node, here=True, owners=[2])).errors]
    assert why == ["the engine VM runs on this host", "host node2 (id 2) says the engine VM runs there",
                   "the VM lease is held by host id 2"]


def test_reinit_with_an_unreadable_lease_is_refused(node: tuple[Path, md.MetadataFile]) -> None:
    node[1].write_global(md.GlobalSlot(DEPLOYMENT, True, NOW, 1, 1))

    def broken() -> list[int]:
        raise lockspace.LockspaceError("sanlock read_resource_owners: bad magic [-223]")

    f = maintenance.probe_reinit(HostConfig.load(str(node[0])), vm_running_here=False, lease_owners=broken)
    assert "the VM lease cannot be read" in maintenance.check_reinit(f).errors[0].message


def test_reinit_plan_clears_garbage_and_keeps_global_maintenance(node: tuple[Path, md.MetadataFile]) -> None:
    _host_file, meta = node
    meta.write_block(0, {"kind": "junk"})  # a corrupt slot 0 counts as global maintenance
    meta.write_block(5, {"kind": "host", "host_id": 5})
    meta.write_host(md.HostSlot(6, "node6", "another-deployment", NOW, 1, 3400, "EngineDown", "down", "unknown",
                                "none"))
    f = facts(node)
    assert (f.global_maintenance, f.garbage, f.io_timeout) == (None, (0, 5, 6), 5)
    assert maintenance.check_reinit(f).ok
    titles = [s.title for s in maintenance.reinit_plan(f).steps]
    assert titles == ["Stop the HA agent (hcinode-hosted-engine-ha.service)", "Leave the lockspace hosted-engine",
                      "Rewrite the sanlock lockspace hosted-engine (every host id free)",
                      "Join the lockspace hosted-engine as host id 1",
                      "Rewrite the global metadata slot 0 (global maintenance on)",
                      "Clear the garbage metadata slot 5", "Clear the garbage metadata slot 6",
                      "Start the hosted-engine HA agent (hcinode-hosted-engine-ha.service)"]


def test_cli_reinitialize(node: tuple[Path, md.MetadataFile], monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    _host_file, meta = node
    calls: list[str] = []
    for name in ("join_lockspace", "leave_lockspace", "init_lockspace"):
        monkeypatch.setattr(lockspace, name, (lambda n: lambda **p: calls.append(n))(name))
    monkeypatch.setattr(lockspace, "lease_owners", lambda *_a: [])
    monkeypatch.setattr(maintenance, "holds_host_id", yes)
    runner = FilesRunner()
    runner.respond(["sh", "-c"], returncode=1)
    runner.respond(["virsh", "domstate"], stdout="shut off\n")
    monkeypatch.setattr(hosts_cli, "_runner", lambda: runner)
    assert main(["hosted-engine", "reinitialize-lockspace", "--yes"]) == 2
    assert "maintenance global, then re-run" in capsys.readouterr().err
    meta.write_global(md.GlobalSlot(DEPLOYMENT, True, NOW, 1, 1))
    meta.write_block(5, {"kind": "host", "host_id": 5})
    assert main(["hosted-engine", "reinitialize-lockspace", "--dry-run"]) == 0
    assert "Clear the garbage metadata slot 5" in capsys.readouterr().out
    assert main(["hosted-engine", "reinitialize-lockspace"]) == 2
    assert "re-run with --yes" in capsys.readouterr().err and calls == []
    assert main(["hosted-engine", "reinitialize-lockspace", "--yes"]) == 0
    assert calls == ["leave_lockspace", "init_lockspace", "join_lockspace"]
    reads = meta.read_all(DEPLOYMENT)
    assert reads[5].status == "empty" and md.global_maintenance(reads) is True
    assert "global maintenance is still on" in capsys.readouterr().out
