"""The agent loop with fake libvirt, health and lockspace, and the real state machine, score and
metadata file (tmpfs: the test-only buffered fallback of MetadataFile)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hosted_engine import ha_agent, layout, states
from hosted_engine import metadata as md
from hosted_engine.ha_agent import DeploymentConfig, HaAgent, HostConfig
from hosted_engine.score import ScoreInputs
from hosted_engine.states import State
from nodecore.errors import InvalidInput
from nodecore.runner import RecordingRunner

DEPLOYMENT = "11111111-2222-4333-8444-555555555555"
GIB = 1 << 30
XML = "<domain type='qemu'><name>HostedEngine</name></domain>"


@dataclass
class FakeVm:
    running: bool = False
    reachable: bool = True
    refuse_start: str = ""  # e.g. sanlock's -243
    calls: list[str] = field(default_factory=list)

    def state(self) -> tuple[str, str]:
        if not self.reachable:
            return "unknown", "unknown"
        return ("up", "running") if self.running else ("down", "none")

    def start(self, xml: str) -> None:
        self.calls.append("start")
        if self.refuse_start:
            raise RuntimeError(self.refuse_start)
        self.running = True

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.running = False

    def destroy(self) -> None:
        self.calls.append("destroy")
        self.running = False


@dataclass
class FakeHealth:
    value: str = "good"

    def __call__(self) -> str:
        return self.value


@dataclass
class FakeProbe:
    inputs: ScoreInputs = ScoreInputs(free_memory=8 * GIB, vm_memory=4 * GIB)

    def score_inputs(self) -> ScoreInputs:
        return self.inputs


@dataclass
class FakeLocks:
    joined: bool = True
    held: str = "free"
    left: bool = False

    def ensure_joined(self) -> bool:
        return self.joined

    def lease(self) -> str:
        return self.held

    def leave(self) -> None:
        self.left = True


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(tmp_path: Path, **kw: object) -> tuple[HaAgent, Clock]:
    mount = tmp_path / "mnt"
    d = mount / "hosted-engine" / DEPLOYMENT
    d.mkdir(parents=True)
    (d / "vm.xml").write_text(XML)
    host_file = tmp_path / "host.json"
    host_file.write_text(json.dumps({"host_id": 1, "deployment": DEPLOYMENT, "mount": str(mount)}))
    meta = md.MetadataFile(str(d / "metadata"), allow_buffered=True)
    meta.create()
    clock = Clock()
    args: dict[str, object] = dict(
        host=HostConfig.load(str(host_file)),
        deployment=DeploymentConfig("engine.example.test", "https://engine.example.test/health", 4 * GIB, 10, 512,
                                    "hcibr0", ""),
        vm=FakeVm(), health=FakeHealth(), probe=FakeProbe(), locks=FakeLocks(), metadata=meta,
        host_file=str(host_file), status_file=str(tmp_path / "run" / "hosted-engine.json"), hostname="node1",
        clock=clock, wall=lambda: 1700000000.0)
    args.update(kw)
    return HaAgent(**args), clock  # type: ignore[arg-type]


def ticks(agent: HaAgent, clock: Clock, seconds: float) -> list[states.Decision]:
    out = []
    end = clock.t + seconds
    while clock.t < end:
        d = agent.tick()
        out.append(d)
        if not d.nowait:
            clock.t += 10
    return out


def test_engine_vm_dies_and_the_agent_restarts_it(tmp_path: Path) -> None:
    vm = FakeVm(running=True)
    agent, clock = make(tmp_path, vm=vm)
    assert agent.tick().state == State.ENGINE_UP
    vm.running = False  # qemu killed
    seen = [d.state for d in ticks(agent, clock, 200)]
    assert State.ENGINE_MAYBE_AWAY in seen and State.ENGINE_START in seen
    assert vm.calls == ["start"] and vm.running
    assert seen[-1] == State.ENGINE_UP
    slot = agent.metadata.read_all(DEPLOYMENT)[1].slot
    assert isinstance(slot, md.HostSlot)
    assert (slot.state, slot.engine_vm, slot.engine_health, slot.score, slot.hostname) == \
        ("EngineUp", "up", "good", 3400, "node1")
    assert slot.sequence == len(seen) + 1


def test_unhealthy_engine_is_stopped_then_started(tmp_path: Path) -> None:
    vm, health = FakeVm(running=True), FakeHealth("bad")
    agent, clock = make(tmp_path, vm=vm, health=health)
    seen = [d.state for d in ticks(agent, clock, 330)]
    assert seen[0] == State.ENGINE_STARTING  # found running, not healthy yet: the start timeout applies
    health.value = "good"
    agent.tick()
    assert agent.machine.state == State.ENGINE_UP
    health.value = "bad"
    seen = [d.state for d in ticks(agent, clock, 320)]
    assert State.ENGINE_UP_BAD_HEALTH in seen and State.ENGINE_STOP in seen
    assert "shutdown" in vm.calls and vm.calls[-1] == "start"


def test_lease_elsewhere_never_starts_and_writes_the_status_file(tmp_path: Path) -> None:
    vm = FakeVm()
    agent, clock = make(tmp_path, vm=vm, locks=FakeLocks(held="other"))
    ticks(agent, clock, 900)
    assert vm.calls == []
    status = json.loads(Path(agent.status_file).read_text())
    assert status["state"] == "EngineDown" and status["lease"] == "other" and status["score"] == 3400
    assert "held by another host" in status["reason"]


def test_not_joined_never_writes_its_slot_nor_starts(tmp_path: Path) -> None:
    vm = FakeVm()
    agent, clock = make(tmp_path, vm=vm, locks=FakeLocks(joined=False))
    ticks(agent, clock, 120)
    assert agent.metadata.read_all()[1].status == "empty" and vm.calls == []


def test_failed_start_is_logged_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vm = FakeVm(refuse_start="Failed to acquire lock: Lease is held by another host")
    agent, clock = make(tmp_path, vm=vm)
    ticks(agent, clock, 70)
    assert "Lease is held by another host" in caplog.text
    assert len(agent.machine.failed_starts) == 1


def test_peers_and_corrupt_slots(tmp_path: Path) -> None:
    agent, clock = make(tmp_path)
    peer = md.HostSlot(2, "node2", DEPLOYMENT, 1.0, 5, 3400, "EngineUp", "up", "good", "running")
    agent.metadata.write_host(peer)
    agent.metadata.write_block(3, {"kind": "host", "junk": True})
    agent.tick()
    clock.t += 10
    agent.metadata.write_host(md.HostSlot(2, "node2", DEPLOYMENT, 1.0, 6, 3400, "EngineUp", "up", "good", "running"))
    d = agent.tick()
    assert d.state == State.ENGINE_DOWN and "runs on host node2" in d.reason
    status = json.loads(Path(agent.status_file).read_text())
    assert [h["host_id"] for h in status["hosts"]] == [2] and status["hosts"][0]["alive"]


def test_global_maintenance_and_local_maintenance_from_host_json(tmp_path: Path) -> None:
    vm = FakeVm(running=True)
    agent, clock = make(tmp_path, vm=vm)
    agent.metadata.write_global(md.GlobalSlot(DEPLOYMENT, True, 1.0, 1, 1))
    vm.running = False
    assert {d.state for d in ticks(agent, clock, 200)} == {State.GLOBAL_MAINTENANCE} and vm.calls == []
    agent.metadata.write_global(md.GlobalSlot(DEPLOYMENT, False, 2.0, 2, 1))
    data = json.loads(Path(agent.host_file).read_text())
    Path(agent.host_file).write_text(json.dumps({**data, "local_maintenance": True}))
    d = agent.tick()
    assert d.state == State.LOCAL_MAINTENANCE and d.score == 0


def test_stop_publishes_agent_stopped(tmp_path: Path) -> None:
    agent, clock = make(tmp_path)
    agent.tick()
    agent.stop()
    slot = agent.metadata.read_all()[1].slot
    assert isinstance(slot, md.HostSlot) and slot.stopped and slot.state == "AgentStopped"
    assert agent.locks.left  # type: ignore[attr-defined]
    # a restarted agent goes on from its own sequence, so observers see the change
    again, _ = make(tmp_path / "x")
    assert again.sequence == 0
    restarted = HaAgent(**{**agent.__dict__, "machine": states.Machine(), "sequence": 0, "last": None})
    assert restarted.sequence == slot.sequence


def test_run_loops_and_stops(tmp_path: Path) -> None:
    agent, clock = make(tmp_path, interval=0.01)
    assert agent.run(ticks=2) is not None
    assert agent.sequence == 2


def test_unknown_vm_state(tmp_path: Path) -> None:
    agent, clock = make(tmp_path, vm=FakeVm(reachable=False))
    assert agent.tick().state == State.UNKNOWN_LOCAL_VM_STATE


@pytest.mark.parametrize("data, field_name", [
    (None, "host.json"), ({"deployment": "x", "mount": "/m"}, "host_id"),
    ({"host_id": 251, "deployment": "x", "mount": "/m"}, "host_id"),
    ({"host_id": 1, "mount": "/m"}, "deployment"), ({"host_id": 1, "deployment": "x"}, "mount"),
])
def test_bad_host_json_names_the_field(tmp_path: Path, data: object, field_name: str) -> None:
    path = tmp_path / "host.json"
    if data is not None:
        path.write_text(json.dumps(data))
    with pytest.raises(InvalidInput) as err:
        HostConfig.load(str(path))
    assert err.value.report.errors[0].field == field_name


def test_deployment_config_defaults(tmp_path: Path) -> None:
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps({"engine_fqdn": "engine.example.test", "vm": {"memory_mib": 2048}, "bridge": "br0"}))
    cfg = DeploymentConfig.load(str(path))
    assert (cfg.health_url, cfg.vm_memory, cfg.io_timeout, cfg.sector_size) == \
        ("https://engine.example.test/health", 2 * GIB, 10, 512)


def test_local_probe(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable:  2048 kB\n")
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    cfg = DeploymentConfig("e", "u", GIB, 10, 512, "br0", "")
    runner = RecordingRunner()
    runner.respond(["ip", "-j", "link", "show", "dev", "br0"], stdout='[{"ifname": "br0", "operstate": "UP"}]')
    probe = ha_agent.LocalProbe(cfg, runner=runner, proc=str(proc))
    first = probe.score_inputs()
    assert first.bridge_up and first.free_memory == 2048 * 1024 and first.network_ok == 1.0
    (proc / "stat").write_text("cpu  400 0 100 1100 0 0 0 0 0 0\n")
    assert probe.cpu_load() == pytest.approx(0.5)
    runner.responses.clear()
    runner.respond(["ip", "-j", "link", "show", "dev", "br0"], stdout='[{"ifname": "br0", "operstate": "DOWN"}]')
    assert not probe.bridge_up()
    # no such bridge: ip fails, the bridge counts as down
    runner.responses.clear()
    runner.respond(["ip", "-j", "link", "show", "dev", "br0"], returncode=1, stderr='Device "br0" does not exist.')
    assert not probe.bridge_up()


def test_libvirt_vm_adapter_with_a_fake_module() -> None:
    class Err(Exception):
        def get_error_code(self) -> int:
            return 42

    class Dom:
        def state(self) -> list[int]:
            return [1, 0]

        def shutdown(self) -> None:
            calls.append("shutdown")

    class Conn:
        def __init__(self, found: bool) -> None:
            self.found = found

        def lookupByName(self, name: str) -> Dom:
            if not self.found:
                raise Err("no domain")
            return Dom()

        def createXML(self, xml: str, flags: int) -> None:
            calls.append(f"create {ha_agent.domain_name(xml)}")

        def close(self) -> None:
            pass

    class Module:
        libvirtError = Err
        VIR_ERR_NO_DOMAIN = 42
        found = True

        def open(self, uri: str) -> Conn:
            return Conn(self.found)

    calls: list[str] = []
    mod = Module()
    vm = ha_agent.LibvirtVm("HostedEngine", module=mod)
    assert vm.state() == ("up", "running")
    vm.start(XML)
    vm.shutdown()
    assert calls == ["create HostedEngine", "shutdown"]
    mod.found = False
    assert vm.state() == ("down", "none")


def test_cli_agent_once_with_the_real_adapters_and_no_daemons(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """build() wires the real adapters: with no sanlock daemon the host id is not held, so the
    agent writes no slot and starts nothing; libvirt is a fake module (no libvirtd here)."""
    import argparse

    from hosted_engine import ha_cli, lockspace

    class NoSanlock:
        def __getattr__(self, name: str) -> object:
            def fail(*_a: object, **_k: object) -> None:
                raise OSError(111, "Connection refused")
            return fail

    monkeypatch.setattr(lockspace, "_sanlock", lambda: NoSanlock())
    monkeypatch.setattr(ha_agent.LibvirtVm, "state", lambda self: ("down", "none"))
    agent, _clock = make(tmp_path)
    d = Path(agent.host.paths.directory)
    (d / "deployment.json").write_text(json.dumps({"engine_fqdn": "engine.example.test", "bridge": "hcibr0"}))
    parser = argparse.ArgumentParser()
    ha_cli.register(parser.add_subparsers())
    args = parser.parse_args(["agent", "--once", "--host-file", agent.host_file, "--run-dir", str(tmp_path / "run")])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["state"] == "EngineDown"
    status = json.loads((tmp_path / "run" / "hosted-engine.json").read_text())
    assert status["lockspace_joined"] is False and status["lease"] == "unknown"
    assert md.MetadataFile(agent.metadata.path, allow_buffered=True).read_all()[1].status == "empty"


# --- garbage in the metadata, an unreadable lockspace: said so, never acted on ---------------------

def _peer_up(seq: int) -> md.HostSlot:
    return md.HostSlot(2, "node2", DEPLOYMENT, 1.0, seq, 3400, "EngineUp", "up", "good", "running")


def test_corrupt_slot_is_reported_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A torn write of the peer that runs the engine: its record is not trusted, the status file
    and the log say why, and nothing is started while the slot is garbage (no history of it)."""
    vm = FakeVm()
    agent, clock = make(tmp_path, vm=vm)
    agent.metadata.write_host(_peer_up(1))
    raw = bytearray(md.encode_block(2, _peer_up(2).to_payload()))
    raw[40] ^= 0xFF  # damage the payload: the checksum no longer matches
    agent.metadata._write_slot(2, bytes(raw))
    d = agent.tick()
    status = json.loads(Path(agent.status_file).read_text())
    assert status["metadata_problems"] == [{"slot": 2, "status": "corrupt",
                                            "error": "checksum mismatch (torn or damaged write)"}]
    assert status["hosts"] == [] and "metadata slot 2 is corrupt" in caplog.text
    assert d.state == State.ENGINE_DOWN and vm.calls == []


