"""The heartbeat loop: mutual TLS, commands acked, backoff through downtime, renewal, agent.json."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from agent import join as joining
from agent.daemon import Agent, Collectors, Outcome, backoff
from agent.state import ClusterFiles
from agent.status import cluster_line, read_status, storage_line
from agent.transport import Response, Unreachable
from nodecore import pki
from tests.unit.agent.fake_engine import FakeEngine

from .conftest import FACTS

GLUSTER = {"peers": [{"host": "n2", "connected": True}],
           "volumes": [{"name": "data", "status": "Started", "heal_pending": 2,
                        "bricks": [{"host": "n1", "path": "/b", "online": True}]}]}


def collectors() -> Collectors:
    return Collectors(facts=lambda: dict(FACTS), vms=lambda: ([{"name": "web01"}], ""),
                      gluster=lambda: (GLUSTER, ""), ha=lambda: None)


def joined(engine: FakeEngine, state: Path) -> ClusterFiles:
    joining.join(joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False),
                 facts=FACTS, name="node01")
    return ClusterFiles(str(state))


class Clock:
    """A monotonic clock that moves only when a test says so (a beat takes no time by default)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_agent(files: ClusterFiles, tmp_path: Path, **kwargs: Any) -> Agent:
    kwargs.setdefault("clock", Clock())
    return Agent(files, collectors=collectors(), status_file=str(tmp_path / "run" / "agent.json"), **kwargs)


