"""Hosted-engine HA across hosts for real (issue 15, "Tests") on three namespaced hosts
(tests/integration/hosted_engine_hosts.py: real glusterd replica 3, libvirtd + virtlogd + sanlock
per host, a management bridge `ovirtmgmt` on every host, the engine appliance under TCG).

The module deploys once on host A (host 1, the deploy test's shared functions), adds hosts B and C
(hosted_engine_hosts.add_ha_host: join the engine, host.json with the engine's sanlock host id, the
HA agent started), and a monitor thread samples every second, for the whole module, how many engine
qemu processes run on all hosts: every test ends by checking that at most one engine ever ran.

- the proof (`make e2e`): the engine on A, A dies (its link down and every process of its
  namespaces killed: qemu, sanlock, libvirtd, the agents, glusterd): B or C starts the engine and
  it is healthy over its pinned TLS /health; the timings death -> detection -> lease free -> VM start
  -> healthy are printed; A comes back, does not take the engine and shows live;
- `make e2e-full` also: an agent killed shows stale in `status` and live after its restart; a corrupt
  and a foreign metadata slot (the agents say so and do not act); global maintenance (the engine
  stopped by hand stays stopped, `none` brings it back); local maintenance on the engine's host (the
  engine restarts elsewhere); the engine host's network cut while it stays up (its sanlock kills the
  engine's qemu when renewals fail, another host starts it after host_dead, the cut host comes back
  live without taking it); the engine host's management bridge down (its score drops by 600 and the
  engine moves).

io_timeout is 5 s as in the deploy test (host_dead 100 s). Boots the engine VM: run it as
`flock /tmp/hcinode-vm.lock .venv/bin/pytest -q -s tests/integration/test_hosted_engine_ha.py -x`.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.integration_vm]  # boots the engine VM
full = pytest.mark.e2e_full  # make e2e-full only

TOOLS = ("glusterd", "gluster", "nsenter", "unshare", "libvirtd", "virtlogd", "sanlock", "virsh", "qemu-img",
         "cloud-localds", "qemu-system-x86_64", "curl")
if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS) or not os.path.exists("/usr/sbin/sshd"):
    pytest.skip("needs root, glusterfs-server, openssh-server, libvirt-daemon-system, libvirt-sanlock, sanlock, "
                "qemu-system-x86, cloud-image-utils, curl", allow_module_level=True)

from hosted_engine import layout  # noqa: E402
from hosted_engine import metadata as md  # noqa: E402
from hosted_engine import score as scoring  # noqa: E402
from hosted_engine.ha_agent import INTERVAL  # noqa: E402
from hosted_engine.states import ALIVE_WINDOW  # noqa: E402
from tests.integration import hosted_engine_hosts as he  # noqa: E402
from tests.integration.hosted_engine_hosts import DOMAIN, IO_TIMEOUT, EngineMonitor  # noqa: E402
from tests.integration.nshosts import NsCluster, NsHost  # noqa: E402

HOST_DEAD = he.host_dead(IO_TIMEOUT)  # 100 s at io_timeout 5
FAILOVER_TIMEOUT = 1500.0  # detection + host_dead + a TCG boot of the engine, with room on 2 busy cores
MOVE_TIMEOUT = 1800.0  # a graceful stop (up to 300 s), then a start elsewhere


@dataclass
class Ha:
    cluster: NsCluster
    monitor: EngineMonitor
    ids: dict[int, int]  # host index -> sanlock host id

    def host_id(self, host: NsHost) -> int:
        return self.ids[host.index]

    def engine_host(self) -> NsHost:
        host = he.engine_host(self.cluster)
        assert host is not None, "the engine runs nowhere"
        return host

    def others(self, host: NsHost) -> list[NsHost]:
        return [h for h in self.cluster.hosts if h is not host]


@pytest.fixture(scope="module")
def cluster() -> Iterator[NsCluster]:
    with he.cluster() as c:
        yield c


@pytest.fixture(scope="module")
def monitor(cluster: NsCluster) -> Iterator[EngineMonitor]:
    m = EngineMonitor(cluster).start()
    yield m
    m.stop()
    print(f"\nengine monitor: {m.summary()}")
    m.check()


@pytest.fixture(scope="module")
def ha(cluster: NsCluster, monitor: EngineMonitor) -> Ha:
    """The engine deployed on host 1; hosts 2 and 3 added; all three agents live in `status`."""
    ids = he.setup_ha(cluster)
    monitor.check()
    return Ha(cluster, monitor, ids)


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, poll: float = 5.0,
             detail: Callable[[], str] | None = None) -> float:
    """Poll `predicate()` until true; seconds it took; fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not predicate():
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            extra = detail() if detail is not None else ""
            raise AssertionError(f"{what}: not within {timeout:.0f} s. {extra}")
        time.sleep(poll)
    return time.monotonic() - started


