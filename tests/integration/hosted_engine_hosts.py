"""The hosted-engine test bed on namespaced hosts (tests/integration/nshosts.py with virt=True), shared
by tests/integration/test_hosted_engine_deploy.py, tests/integration/test_hosted_engine_ha.py,
bench/hosted_engine.py and bench/ha_failover.py: three hosts with libvirtd + virtlogd + sanlock, the
management bridge `ovirtmgmt` in every host's network namespace (the engine VM keeps its address on
whichever host starts it), the replica 3 engine volume (`hcinode gluster deploy`'s code), a
hosted-engine spec for host 1; the deploy, the engine's health over its pinned TLS, more hosts
added to the HA agent's set, maintenance, host faults (death, network cut, bridge down) and a
monitor that counts the engine's qemu processes on every host each second.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gluster_setup import ops
from gluster_setup.spec import parse_spec as parse_gluster_spec
from nodecore.errors import CommandFailed
from tests.integration.nshosts import BRIDGE_ADDRESS, REPO, NsCluster, NsHost, spec_data

WORKDIR = "/tmp/hcinode-he-it"
VM_LOCK = "/tmp/hcinode-vm.lock"
APPLIANCE = os.environ.get("HCINODE_APPLIANCE") or next(
    (p for p in (os.path.join(REPO, "build", "engine-appliance.qcow2"), "/work/main/build/engine-appliance.qcow2")
     if os.path.exists(p)), os.path.join(REPO, "build", "engine-appliance.qcow2"))
FQDN = "engine.hcinode.test"
ENGINE_IP = "198.51.100.50"
IO_TIMEOUT = 5  # sanlock: add_lockspace ~21 s (DESIGN.md); a warning below 6 s, fine for a test
PASSWORD = "Quorn-Tavel-7-Brisket-Ulmo"  # the engine's admin password (test only)
DOMAIN = "HostedEngine"
HE_STATE = "/var/lib/hcinode/hosted-engine"


BRIDGE = "ovirtmgmt"
MOUNT = "/run/glusterSD/engine"
CA = "/var/lib/hcinode/cluster/ca.crt"  # the engine CA every joined host pinned
HA_UNIT = "hcinode-hosted-engine-ha.service"
# the units log where a node's do (the nshosts systemctl shim sets HCINODE_LOG_DIR=/var/log/hcinode, the
# host's own bind-mounted dir): the HA agent's lines are hcinode.hosted_engine's in hcinode.log
HA_LOG = "/var/log/hcinode/hcinode.log"
PYTHON = os.path.join(REPO, ".venv", "bin", "python")


def host_dead(io_timeout: int) -> int:
    """sanlock's host_dead_seconds: 8 io_timeouts of failed renewals + the watchdog's 60 s (DESIGN.md)."""
    return 8 * io_timeout + 60


@contextlib.contextmanager
def vm_lock() -> Iterator[None]:
    """The machine's one-VM-test-at-a-time lock for a bench script (pytest runs take it with flock),
    unless the caller says it holds it already (HCINODE_VM_LOCK_HELD=1)."""
    if os.environ.get("HCINODE_VM_LOCK_HELD"):
        yield
        return
    with open(VM_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def cluster(workdir: str = WORKDIR, io_timeout: int = IO_TIMEOUT) -> NsCluster:
    # a management bridge on every host: the engine VM's NIC is on `ovirtmgmt` wherever it starts
    return NsCluster(3, workdir, disks_per_host=1, disk_size="7G", virt=True,
                     bridges={i: BRIDGE for i in (1, 2, 3)}, sanlock_io_timeout=io_timeout)


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
        "sanlock": {"io_timeout": c.sanlock_io_timeout},
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


# ---------------------------------------------------------------- the engine, seen from a host

def admin_api(c: NsCluster, method: str, path: str, body: dict[str, Any] | None = None,
              via: NsHost | None = None) -> tuple[int, Any]:
    """One admin API call from a joined host (default host 1), TLS pinned to the engine CA it holds."""
    # TLS as the product does it (agent.transport.tls_context: that one CA) in the host's namespaces,
    # where the engine's name resolves (its /etc/hosts); hosted_engine.deploy.https_json keeps only
    # JSON objects, and /api/v1/hosts is a list
    script = ("import base64, json, sys, urllib.request\nfrom agent.transport import tls_context\n"
              "body = sys.argv[5].encode() if sys.argv[5] else None\n"
              "req = urllib.request.Request(sys.argv[1], data=body, method=sys.argv[4])\n"
              "req.add_header('Content-Type', 'application/json')\n"
              "req.add_header('Authorization', 'Basic ' + base64.b64encode(b'admin:' + open(sys.argv[3], 'rb')"
              ".read().strip()).decode())\n"
              "with urllib.request.urlopen(req, timeout=20, context=tls_context(open(sys.argv[2]).read())) as r:\n"
              "    print(r.status); print(r.read().decode())\n")
    host = via or c.hosts[0]
    out = host.python(script, f"https://{FQDN}{path}", CA, os.path.join(c.workdir, "admin.pass"), method,
                      json.dumps(body) if body is not None else "", timeout=60).stdout
    status, _, text = out.partition("\n")
    return int(status), json.loads(text or "null")


def engine_healthy(c: NsCluster, via: NsHost | None = None) -> bool:
    """The engine's /health over TLS pinned to the engine CA, from `via` (default host 1)."""
    host = via or c.hosts[0]
    r = host.run("curl", "-sf", "--max-time", "20", "--cacert", CA, f"https://{FQDN}/health", check=False, timeout=30)
    try:
        return r.ok and json.loads(r.stdout or "{}").get("status") == "ok"
    except ValueError:
        return False