def test_foreign_deployment_slot_is_not_a_peer(tmp_path: Path) -> None:
    agent, clock = make(tmp_path)
    other = md.HostSlot(3, "node3", "99999999-2222-4333-8444-555555555555", 1.0, 1, 3400, "EngineUp", "up", "good",
                        "running")
    agent.metadata.write_host(other)
    agent.tick()
    clock.t += 10
    agent.metadata.write_host(md.HostSlot(**{**other.__dict__, "sequence": 2}))
    d = agent.tick()
    status = json.loads(Path(agent.status_file).read_text())
    assert status["metadata_problems"][0]["status"] == "foreign" and status["hosts"] == []
    assert "runs on host node3" not in d.reason  # an engine of another deployment does not count


def test_short_metadata_file_keeps_every_agent_still(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    vm = FakeVm()
    agent, clock = make(tmp_path, vm=vm)
    with open(agent.metadata.path, "r+b") as f:
        f.truncate(4096 * 10)
    decisions = ticks(agent, clock, 120)
    assert {d.state for d in decisions} == {State.GLOBAL_MAINTENANCE} and vm.calls == []
    assert "the global metadata slot is unreadable" in decisions[-1].reason
    assert f"holds {4096 * 10} bytes" in caplog.text
    status = json.loads(Path(agent.status_file).read_text())
    assert status["global_maintenance"] is None and len(status["metadata_problems"]) == layout.METADATA_SLOTS


def test_unreadable_lockspace_is_said_and_nothing_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hosted_engine import lockspace

    class BadLockspace:
        def inq_lockspace(self, *_a: object, **_k: object) -> None:
            raise OSError(-223, "Sanlock lockspace read failure")

    monkeypatch.setattr(lockspace, "_sanlock", lambda: BadLockspace())
    vm = FakeVm()
    agent, clock = make(tmp_path, vm=vm)
    locks = ha_agent.SanlockLocks(lockspace.Lockspace(str(tmp_path / "ls"), 1), str(tmp_path / "lease"))
    agent.locks = locks
    ticks(agent, clock, 120)
    status = json.loads(Path(agent.status_file).read_text())
    assert "lockspace read failure" in status["lockspace_problem"] and not status["lockspace_joined"]
    assert status["lease"] == "unknown" and vm.calls == []
    assert agent.metadata.read_all()[1].status == "empty"  # no write without the host id


def test_status_file_carries_the_observers_history(tmp_path: Path) -> None:
    agent, clock = make(tmp_path)
    agent.metadata.write_host(_peer_up(1))
    agent.tick()
    clock.t += 10
    agent.tick()
    peer = json.loads(Path(agent.status_file).read_text())["hosts"][0]
    assert (peer["sequence"], peer["changed_ago"], peer["alive"]) == (1, 10.0, True)