def row(host: NsHost, host_id: int) -> dict[str, object]:
    return he.status_row(he.status(host), host_id)


def live_in_status(via: NsHost, host_id: int) -> bool:
    r = row(via, host_id)
    return bool(r) and bool(r["up_to_date"])


def comes_back_live_without_the_engine(ha: Ha, back: NsHost, taker: NsHost) -> None:
    """`back` (its agent running again) shows live in the metadata and the engine stays on `taker`
    (their scores differ by less than 800)."""
    took = wait_for(f"host {back.index} live in status", lambda: live_in_status(taker, ha.host_id(back)), 400,
                    detail=lambda: he.ha_log(back))
    print(f"host {back.index} live in status {took:.0f} s after it came back")
    hold = time.monotonic() + 90  # several ticks of every agent with `back` live: nothing moves
    while time.monotonic() < hold:
        assert ha.engine_host() is taker, f"the engine moved from host {taker.index} after host {back.index} came back"
        time.sleep(5)
    assert he.engine_healthy(ha.cluster, via=taker)


# ---------------------------------------------------------------- the make e2e proof

def test_the_deploy_reruns_as_a_no_op_and_left_no_secret(ha: Ha) -> None:
    """Issue 14 in make e2e (its variants are test_hosted_engine_deploy.py's, in make e2e-full): a
    re-run of the finished deploy changes nothing; the admin password is nowhere but its file."""
    out = he.deploy(ha.cluster, os.path.join(ha.cluster.workdir, "he.yaml"))
    assert out["done"] == 0 and out["skipped"] > 0, out
    he.assert_admin_password_nowhere(ha.cluster)


def test_the_engine_survives_its_host_dying(ha: Ha) -> None:
    c = ha.cluster
    a = ha.engine_host()
    survivors = ha.others(a)
    assert he.engine_healthy(c, via=survivors[0])
    killed = he.kill_host(c, a)
    t0 = time.monotonic()
    print(f"\nhost {a.index} killed ({killed} processes, link down)")
    timings = he.watch_failover(c, a, ha.host_id(a), survivors, t0, ha.monitor, FAILOVER_TIMEOUT)
    print(f"failover timings (s after host {a.index}'s death, io_timeout {IO_TIMEOUT}): {json.dumps(timings)}")
    taker = next(h for h in survivors if h.index == timings["taken_by"])
    assert timings["healthy_s"] >= timings["vm_start_s"]
    # never before sanlock could call A dead (its lease is not free until then). The qemu may exist
    # a little earlier: libvirt execs it paused and takes the lease at the CPUs' start
    assert timings["healthy_s"] >= HOST_DEAD, timings
    me = he.wait_engine_up_in_status(taker, ha.host_id(taker), timeout=120)
    assert me["engine_status"]["health"] == "good"
    ha.monitor.check()
    # A boots again: it does not take the engine back and its slot is live
    he.revive_host(c, a)
    comes_back_live_without_the_engine(ha, a, taker)
    ha.monitor.check()


# ---------------------------------------------------------------- make e2e-full

@full
def test_a_killed_agent_shows_stale_then_live_again(ha: Ha) -> None:
    engine = ha.engine_host()
    b = ha.others(engine)[0]
    assert live_in_status(engine, ha.host_id(b))
    he.kill_agent(b)
    killed = time.monotonic()
    # the bound: stale within 60 s of the kill (B's last write is at or before it). Timed to
    # the start of the `status` call that showed it: the report was there before the call's own cost
    while True:
        asked = time.monotonic()
        if not live_in_status(engine, ha.host_id(b)):
            break
        assert asked - killed < ALIVE_WINDOW + 2 * INTERVAL, f"host {b.index} not stale in status"
        time.sleep(2)
    stale = asked - killed
    print(f"\nhost {b.index}'s agent killed: stale in status after {stale:.1f} s")
    assert stale <= ALIVE_WINDOW, stale
    assert ha.engine_host() is engine  # a stale peer changes nothing for the running engine
    he.start_agent(b)
    live = wait_for(f"host {b.index} live again", lambda: live_in_status(engine, ha.host_id(b)), 60, poll=2,
                    detail=lambda: he.ha_log(b))
    print(f"host {b.index}'s agent restarted: live in status after {live:.0f} s")
    ha.monitor.check()


