"""Three namespaced hosts (tests/integration/nshosts.py), each running a real `hcinode agent` process
inside its own network, mount and UTS namespaces, against `hcinode engine serve` on the bridge address
on a real PostgreSQL 15 (test_engine.py covers SQLite too).

In order (the module's tests share one cluster): three joins with their own tokens and all Up; every
bad input of issue 13 item 9 through the CLI (exit 2, one line, nothing written on the node); a
SIGKILLed agent makes its host NonResponsive within 3 intervals and Up after a restart; maintenance
on/off from the engine's CLI reaches the agent as acked commands; the engine down for 60 s (the
agents say "unreachable", reconnect by themselves, nothing is lost: the restart keeps every host);
a removed host's certificate is refused at its next heartbeat.

The agents beat every INTERVAL seconds (the engine's heartbeat_interval is the same) to keep the
module short; the 60 s downtime is the issue's and the only long wait.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from agent.status import cluster_line, read_status
from engine.db import make_engine
from nodecore import pki
from tests import engine_harness as h

pytestmark = pytest.mark.integration

needs = [shutil.which(t) for t in ("glusterd", "gluster", "nsenter", "unshare")]
if os.geteuid() != 0 or not all(needs) or not os.path.exists("/usr/sbin/sshd"):
    pytest.skip("needs root, glusterfs-server, openssh-server, util-linux", allow_module_level=True)

from tests.integration.nshosts import BRIDGE_ADDRESS, NsCluster, NsHost  # noqa: E402

WORKDIR = "/tmp/hcinode-agent-it"
INTERVAL = 2.0  # agent --interval and the engine's heartbeat_interval
MISSED = 3  # the engine's missed_intervals: NonResponsive after 3 intervals without a heartbeat
DOWNTIME = 60.0  # issue 13: agents survive 60 s of engine downtime
BACKOFF_MAX = 60.0  # the agent's longest wait between attempts (docs/cluster.md)


@dataclass
class Node:
    """One namespaced host as a cluster node: its name (its own UTS namespace), state dir and agent."""

    host: NsHost
    name: str
    agent: subprocess.Popen[bytes] | None = None
    joined: dict[str, Any] = field(default_factory=dict)
    token: str = ""

    @property
    def state_dir(self) -> str:
        return os.path.join(self.host.workdir, "state")

    @property
    def agent_json(self) -> str:
        # the agent writes the default /run/hcinode/agent.json; /run is the host's private bind mount
        return os.path.join(self.host.workdir, "run", "hcinode", "agent.json")

    def argv(self, *argv: str) -> list[str]:
        """hcinode inside the host's network and mount namespaces, in a UTS namespace of its own
        (the join takes the node's name from its host name)."""
        return ["nsenter", f"--net=/run/netns/{self.host.netns}", f"--mount=/proc/{self.host.holder_pid}/ns/mnt",
                "--", "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', self.name,
                h.HCINODE, "--log-file", os.path.join(self.host.workdir, "node.log"), *argv]

    def hcinode(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in ("HCINODE_RUN_DIR", "HCINODE_STATE_DIR")}
        return subprocess.run(self.argv(*argv), capture_output=True, text=True, input=stdin, env=env, timeout=120)

    def start_agent(self) -> None:
        out = open(os.path.join(self.host.workdir, "agent.out"), "ab")  # noqa: SIM115 (the child keeps it)
        # nsenter, unshare and sh all exec: the Popen's pid is the agent's
        self.agent = subprocess.Popen(self.argv("agent", "--state-dir", self.state_dir, "--interval", str(INTERVAL)),
                                      stdout=out, stderr=subprocess.STDOUT)

    def kill_agent(self, sig: int = signal.SIGKILL) -> None:
        if self.agent and self.agent.poll() is None:
            os.kill(self.agent.pid, sig)
            self.agent.wait(15)

    def status(self) -> dict[str, Any]:
        return read_status(os.path.dirname(self.agent_json)) or {}

    def log(self) -> str:
        with open(os.path.join(self.host.workdir, "node.log"), encoding="utf-8") as f:
            return f.read()


@dataclass
class Cluster:
    ns: NsCluster
    engine: h.Served
    db_url: str
    nodes: list[Node]
    other: h.Served  # another engine (its own CA) for the foreign token and the wrong-CA cases

    def hosts(self) -> dict[str, dict[str, Any]]:
        listed = self.engine.cli("hosts", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        return {x["name"]: x for x in json.loads(listed.stdout)}

    def api_status(self, name: str) -> str:
        return str(self.engine.get(f"/api/v1/hosts/{name}", admin=True).json()["status"])

    def token(self, *extra: str, engine: h.Served | None = None) -> dict[str, str]:
        made = (engine or self.engine).cli("token", "create", "--json", *extra)
        assert made.returncode == 0, made.stderr
        return dict(json.loads(made.stdout))

    def commands(self, host_id: str) -> list[tuple[str, bool | None, bool]]:
        """(name, ok, acked) of the host's commands, oldest first, from the engine's database."""
        db = make_engine(self.db_url)
        try:
            with db.connect() as conn:
                rows = conn.execute(sa.text("SELECT name, ok, acked_at FROM commands WHERE host_id = :h ORDER BY id"),
                                    {"h": host_id}).all()
        finally:
            db.dispose()
        return [(name, ok, acked is not None) for name, ok, acked in rows]


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` until true; the seconds it took. Fails with `what` after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.25)
    return time.monotonic() - start


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with NsCluster(3, WORKDIR, disks_per_host=0) as ns, h.postgres() as pg:
        db_url = h.create_db(pg, "engine_agents")
        data_dir = os.path.join(WORKDIR, "engine", "data")
        os.makedirs(os.path.dirname(data_dir))
        url = h.init_engine(data_dir, db_url, address=BRIDGE_ADDRESS, heartbeat_interval=INTERVAL,
                            missed_intervals=MISSED)
        other_dir = os.path.join(WORKDIR, "other", "data")
        os.makedirs(os.path.dirname(other_dir))
        other_url = h.init_engine(other_dir, address=BRIDGE_ADDRESS)
        nodes = [Node(host, f"node{host.index}.test") for host in ns.hosts]
        with h.served(data_dir, url) as engine, h.served(other_dir, other_url) as other:
            try:
                yield Cluster(ns, engine, db_url, nodes, other)
            finally:
                for node in nodes:
                    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                        node.kill_agent(signal.SIGTERM)


def test_three_agents_join_with_their_own_tokens_and_are_up(cluster: Cluster) -> None:
    for node in cluster.nodes:
        made = cluster.token()
        node.token = made["token"]
        joined = node.hcinode("join", "-", "--state-dir", node.state_dir, "--no-start", "--json",
                              stdin=made["join"] + "\n")
        assert joined.returncode == 0, joined.stderr
        node.joined = json.loads(joined.stdout)
        assert node.joined["name"] == node.name and node.joined["ca_pin"] == made["ca_pin"]
        assert node.joined["agent_started"] is False
        assert os.stat(os.path.join(node.state_dir, "cluster", "node.key")).st_mode & 0o777 == 0o600
        node.start_agent()
    assert sorted(n.joined["sanlock_host_id"] for n in cluster.nodes) == [1, 2, 3]
    wait_for("three agents Up", lambda: all(n.status().get("status") == "Up" for n in cluster.nodes), 30)
    hosts = cluster.hosts()
    assert sorted(hosts) == [n.name for n in cluster.nodes]
    for node in cluster.nodes:
        assert hosts[node.name]["status"] == "Up" and hosts[node.name]["address"] == node.host.address
        assert hosts[node.name]["id"] == node.joined["host_id"]
        status = node.status()
        assert status["host_id"] == node.joined["host_id"] and status["engine_url"] == cluster.engine.url
        assert status["last_heartbeat"] and status["cert_expires_at"]
        log = node.log()
        assert node.token not in log and node.token.split(".")[1] not in log


def _snapshot(directory: str) -> dict[str, tuple[str, int]]:
    """Every file under `directory`: content hash and mode (empty when it does not exist)."""
    found = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[path] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mode)
    return found


def test_bad_join_input_exits_2_with_one_line_and_writes_nothing(cluster: Cluster) -> None:
    node = cluster.nodes[0]
    good = cluster.token()
    pin, url = good["ca_pin"], good["engine_url"]
    expiring = cluster.token("--ttl", "1s")
    foreign = cluster.token(engine=cluster.other)
    tid, secret = good["token"].split(".")
    tampered = f"{tid}.{secret[:-1]}{'a' if secret[-1] != 'a' else 'b'}"
    closed = f"https://{BRIDGE_ADDRESS}:{h.free_port()}"

    def js(token: str, urls: tuple[str, ...] = (url,), ca_pin: str = pin, expires: str = good["expires_at"]) -> str:
        return pki.JoinString(urls, ca_pin, token, expires).encode()

    time.sleep(1.5)  # the 1 s token has expired
    cases: list[tuple[str, list[str], str, str]] = [  # (case, argv after `join`, field, words in the line)
        ("malformed join string", ["hcinode-join:v1:not-base64-json!"], "join string", ""),
        ("truncated join string", [good["join"][:40]], "join string", ""),
        ("expired join string", [expiring["join"]], "join string", "expired"),
        ("expired token", ["--engine", url, "--token", expiring["token"], "--ca-pin", pin], "token",
         "unknown, expired or used up"),
        ("reused token", [js(node.token)], "token", "unknown, expired or used up"),
        ("tampered token", [js(tampered)], "token", "unknown, expired or used up"),
        ("foreign token", [js(foreign["token"])], "token", "unknown, expired or used up"),
        ("unreachable engine", [js(good["token"], (closed,))], "engine", "cannot reach"),
        ("another CA", [js(good["token"], (cluster.other.url,))], "ca-pin", f"not the pinned {pin}"),
    ]
    before = cluster.hosts()
    secrets = [good["token"], secret, tampered, expiring["token"], foreign["token"], node.token]
    for case, argv, field_name, words in cases:
        state_dir = os.path.join(node.host.workdir, "bad-state")
        done = node.hcinode("join", *argv, "--state-dir", state_dir, "--no-start")
        lines = done.stderr.strip().splitlines()
        errors = [line for line in lines if line.strip().startswith("error:")]
        assert done.returncode == 2, (case, done.stderr)
        assert len(errors) == 1 and errors[0].strip().startswith(f"error: {field_name}:"), (case, done.stderr)
        assert words in errors[0], (case, errors[0])
        assert not any(s in done.stderr + done.stdout for s in secrets), (case, done.stderr)
        assert not os.path.exists(state_dir), case
    # a joined node stays as it is when a --replace join is refused
    kept = _snapshot(node.state_dir)
    done = node.hcinode("join", js(tampered), "--replace", "--state-dir", node.state_dir, "--no-start")
    assert done.returncode == 2 and "error: token:" in done.stderr, done.stderr
    assert _snapshot(node.state_dir) == kept
    # no host was made on the engine, and no token reached the node's log
    assert {k: v["id"] for k, v in cluster.hosts().items()} == {k: v["id"] for k, v in before.items()}
    log = node.log()
    assert not any(s in log for s in secrets)


def test_killed_agent_is_non_responsive_within_3_intervals_and_up_after_restart(cluster: Cluster) -> None:
    node, others = cluster.nodes[2], cluster.nodes[:2]
    node.kill_agent(signal.SIGKILL)
    wait_for(f"{node.name} NonResponsive", lambda: cluster.api_status(node.name) == "NonResponsive",
             MISSED * INTERVAL + 10)
    seen = dt.datetime.now(dt.UTC)
    # counted from the engine's last heartbeat of the host; the monitor looks every interval/4
    silent = (seen - pki.parse_time(cluster.hosts()[node.name]["last_heartbeat"])).total_seconds()
    assert MISSED * INTERVAL <= silent <= MISSED * INTERVAL + INTERVAL / 4 + 1.5, silent
    assert all(cluster.api_status(n.name) == "Up" for n in others)
    assert cluster.hosts()[node.name]["status"] == "NonResponsive"
    # the console reads the dead agent's stale file the same way
    wait_for("stale agent.json", lambda: "NonResponsive (the agent is not running)" in
             cluster_line(node.status(), interval=INTERVAL), MISSED * INTERVAL + 2)
    node.start_agent()
    wait_for(f"{node.name} Up again", lambda: cluster.api_status(node.name) == "Up", 20)
    events = cluster.engine.get("/api/v1/events", admin=True).json()
    mine = [e["kind"] for e in events if e["host"] == node.name]
    assert "non_responsive" in mine and "back" in mine


def test_maintenance_on_and_off_reach_the_agent_as_acked_commands(cluster: Cluster) -> None:
    node = cluster.nodes[1]
    host_id = node.joined["host_id"]
    done = cluster.engine.cli("hosts", "maintenance", node.name, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "Maintenance", done.stderr
    wait_for("agent.json Maintenance", lambda: node.status().get("status") == "Maintenance", 15)
    wait_for("maintenance_on acked", lambda: ("maintenance_on", True, True) in cluster.commands(host_id), 10)
    # a Maintenance host keeps its state while it beats
    time.sleep(INTERVAL * 1.5)
    assert cluster.hosts()[node.name]["status"] == "Maintenance" and node.status()["status"] == "Maintenance"
    done = cluster.engine.cli("hosts", "activate", node.name, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "Up", done.stderr
    wait_for("agent.json Up", lambda: node.status().get("status") == "Up", 15)
    wait_for("maintenance_off acked", lambda: cluster.commands(host_id)[-1:] == [("maintenance_off", True, True)], 10)
    assert cluster.hosts()[node.name]["status"] == "Up"


def test_agents_survive_60_s_of_engine_downtime_and_the_restart_keeps_all_state(cluster: Cluster) -> None:
    def full() -> dict[str, tuple[str, int, str, str]]:
        listed = cluster.engine.get("/api/v1/hosts", admin=True).json()
        views = [cluster.engine.get(f"/api/v1/hosts/{x['id']}", admin=True).json() for x in listed]
        return {v["name"]: (v["id"], v["sanlock_host_id"], v["cert_serial"], v["joined_at"]) for v in views}

    wait_for("all Up", lambda: all(cluster.api_status(n.name) == "Up" for n in cluster.nodes), 20)
    before = full()
    events_before = cluster.engine.get("/api/v1/events?limit=1000", admin=True).json()
    pids = [n.agent.pid for n in cluster.nodes if n.agent]
    keys = [_snapshot(n.state_dir) for n in cluster.nodes]
    cluster.engine.stop()
    stopped = time.monotonic()
    wait_for("every agent.json says unreachable", lambda: all(
        n.status().get("status") == "unreachable" for n in cluster.nodes), 3 * INTERVAL)
    for node in cluster.nodes:
        status = node.status()
        assert "cannot reach" in status["last_error"], status
        assert status["last_heartbeat"]  # the last good one is kept
    time.sleep(max(0.0, DOWNTIME - (time.monotonic() - stopped)))
    assert all(n.agent and n.agent.poll() is None for n in cluster.nodes), "an agent exited during the downtime"
    assert all(n.status().get("status") == "unreachable" for n in cluster.nodes)
    restarted = dt.datetime.now(dt.UTC)
    cluster.engine.start()
    back = wait_for("agents reconnected, all Up", lambda: all(
        n.status().get("status") == "Up" for n in cluster.nodes) and all(
        x["status"] == "Up" for x in cluster.hosts().values()), BACKOFF_MAX + 15)
    print(f"\nengine down {DOWNTIME:g} s; the agents were Up again {back:.1f} s after it was back")
    # the same agents (no restart, no re-join): the same hosts, ids, sanlock ids and certificates
    assert [n.agent.pid for n in cluster.nodes if n.agent] == pids
    assert [_snapshot(n.state_dir) for n in cluster.nodes] == keys
    assert full() == before
    events = cluster.engine.get("/api/v1/events?limit=1000", admin=True).json()
    assert {e["id"] for e in events_before} <= {e["id"] for e in events}
    assert [e["kind"] for e in events].count("joined") == 3
    # the minute the engine was away is not held against the hosts: each had 3 intervals to come back
    late = [e for e in events if e["kind"] == "non_responsive" and e["id"] not in {x["id"] for x in events_before}]
    assert all(pki.parse_time(e["at"]) >= restarted + dt.timedelta(seconds=MISSED * INTERVAL) for e in late), late


def test_a_removed_hosts_certificate_is_refused_at_its_next_heartbeat(cluster: Cluster) -> None:
    node, others = cluster.nodes[0], cluster.nodes[1:]
    done = cluster.engine.cli("hosts", "remove", node.name, "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["status"] == "Removed", done.stderr
    wait_for("agent.json refused", lambda: node.status().get("status") == "unreachable", 2 * INTERVAL + 2)
    error = node.status()["last_error"]
    assert "answered 403" in error and "removed" in error, error
    assert node.name not in cluster.hosts()
    assert node.agent and node.agent.poll() is None  # it keeps running (and trying) until it is stopped
    assert all(cluster.api_status(n.name) == "Up" for n in others)