def test_backoff_doubles_to_a_minute() -> None:
    assert [backoff(i) for i in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_heartbeat_over_mutual_tls_writes_agent_json(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    agent = make_agent(joined(engine, state), tmp_path)
    outcome = agent.beat()
    assert outcome.ok and outcome.status == "Up"
    _method, path, body = engine.state.requests[-1]
    assert path == "/api/v1/agent/heartbeat"
    assert body["vms"] == [{"name": "web01"}] and body["gluster"] == GLUSTER and body["ha"] is None
    assert "host_id" not in body and "name" not in body  # the certificate says who we are
    status = read_status(str(tmp_path / "run"))
    assert status is not None
    assert status["status"] == "Up" and status["name"] == "node01" and status["engine_url"] == engine.url
    assert status["storage"] == {"volumes": [{"name": "data", "status": "Started", "heal_pending": 2}]}
    assert oct((tmp_path / "run" / "agent.json").stat().st_mode & 0o777) == "0o644"
    assert "PRIVATE" not in (tmp_path / "run" / "agent.json").read_text()
    line = cluster_line(status)
    assert line.startswith(f"Up at {engine.url}, last heartbeat 20") and "certificate until 20" in line
    assert storage_line(status) == "data Started, 2 pending heal"


def test_heartbeats_reuse_one_connection_until_the_certificate_changes(engine: FakeEngine, state: Path,
                                                                       tmp_path: Path) -> None:
    """A TLS handshake per heartbeat was most of the engine's cost at 2,000 hosts: the agent keeps its
    connection, and opens a new one only when its certificate was renewed."""
    agent = make_agent(joined(engine, state), tmp_path)
    start = len(engine.state.peers)
    for _ in range(3):
        assert agent.beat().ok
    assert len(set(engine.state.peers[start:])) == 1
    engine.state.renew = True
    assert agent.beat().ok  # heartbeat and renewal on the kept connection, then the new certificate
    assert agent.beat().ok and agent.beat().ok
    after = engine.state.peers[start + 5:]  # after the heartbeat and the renewal of the 4th beat
    assert len(set(after)) == 1 and after[0] != engine.state.peers[start]


def test_commands_are_acked_and_refresh_beats_again(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    agent = make_agent(joined(engine, state), tmp_path)
    engine.state.commands = [{"id": "c1", "name": "maintenance_on"}, {"id": "c2", "name": "refresh"},
                             {"id": "c3", "name": "reformat_disks"}]
    outcome = agent.beat()
    assert outcome.refresh
    assert [(cid, body["ok"]) for cid, body in engine.state.acks] == [("c1", True), ("c2", True), ("c3", False)]


def test_hosted_engine_maintenance_commands_run_the_cli_function(engine: FakeEngine, state: Path,
                                                                 tmp_path: Path) -> None:
    from nodecore.errors import InvalidInput
    from nodecore.report import ValidationReport

    agent = make_agent(joined(engine, state), tmp_path)
    asked: list[str] = []

    def set_he_maintenance(mode: str) -> str:
        asked.append(mode)
        if mode == "local":
            report = ValidationReport("maintenance")
            report.error("mode", "no other live host can take it over")
            raise InvalidInput(report)
        return f"{mode} done"

    agent.set_he_maintenance = set_he_maintenance
    engine.state.commands = [{"id": "c1", "name": "he_maintenance_global"},
                             {"id": "c2", "name": "he_maintenance_local"},
                             {"id": "c3", "name": "he_maintenance_bogus"}]
    agent.beat()
    assert asked == ["global", "local"]
    acks = [(cid, body["ok"], body["detail"]) for cid, body in engine.state.acks]
    assert acks[0] == ("c1", True, "global done")
    assert acks[1][:2] == ("c2", False) and "no other live host" in acks[1][2]
    assert acks[2][:2] == ("c3", False) and "unknown command" in acks[2][2]


def test_removed_host_is_refused_and_said_so(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    agent = make_agent(joined(engine, state), tmp_path)
    engine.state.hosts.clear()
    outcome = agent.beat()
    assert not outcome.ok and "401" in outcome.error and "removed" in outcome.error
    assert read_status(str(tmp_path / "run"))["status"] == "unreachable"  # type: ignore[index]


def test_renews_when_the_engine_asks_and_at_two_thirds(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    files = joined(engine, state)
    agent = make_agent(files, tmp_path)
    before = Path(files.cert).read_text()
    engine.state.renew = True
    assert agent.beat().ok
    after = Path(files.cert).read_text()
    assert after != before and pki.cert_matches_key(after, pki.load_key(Path(files.key).read_bytes()))
    assert agent.beat().ok  # the engine accepts the new certificate at once
    # two thirds of the life passed: renewed without being asked
    cert = pki.load_certificate(after)
    agent.now = lambda: pki.renew_at(cert) + dt.timedelta(seconds=1)
    agent.beat()
    assert Path(files.cert).read_text() != after
    agent.now = lambda: pki.renew_at(pki.load_certificate(Path(files.cert).read_text())) - dt.timedelta(hours=1)
    current = Path(files.cert).read_text()
    agent.beat()
    assert Path(files.cert).read_text() == current


class Flaky:
    """Down for the first `down` requests, then the real engine."""

    def __init__(self, inner: Any, down: int) -> None:
        self.inner, self.down = inner, down

    def request(self, *args: Any, **kwargs: Any) -> Response:
        if self.down > 0:
            self.down -= 1
            raise Unreachable("cannot reach the engine: connection refused")
        return self.inner.request(*args, **kwargs)  # type: ignore[no-any-return]


def test_runs_through_downtime_with_backoff(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    from agent.transport import RequestsTransport

    agent = make_agent(joined(engine, state), tmp_path, transport=Flaky(RequestsTransport(), 4))
    waits: list[float] = []
    outcomes: list[str] = []

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        outcomes.append(str(read_status(str(tmp_path / "run"))["status"]))  # type: ignore[index]
        return len(waits) >= 6

    last = agent.run(wait=wait)
    assert waits == [1, 2, 4, 8, 10, 10]
    assert outcomes == ["unreachable"] * 4 + ["Up", "Up"]
    assert last.ok


def test_the_interval_is_a_period_not_a_pause_after_a_slow_beat(engine: FakeEngine, state: Path,
                                                                tmp_path: Path) -> None:
    # collecting Gluster state and host facts takes seconds on a real node: the engine counts missed
    # intervals by the clock, so a 3 s beat of a 10 s interval waits 7 s, and one longer than the
    # interval is followed by the next at once
    clock = Clock()
    agent = make_agent(joined(engine, state), tmp_path, clock=clock)
    took = iter([3.0, 12.0, 0.5])

    def slow_gluster() -> tuple[dict[str, Any], str]:
        clock.t += next(took)
        return GLUSTER, ""

    agent.collectors.gluster = slow_gluster
    waits: list[float] = []
    agent.run(wait=lambda s: waits.append(s) or len(waits) >= 3)
    assert waits == [7.0, 0.0, 9.5]


def test_a_bug_in_one_beat_does_not_end_the_loop(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    agent = make_agent(joined(engine, state), tmp_path)
    calls = []

    def boom() -> tuple[list[dict[str, Any]], str]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("libvirt went away mid-read")
        return [], ""

    agent.collectors.vms = boom
    waits: list[float] = []
    agent.run(wait=lambda s: waits.append(s) or len(waits) >= 2)
    assert waits == [1, 10]


def test_stop_event_ends_the_loop(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    agent = make_agent(joined(engine, state), tmp_path, interval=0.05)
    stop = threading.Event()
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    outcome = agent.run(stop)
    timer.join()
    assert isinstance(outcome, Outcome) and engine.state.hosts and \
        next(iter(engine.state.hosts.values())).heartbeats >= 2


def test_stale_agent_json_reads_as_non_responsive() -> None:
    line = cluster_line({"status": "Up", "engine_url": "https://e", "age_seconds": 45,
                         "last_heartbeat": "2026-11-22T04:29:00Z", "cert_expires_at": "2026-12-22T04:29:00Z"})
    assert line.startswith("NonResponsive (the agent is not running) at https://e, last heartbeat 2026-11-22 04:29:00")
    assert cluster_line(None) == "not joined"
    failed = {"state": "failed", "engine_url": "https://e", "error": "the engine refused the join: used up"}
    assert cluster_line(None, failed) == "could not join https://e: the engine refused the join: used up"


@pytest.mark.parametrize("content", ["", "{not json", "[1, 2]"])
def test_unreadable_agent_json_is_none(tmp_path: Path, content: str) -> None:
    (tmp_path / "agent.json").write_text(content)
    assert read_status(str(tmp_path)) is None
    assert storage_line(None) == "not reported (no agent running)"
    assert storage_line({"storage": {"volumes": []}}) == "no Gluster volumes"