SLOT_WRITE = ("import sys\nfrom hosted_engine import metadata as md\n"
              "f = md.MetadataFile(sys.argv[1]); n = int(sys.argv[2])\n"
              "f._write_slot(n, bytes.fromhex(sys.argv[3]).ljust(md.SLOT_SIZE, b'\\xa5'))\n")


@full
def test_corrupt_and_foreign_metadata_slots_are_reported_and_ignored(ha: Ha) -> None:
    c = ha.cluster
    engine = ha.engine_host()
    metadata = os.path.join(he.deployment_dir(c, via=engine), layout.METADATA_FILE)
    corrupt, foreign = 9, 10
    deployment = os.path.basename(he.deployment_dir(c, via=engine))

    def block(number: int, uuid: str) -> bytearray:
        return bytearray(md.encode_block(number, md.HostSlot(
            host_id=number, hostname="elsewhere", deployment=uuid, timestamp=0.0, sequence=1, score=3400,
            state="EngineDown", engine_vm="down", engine_health="unknown", vm_status="none").to_payload()))
    torn = block(corrupt, deployment)
    torn[md.HEADER_SIZE + 5] ^= 0xFF  # a torn write: the checksum no longer matches
    foreign_block = block(foreign, "00000000-0000-4000-8000-000000000000")  # another deployment's slot
    garbage = torn.hex()
    starts_before = len(ha.monitor.started)
    engine.python(SLOT_WRITE, metadata, str(corrupt), garbage, timeout=60)
    engine.python(SLOT_WRITE, metadata, str(foreign), foreign_block.hex(), timeout=60)
    try:
        def reported() -> bool:  # in the agent's own report (hosted-engine.json: status, console, engine)
            return all({(corrupt, "corrupt"), (foreign, "foreign")} <= {
                (p.get("slot"), p.get("status")) for p in he.agent_view(h).get("metadata_problems", [])}
                for h in c.hosts)
        wait_for("every agent reports the corrupt and the foreign slot", reported, 4 * INTERVAL, poll=2,
                 detail=lambda: json.dumps({h.index: he.agent_view(h).get("metadata_problems") for h in c.hosts}))
        rows = {r["host_id"]: r for r in he.status(engine)["hosts"]}
        assert rows[corrupt]["problem"].startswith("corrupt"), rows[corrupt]
        assert rows[foreign]["problem"].startswith("foreign"), rows[foreign]
        hold = time.monotonic() + 6 * INTERVAL  # several ticks: nobody acts on the garbage
        while time.monotonic() < hold:
            assert ha.engine_host() is engine
            time.sleep(5)
        assert len(ha.monitor.started) == starts_before, "an engine start happened because of garbage"
        assert row(engine, ha.host_id(engine))["state"] == "EngineUp"
    finally:
        engine.python("import sys\nfrom hosted_engine import metadata as md\n"
                      "f = md.MetadataFile(sys.argv[1])\nfor n in sys.argv[2:]: f.clear_slot(int(n))\n",
                      metadata, str(corrupt), str(foreign), timeout=60)
    ha.monitor.check()


def all_agents_in(ha: Ha, state: str) -> bool:
    return all(he.agent_view(h).get("state") == state for h in ha.cluster.hosts)


@full
def test_global_maintenance_keeps_a_stopped_engine_stopped(ha: Ha) -> None:
    c = ha.cluster
    engine = ha.engine_host()
    he.set_maintenance(c, engine, "global")
    try:
        wait_for("every agent in GlobalMaintenance", lambda: all_agents_in(ha, "GlobalMaintenance"),
                 3 * INTERVAL, poll=2)
        engine.run("virsh", "destroy", DOMAIN, timeout=120)  # the admin stops it by hand
        stopped = time.monotonic()
        hold = stopped + 18 * INTERVAL  # three minutes: longer than any agent's history or timeout to start
        while time.monotonic() < hold:
            assert he.engine_host(c) is None, "an agent started the engine under global maintenance"
            time.sleep(5)
    finally:
        he.set_maintenance(c, engine, "none")
    back = time.monotonic()

    def healthy_anywhere() -> bool:
        host = he.engine_host(c)
        return host is not None and he.engine_healthy(c, via=host)
    took = wait_for("the engine back after maintenance none", healthy_anywhere, FAILOVER_TIMEOUT, poll=5,
                    detail=lambda: "; ".join(f"host {h.index}: {he.ha_log(h, 8)}" for h in c.hosts))
    print(f"\nglobal maintenance none: the engine healthy again after {took:.0f} s "
          f"(on host {ha.engine_host().index}, {time.monotonic() - back:.0f} s)")
    ha.monitor.check()