def deployment_dir(c: NsCluster, via: NsHost | None = None) -> str:
    out = (via or c.hosts[0]).sh(f"ls -d {MOUNT}/hosted-engine/*/", check=False).stdout.split()
    return out[0].rstrip("/") if out else ""


def qemu_pid(host: NsHost) -> int:
    out = host.sh(f"cat /run/libvirt/qemu/{DOMAIN}.pid", check=False).stdout.strip()
    return int(out) if out.isdigit() else 0


def ha_log(host: NsHost, lines: int = 30) -> str:
    return host.sh(f"grep -F ' hcinode.hosted_engine' {HA_LOG} | tail -{lines}", check=False).stdout


def deploy(c: NsCluster, spec: str) -> dict[str, Any]:
    """`hcinode hosted-engine deploy SPEC --json` on host 1: its JSON output plus `wall_s`."""
    started = time.monotonic()
    result = c.hosts[0].hcinode("hosted-engine", "deploy", spec, "--json", timeout=3000)
    print(result.stderr[-4000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out: dict[str, Any] = json.loads(result.stdout)
    out["wall_s"] = time.monotonic() - started
    print(f"\ndeploy {out['wall_s']:.0f} s: {json.dumps(out.get('timings'))}")
    return out


def wait_host_up(c: NsCluster, host: NsHost, sanlock_id: int, via: NsHost | None = None,
                 timeout: float = 180) -> dict[str, Any]:
    """The engine's record of `host` once the node agent's heartbeat made it Up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, hosts = admin_api(c, "GET", "/api/v1/hosts", via=via)
        except CommandFailed as exc:
            # seen once right after a deploy: the engine healthy, then a minute of "connection refused"
            # (the engine restarting under TCG): not an answer yet, the deadline decides
            status, hosts = 0, [f"no answer: {exc.stderr.strip().splitlines()[-1:]}"]
        else:
            assert status == 200, hosts
        mine = [h for h in hosts if isinstance(h, dict) and
                (h.get("address") == host.address or h.get("sanlock_host_id") == sanlock_id)]
        if mine and mine[0].get("status") == "Up":
            return dict(mine[0])
        assert time.monotonic() < deadline, f"host {host.index} not Up in the engine after {timeout:.0f} s: {hosts}"
        time.sleep(5)


def status(host: NsHost) -> dict[str, Any]:
    """`hcinode hosted-engine status --json` in `host`."""
    r = host.hcinode("hosted-engine", "status", "--json", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def status_row(data: dict[str, Any], host_id: int) -> dict[str, Any]:
    rows = [h for h in data["hosts"] if h.get("host_id") == host_id]
    return dict(rows[0]) if rows else {}


def wait_engine_up_in_status(host: NsHost, host_id: int, timeout: float = 120) -> dict[str, Any]:
    """`status --json` on `host` until host `host_id`'s slot shows the engine up, healthy, EngineUp."""
    deadline = time.monotonic() + timeout
    while True:
        st = status(host)
        me = status_row(st, host_id)
        if me and me["engine_status"]["vm"] == "up" and me["state"] == "EngineUp" and me["up_to_date"]:
            return me
        assert time.monotonic() < deadline, f"status never showed the engine up on host id {host_id}: {st}"
        time.sleep(5)


def agent_view(host: NsHost) -> dict[str, Any]:
    """The HA agent's /run/hcinode/hosted-engine.json in `host` ({} when none)."""
    out = host.sh("cat /run/hcinode/hosted-engine.json", check=False).stdout
    try:
        data = json.loads(out) if out.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- more hosts, maintenance

def host_config(host: NsHost) -> dict[str, Any]:
    out = host.sh(f"cat {HE_STATE}/host.json", check=False).stdout
    return json.loads(out) if out.strip() else {}


def sanlock_host_id(host: NsHost) -> int:
    """The sanlock host id the engine gave this host at join (agent state engine.json)."""
    out = host.sh("cat /var/lib/hcinode/cluster/engine.json", check=False).stdout
    return int(json.loads(out)["sanlock_host_id"]) if out.strip() else 0


JOIN = ("import sys\nfrom agent import join as j\nfrom nodecore.runner import LocalRunner\n"
        "from nodecore.secrets import Secret\n"
        "r = j.join(j.request_from_join_string(Secret(open(sys.argv[1]).read().strip())),\n"
        "           runner=LocalRunner(default_timeout=300), name=sys.argv[2])\n"
        "print(r.registration.sanlock_host_id)\n")


def join_engine(c: NsCluster, host: NsHost, via: NsHost) -> int:
    """`host` joins the engine the way the deploy's enrol step joined host 1 (a one-use token from
    the admin API, then agent/join, which starts the node agent through the systemctl shim); its
    sanlock host id. The hosts share this machine's hostname, so each joins under its own name."""
    line = f"{ENGINE_IP} {FQDN}"
    host.sh(f"grep -qxF '{line}' /etc/hosts || echo '{line}' >> /etc/hosts")
    code, body = admin_api(c, "POST", "/api/v1/tokens", {"ttl_seconds": 3600, "uses": 1}, via=via)
    assert code == 201 and "join" in body, f"no join token: HTTP {code}"
    token_file = os.path.join(c.workdir, f"join-{host.index}")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(str(body["join"]))
    try:
        r = host.python(JOIN, token_file, host.name, check=False, timeout=600)
    finally:
        os.remove(token_file)
    assert r.returncode == 0, f"host {host.index} did not join: {r.stderr[-2000:]}"
    return sanlock_host_id(host)


def add_ha_host(c: NsCluster, host: NsHost, via: NsHost | None = None) -> int:
    """Add `host` to the hosted engine: join the engine when not joined yet (agent/join), then
    `hcinode hosted-engine add-host` there (host.json with the sanlock host id the engine gave at
    join, the lockspace joined, the HA agent started). Its host id."""
    via = via or c.hosts[0]
    host_id = sanlock_host_id(host) or join_engine(c, host, via)
    assert host_id > 0
    others = [h.address for h in c.hosts if h is not via]
    r = host.hcinode("hosted-engine", "add-host", "--volume", f"{via.address}:/engine",
                     "--backup-servers", ",".join(others), "--mount", "/run/glusterSD/engine", timeout=600)
    assert r.returncode == 0, f"add-host on host {host.index}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    assert host_config(host)["host_id"] == host_id
    return host_id


def start_agent(host: NsHost) -> None:
    """The HA agent as the deploy starts it on host 1: its unit through the harness's systemctl shim."""
    host.run(os.path.join(host.bin_dir, "systemctl"), "enable", "--now", HA_UNIT)


def kill_agent(host: NsHost) -> int:
    """SIGKILL the HA agent (no clean AgentStopped): its pid."""
    pid = host.sh(f"cat /run/hcinode-units/{HA_UNIT}.pid", check=False).stdout.strip()
    if pid.isdigit():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
        return int(pid)
    return 0


def set_maintenance(c: NsCluster, host: NsHost, mode: str) -> None:
    """`hcinode hosted-engine maintenance global|local|none` on `host`."""
    r = host.hcinode("hosted-engine", "maintenance", mode, timeout=120)
    assert r.returncode == 0, f"maintenance {mode} on host {host.index}: {r.stdout[-2000:]}{r.stderr[-2000:]}"


# ---------------------------------------------------------------- faults

def _outer_veth(c: NsCluster, host: NsHost) -> str:
    return f"{c.prefix}{host.index}o"


def set_link(c: NsCluster, host: NsHost, up: bool) -> None:
    """The host's cable: its veth's end on the machine's bridge."""
    c.run("ip", "link", "set", _outer_veth(c, host), "up" if up else "down")


def kill_host(c: NsCluster, host: NsHost) -> int:
    """The host dies as at a power loss: every process of its namespaces (qemu, sanlock, libvirtd,
    virtlogd, the agents, glusterd and the brick, sshd) frozen at once (SIGSTOP: none of them acts
    after the death, e.g. sanlock releasing the lease of a qemu that died a moment before it), its
    link down, then all SIGKILLed. Only the harness's holder of its mount namespace stays (it stands
    in for the host's kernel: its mounts and /run survive for revive_host). How many were killed."""
    victims: set[int] = set()
    for sig in (signal.SIGSTOP, signal.SIGSTOP):  # twice: a child forked while the first round ran
        for pid in c._pids_in(host):
            if pid != host.holder_pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                    victims.add(pid)
    set_link(c, host, False)
    for _ in range(5):
        pids = [p for p in c._pids_in(host) if p != host.holder_pid]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                victims.add(pid)
        time.sleep(0.2)
    return len(victims)


def revive_host(c: NsCluster, host: NsHost) -> None:
    """A dead host boots again: link up, glusterd (which starts its brick), sshd, sanlock, virtlogd,
    libvirtd, the engine volume mounted, the enabled units (node agent, HA agent) started."""
    set_link(c, host, True)
    # what the dead daemons left in the host's /run (a reboot empties it)
    host.sh(f"umount -l {MOUNT} 2>/dev/null; rm -f /run/sanlock/sanlock.pid /run/sanlock/sanlock.sock "
            "/run/libvirtd.pid /run/virtlogd.pid; true")
    c.start_glusterd(host)
    host.run("/usr/sbin/sshd", "-f", os.path.join(host.workdir, "sshd_config"))
    c.start_virt(host)
    others = [h.address for h in c.hosts if h is not host]
    host.run("mount", "-t", "glusterfs", "-o", f"backup-volfile-servers={':'.join(others[1:])}",
             f"{others[0]}:/engine", MOUNT, timeout=120)
    enabled = host.sh("ls /run/hcinode-units/ 2>/dev/null | sed -n 's/\\.enabled$//p'", check=False).stdout.split()
    for unit in enabled:
        host.run(os.path.join(host.bin_dir, "systemctl"), "start", unit)


def set_bridge(host: NsHost, up: bool) -> None:
    """The management bridge down (the engine VM's NIC is on it) while the host itself stays on
    the network: its address moves to its veth first (and back onto the bridge when it comes up)."""
    veth, address = f"{host.prefix}{host.index}i", f"{host.address}/24"
    if up:
        host.sh(f"ip addr del {address} dev {veth}; ip link set {veth} master {BRIDGE} && ip link set {BRIDGE} up "
                f"&& ip addr add {address} dev {BRIDGE}")
    else:
        host.sh(f"ip link set {BRIDGE} down && ip addr del {address} dev {BRIDGE}; ip link set {veth} nomaster "
                f"&& ip link set {veth} up && ip addr add {address} dev {veth}")


# ---------------------------------------------------------------- never two engines

def engine_qemus(c: NsCluster) -> dict[int, list[int]]:
    """The engine's qemu processes on the cluster's hosts, by host index: by network namespace (libvirt
    gives each qemu a mount namespace of its own; it shares the host's network namespace). A qemu of
    the same name in no host's network namespace is another test bed's: not counted."""
    by_ns = {}
    for h in c.hosts:
        with contextlib.suppress(OSError):
            by_ns[os.readlink(f"/proc/{h.holder_pid}/ns/net")] = h.index
    out: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            ns = os.readlink(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if ns in by_ns and is_engine_qemu(argv):
            out.setdefault(by_ns[ns], []).append(int(entry))
    return out


def is_engine_qemu(argv: list[bytes]) -> bool:
    """A qemu whose libvirt name is the engine's domain (a forked libvirtd child before exec is not)."""
    return bool(argv) and os.path.basename(argv[0]).startswith(b"qemu-system") and any(
        a.startswith(f"guest={DOMAIN},".encode()) or a == f"guest={DOMAIN}".encode() for a in argv)


def lease_holders(c: NsCluster) -> set[int]:
    """Pids holding a lease in the hosted-engine lockspace, from every live host's sanlock daemon
    (`sanlock client status`: `r hosted-engine:engine-vm:PATH:OFFSET:LVER p PID`)."""
    pids = set()
    for h in c.hosts:
        out = h.run("sanlock", "client", "status", check=False, timeout=10).stdout
        pids |= set(parse_lease_holders(out))
    return pids


def parse_lease_holders(text: str) -> list[int]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[0] == "r" and parts[1].startswith("hosted-engine:") and parts[-2] == "p":
            with contextlib.suppress(ValueError):
                out.append(int(parts[-1]))
    return out


@dataclass
class EngineMonitor:
    """Samples every `interval` s, in a thread, the engine qemu processes on all hosts. `max_count` is
    the most seen at once; `max_running` the most at once that ran the engine: a qemu holding the
    VM lease, or any engine qemu seen for longer than STARTER_GRACE. (libvirt execs qemu paused and
    asks sanlock for the lease at the CPUs' start: the losing host of a tie has a paused qemu for a
    moment, killed when the lease is refused; it never ran the guest.)"""

    STARTER_GRACE = 10.0

    c: NsCluster
    interval: float = 1.0
    samples: int = 0
    max_count: int = 0
    max_running: int = 0
    overlaps: list[tuple[float, dict[int, list[int]], int]] = field(default_factory=list)
    # (monotonic time, host index, pid): each engine qemu the first time it was seen
    started: list[tuple[float, int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> EngineMonitor:
        self._thread = threading.Thread(target=self._run, name="engine-monitor", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        first: dict[int, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                qemus = engine_qemus(self.c)
            except Exception:  # noqa: BLE001 - a host torn down under us: the next sample
                qemus = {}
            pids = [p for ps in qemus.values() for p in ps]
            for index, ps in qemus.items():
                for pid in ps:
                    if pid not in first:
                        first[pid] = now
                        self.started.append((now, index, pid))
            running = len(pids)
            if len(pids) > 1:
                holders = lease_holders(self.c)
                running = sum(1 for p in pids if p in holders or now - first[p] > self.STARTER_GRACE)
                self.overlaps.append((now, qemus, running))
            self.samples += 1
            self.max_count = max(self.max_count, len(pids))
            self.max_running = max(self.max_running, running)
            self._stop.wait(self.interval)

    def first_start_after(self, t: float, hosts: list[NsHost]) -> tuple[float, int] | None:
        indexes = {h.index for h in hosts}
        return next(((when, i) for when, i, _ in self.started if when >= t and i in indexes), None)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def summary(self) -> str:
        return (f"{self.samples} samples: at most {self.max_running} engine running at once "
                f"({self.max_count} engine qemu processes; {len(self.overlaps)} samples with more than one: "
                f"{[(round(t), q, r) for t, q, r in self.overlaps[:5]]})")

    def check(self) -> None:
        assert self.samples > 0, "the engine monitor took no sample"
        assert self.max_running <= 1, f"two engines ran at once: {self.summary()}"


# ---------------------------------------------------------------- a failover, timed

def engine_host(c: NsCluster) -> NsHost | None:
    """The host where the engine's qemu runs (a dead host's stale pid file does not count)."""
    qemus = engine_qemus(c)
    return next((h for h in c.hosts if qemus.get(h.index)), None)


def watch_failover(c: NsCluster, lost: NsHost, lost_id: int, survivors: list[NsHost], t0: float,
                   monitor: EngineMonitor, timeout: float = 1500) -> dict[str, Any]:
    """From `t0` (the fault), poll the survivors' agents until the engine is healthy on one of them:
    when a survivor first saw `lost` not alive (detection), first saw the VM lease free, the first
    engine qemu on a survivor (VM start, from the monitor) and /health answering (healthy); seconds
    after t0, and which host took the engine."""
    marks: dict[str, float] = {}
    deadline = t0 + timeout
    while True:
        now = time.monotonic()
        for h in survivors:
            view = agent_view(h)
            peers = {p.get("host_id"): p for p in view.get("hosts", [])}
            if "detection" not in marks and lost_id in peers and not peers[lost_id].get("alive"):
                marks["detection"] = now
            if "lease_free" not in marks and view.get("lease") in ("free", "mine"):
                marks["lease_free"] = now
        start = monitor.first_start_after(t0, survivors)
        if start is not None:
            marks.setdefault("vm_start", start[0])
            taker = next(h for h in survivors if h.index == start[1])
            if engine_healthy(c, via=taker):
                marks["healthy"] = time.monotonic()
                break
        assert now < deadline, (f"the engine was not healthy on another host {timeout:.0f} s after host "
                                f"{lost.index}'s fault; marks {marks}; " +
                                "; ".join(f"host {h.index}: {ha_log(h, 15)}" for h in survivors))
        time.sleep(2)
    out: dict[str, Any] = {f"{k}_s": round(v - t0, 1) for k, v in marks.items()}
    # the host that runs it now (the first qemu seen may be a tie's loser, paused and refused the lease)
    taker = engine_host(c) or taker
    out["taken_by"] = taker.index
    return out


def assert_admin_password_nowhere(c: NsCluster) -> None:
    """The canary (the spec's admin password) after a deploy: not in host 1's logs, journals, state,
    libvirt config and logs, /run, the deployment directory on the engine volume (engine disk, seed
    gone), the test run's logs, nor any process's argv. grep reads the pattern from the password
    file itself: the canary never reaches an argv (which the runner logs)."""
    password_file = os.path.join(c.workdir, "admin.pass")
    places = "/var/lib/hcinode /var/log/hcinode /var/log/libvirt /etc/libvirt /etc/hcinode /run"
    r = c.hosts[0].sh(f"grep -rlF -D skip -f {password_file} {places}", check=False, timeout=1200)
    assert r.stdout.strip() == "", f"the admin password is in: {r.stdout}"
    # 1: searched, nothing found; 2: also a file that vanished or could not be read on the way (named)
    assert r.returncode in (1, 2), r.stderr
    log_dir = Path(os.environ["HCINODE_LOG_DIR"])
    found = [str(p) for p in log_dir.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not found, f"the admin password is in the test run's logs: {found}"
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
            assert PASSWORD.encode() not in cmdline.read_bytes(), f"the admin password is in the argv of {cmdline}"


def setup_ha(c: NsCluster) -> dict[int, int]:
    """The whole bed: the engine volume, the engine deployed on host 1, hosts 2 and 3 added, until
    `status` on host 1 shows all three live with the engine up on host 1. Host index -> host id."""
    make_volume(c)
    spec = write_he_spec(c)
    h1, h2, h3 = c.hosts
    deploy(c, spec)
    wait_host_up(c, h1, 1)
    ids = {1: 1}
    for host in (h2, h3):
        ids[host.index] = add_ha_host(c, host, via=h1)
        wait_host_up(c, host, ids[host.index])
    assert sorted(ids.values()) == [1, 2, 3], ids
    deadline = time.monotonic() + 300  # each agent joins the lockspace (~4 io_timeouts) and writes its slot
    while True:
        st = status(h1)
        rows = {r["host_id"]: r for r in st["hosts"]}
        if all(rows.get(i, {}).get("up_to_date") for i in ids.values()) and rows[1]["state"] == "EngineUp":
            break
        assert time.monotonic() < deadline, f"not every host live in status: {json.dumps(st)}; " + "; ".join(
            f"host {h.index}: {ha_log(h, 10)}" for h in (h2, h3))
        time.sleep(5)
    print(f"\nstatus with three hosts: {json.dumps(st)}")
    return ids