def moved_and_healthy(ha: Ha, away_from: NsHost) -> bool:
    host = he.engine_host(ha.cluster)
    return host is not None and host is not away_from and he.engine_healthy(ha.cluster, via=host)


@full
def test_local_maintenance_on_the_engine_host_moves_the_engine(ha: Ha) -> None:
    c = ha.cluster
    engine = ha.engine_host()
    he.set_maintenance(c, engine, "local")
    try:
        took = wait_for(f"the engine healthy on another host than {engine.index}",
                        lambda: moved_and_healthy(ha, engine), MOVE_TIMEOUT, poll=5,
                        detail=lambda: "; ".join(f"host {h.index}: {he.ha_log(h, 8)}" for h in c.hosts))
        print(f"\nlocal maintenance on host {engine.index}: the engine healthy on host "
              f"{ha.engine_host().index} after {took:.0f} s")
        assert row(engine, ha.host_id(engine))["local_maintenance"] is True
        assert he.agent_view(engine).get("state") == "LocalMaintenance"
    finally:
        he.set_maintenance(c, engine, "none")
    ha.monitor.check()


@full
def test_a_network_cut_stops_the_engine_there_and_another_host_takes_it(ha: Ha) -> None:
    c = ha.cluster
    a = ha.engine_host()
    others = ha.others(a)
    he.set_link(c, a, False)
    t0 = time.monotonic()
    try:
        # sanlock on A (-w 0) kills the lease holder when renewals fail for 8 io_timeouts
        gone = wait_for(f"A's sanlock stops the engine's qemu on host {a.index}",
                        lambda: not he.engine_qemus(c).get(a.index), 8 * IO_TIMEOUT + 120, poll=1,
                        detail=lambda: a.sh("tail -20 /var/log/hcinode/sanlock.log", check=False).stdout)
        print(f"\nhost {a.index}'s network cut: its engine qemu gone after {gone:.0f} s")
        timings = he.watch_failover(c, a, ha.host_id(a), others, t0, ha.monitor, FAILOVER_TIMEOUT)
        print(f"network cut failover (s after the cut): {json.dumps(timings)}")
        assert timings["healthy_s"] >= HOST_DEAD, timings
    finally:
        he.set_link(c, a, True)
    taker = next(h for h in others if h.index == timings["taken_by"])
    comes_back_live_without_the_engine(ha, a, taker)
    ha.monitor.check()


@full
def test_the_management_bridge_down_drops_the_score_by_600_and_the_engine_moves(ha: Ha) -> None:
    c = ha.cluster
    engine = ha.engine_host()
    he.set_bridge(engine, False)
    try:
        took = wait_for(f"the engine healthy on another host than {engine.index}",
                        lambda: moved_and_healthy(ha, engine), MOVE_TIMEOUT, poll=5,
                        detail=lambda: "; ".join(f"host {h.index}: {he.ha_log(h, 8)}" for h in c.hosts))
        taker = ha.engine_host()
        print(f"\nhost {engine.index}'s bridge down: the engine healthy on host {taker.index} after {took:.0f} s")

        # the host's own report names the penalty (its published total also carries the CPU penalty:
        # /proc/stat is the whole machine's in a namespaced host, so totals are noisy under TCG)
        def penalty_shows() -> bool:
            view = he.agent_view(engine)
            return view.get("penalties", {}).get("bridge") == scoring.BRIDGE_PENALTY and \
                view.get("state") == "EngineDown"
        wait_for(f"host {engine.index} reports the {scoring.BRIDGE_PENALTY} bridge penalty", penalty_shows,
                 6 * INTERVAL, poll=5, detail=lambda: json.dumps(he.agent_view(engine)))
        # and no other host carries it: the penalty is this host's alone
        assert all("bridge" not in he.agent_view(h).get("penalties", {}) for h in ha.others(engine))
    finally:
        he.set_bridge(engine, True)
    ha.monitor.check()
