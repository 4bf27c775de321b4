"""`hcinode hosted-engine agent`: the HA agent loop on one host (docs/hosted-engine.md).

Every 10 s: hold our host id in the lockspace, read every metadata slot, look at the local engine
VM and the engine's /health, compute the score, run the state machine (hosted_engine.states),
perform its actions, write our slot (only while we hold our host id), and write
/run/hcinode/hosted-engine.json for the console and the node agent's heartbeat.

Everything that touches the world is an adapter passed in (VM, health, host probe, lockspace), so
issue 15's many-host agent is this same loop with more peers in the metadata, and unit tests drive
the loop with fakes for libvirt and health and the real state machine and metadata file.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent.status import HA_FILE, ha_path, read_json, write_json
from hosted_engine import layout, states
from hosted_engine import lockspace as locks
from hosted_engine import metadata as md
from hosted_engine import score as scoring
from hosted_engine.layout import DeploymentPaths, host_state_path
from nodecore.errors import HcinodeError, InvalidInput
from nodecore.pki import format_time
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner

log = logging.getLogger("hcinode.hosted_engine.ha")

INTERVAL = states.TICK
HEALTH_TIMEOUT = 20.0  # oVirt's engine health poll timeout
STATUS_FILE = HA_FILE  # /run/hcinode/hosted-engine.json: the console and the node agent's heartbeat read it
LIBVIRT_URI = "qemu:///system"
SOURCE = "host.json"
# libvirt virDomainState -> the engine VM as the state machine sees it
VM_STATES = {0: ("unknown", "nostate"), 1: ("up", "running"), 2: ("up", "blocked"), 3: ("up", "paused"),
             4: ("up", "shutdown"), 5: ("down", "shutoff"), 6: ("down", "crashed"), 7: ("up", "pmsuspended")}


def status_path(directory: str | None = None) -> str:
    return ha_path(directory)


def _invalid(field_name: str, message: str, hint: str = "") -> InvalidInput:
    report = ValidationReport(SOURCE)
    report.error(field_name, message, hint)
    return InvalidInput(report)


@dataclass(frozen=True)
class HostConfig:
    """host.json: which deployment this host serves, as which sanlock host id, from which mount."""

    host_id: int
    deployment: str
    mount: str
    local_maintenance: bool = False

    @classmethod
    def load(cls, path: str) -> HostConfig:
        data = read_json(path)
        if data is None:
            raise _invalid("host.json", f"cannot read {path}",
                           "deploy the hosted engine here (hcinode hosted-engine deploy) or add this host")
        try:
            host_id = int(data["host_id"])
        except (KeyError, TypeError, ValueError):
            raise _invalid("host_id", f"{path}: host_id is missing or not a number",
                           "the sanlock host id the engine gave at join (1..250)") from None
        if not 1 <= host_id <= layout.MAX_HOST_ID:
            raise _invalid("host_id", f"{path}: host id {host_id} is outside 1..{layout.MAX_HOST_ID}")
        for key in ("deployment", "mount"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise _invalid(key, f"{path}: {key} is missing")
        return cls(host_id, str(data["deployment"]), str(data["mount"]), bool(data.get(LOCAL_MAINTENANCE_KEY, False)))

    @property
    def paths(self) -> DeploymentPaths:
        return DeploymentPaths(self.mount, self.deployment)


LOCAL_MAINTENANCE_KEY = "local_maintenance"


def read_local_maintenance(host_file: str, default: bool = False) -> bool:
    """The one rule for local maintenance: the key in host.json (`default` when the file is unreadable)."""
    data = read_json(host_file)
    return bool(data.get(LOCAL_MAINTENANCE_KEY)) if data else default


def set_local_maintenance(host_file: str, on: bool) -> None:
    """Flip the key in host.json, keeping the rest (atomically: the agent reads it every tick)."""
    data = read_json(host_file)
    if data is None:
        raise _invalid("host.json", f"cannot read {host_file}", "add this host first: hcinode hosted-engine add-host")
    data[LOCAL_MAINTENANCE_KEY] = on
    write_json(host_file, data)
    os.chmod(host_file, 0o600)


@dataclass(frozen=True)
class DeploymentConfig:
    """The parts of deployment.json the agent uses (no secrets there)."""

    engine_fqdn: str
    health_url: str
    vm_memory: int  # bytes
    io_timeout: int
    sector_size: int
    bridge: str
    gateway: str

    @classmethod
    def load(cls, path: str) -> DeploymentConfig:
        data = read_json(path)
        if data is None:
            raise HcinodeError(f"cannot read {path}: is the engine volume mounted?")
        fqdn = str(data.get("engine_fqdn") or "")
        return cls(engine_fqdn=fqdn, health_url=str(data.get("health_url") or f"https://{fqdn}/health"),
                   vm_memory=int((data.get("vm") or {}).get("memory_mib") or 4096) * 1024 * 1024,
                   io_timeout=int(data.get("io_timeout") or 10), sector_size=int(data.get("sector_size") or 512),
                   bridge=str(data.get("bridge") or ""), gateway=str(data.get("gateway") or ""))


# ---- adapters ---------------------------------------------------------------------------------

class Vm(Protocol):
    def state(self) -> tuple[str, str]:
        """(up / down / unknown, the libvirt state name or "none" when no such domain)."""

    def start(self, xml: str) -> None: ...

    def shutdown(self) -> None: ...

    def destroy(self) -> None: ...


class Health(Protocol):
    def __call__(self) -> str:
        """good / bad."""


class Probe(Protocol):
    def score_inputs(self) -> scoring.ScoreInputs:
        """Everything of the score this host measures (failed starts and maintenance are added)."""


class Locks(Protocol):
    def ensure_joined(self) -> bool:
        """True while we hold our host id; otherwise ask for it (without blocking) and say False."""

    def lease(self) -> str:
        """free / mine / other / unknown."""

    def leave(self) -> None: ...


@dataclass
class LibvirtVm:
    """The engine's libvirt domain through libvirt-python. The domain is created from vm.xml
    (transient: every start reads the shared definition, so no host runs a stale copy)."""

    name: str
    uri: str = LIBVIRT_URI
    module: Any = None

    def _libvirt(self) -> Any:
        if self.module is None:
            import libvirt

            libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
            self.module = libvirt
        return self.module

    def _conn(self) -> Any:
        return self._libvirt().open(self.uri)

    def state(self) -> tuple[str, str]:
        lv = self._libvirt()
        try:
            conn = self._conn()
        except Exception as exc:  # noqa: BLE001 - libvirtd down: the state machine waits
            log.warning("libvirt unreachable: %s", exc)
            return "unknown", "unknown"
        try:
            try:
                dom = conn.lookupByName(self.name)
            except lv.libvirtError as exc:
                if exc.get_error_code() == lv.VIR_ERR_NO_DOMAIN:
                    return "down", "none"
                raise
            return VM_STATES.get(dom.state()[0], ("unknown", "unknown"))
        except Exception as exc:  # noqa: BLE001
            log.warning("libvirt: %s", exc)
            return "unknown", "unknown"
        finally:
            conn.close()

    def _domain_call(self, what: str) -> None:
        conn = self._conn()
        try:
            getattr(conn.lookupByName(self.name), what)()
        finally:
            conn.close()

    def start(self, xml: str) -> None:
        conn = self._conn()
        try:
            conn.createXML(xml, 0)
        finally:
            conn.close()

    def shutdown(self) -> None:
        self._domain_call("shutdown")

    def destroy(self) -> None:
        self._domain_call("destroy")


@dataclass
class HttpsHealth:
    """The engine's /health over HTTPS, verified against the engine CA this host pinned at join."""

    url: str
    ca_path: str
    timeout: float = HEALTH_TIMEOUT

    def __call__(self) -> str:
        import requests

        try:
            answer = requests.get(self.url, verify=self.ca_path, timeout=self.timeout)
        except (requests.RequestException, OSError) as exc:
            log.debug("engine health %s: %s", self.url, exc)
            return "bad"
        return "good" if answer.status_code == 200 else "bad"


@dataclass
class LocalProbe:
    """This host's score inputs from /proc, netlink and a gateway ping."""

    deployment: DeploymentConfig
    runner: Runner = field(default_factory=lambda: LocalRunner(default_timeout=5, quiet=True))
    proc: str = "/proc"
    _last_cpu: tuple[int, int] | None = None

    def bridge_up(self) -> bool:
        """The bridge's operstate from netlink (`ip`), not /sys/class/net: sysfs shows the network
        namespace it was mounted in, which is not this host's in the namespaced test hosts (every
        host read "no such bridge" and carried the 600 penalty)."""
        if not self.deployment.bridge:
            return True
        result = self.runner.run(["ip", "-j", "link", "show", "dev", self.deployment.bridge], check=False)
        try:
            links = json.loads(result.stdout) if result.ok else []
        except ValueError:
            links = []
        # a bridge without carrier detection says UNKNOWN; a bridge set down says DOWN
        return any(str(link.get("operstate", "")).upper() in ("UP", "UNKNOWN") for link in links)

    def cpu_load(self) -> float:
        """Busy fraction since the previous call, from /proc/stat (0 on the first)."""
        try:
            with open(os.path.join(self.proc, "stat"), encoding="utf-8") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return 0.0
        idle, total = fields[3] + (fields[4] if len(fields) > 4 else 0), sum(fields)
        last, self._last_cpu = self._last_cpu, (idle, total)
        if last is None or total <= last[1]:
            return 0.0
        return 1.0 - (idle - last[0]) / (total - last[1])

    def free_memory(self) -> int:
        try:
            with open(os.path.join(self.proc, "meminfo"), encoding="utf-8") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError):
            pass
        return 0

    def network_ok(self) -> float:
        if not self.deployment.gateway:
            return 1.0
        result = self.runner.run(["ping", "-c", "1", "-W", "2", self.deployment.gateway], check=False)
        return 1.0 if result.ok else 0.0

    def score_inputs(self) -> scoring.ScoreInputs:
        return scoring.ScoreInputs(network_ok=self.network_ok(), bridge_up=self.bridge_up(),
                                   cpu_load=self.cpu_load(), free_memory=self.free_memory(),
                                   vm_memory=self.deployment.vm_memory)


@dataclass
class SanlockLocks:
    lockspace: locks.Lockspace
    lease_path: str
    sector: int = 512

    problem: str = ""  # the last sanlock error (an unreadable lockspace): the status file shows it

    def ensure_joined(self) -> bool:
        try:
            state = self.lockspace.joined()
            if state is False:
                self.lockspace.start_join()
            self.problem = ""
            return bool(state)
        except locks.LockspaceError as exc:
            log.warning("lockspace: %s (not writing the metadata, not starting the engine)", exc)
            self.problem = str(exc)
            return False

    def lease(self) -> str:
        try:
            owners = locks.lease_owners(self.lease_path, self.sector)
            return locks.lease_state(self.lockspace.host_id, owners, self.lockspace.hosts())
        except locks.LockspaceError as exc:
            log.warning("VM lease: %s", exc)
            return "unknown"

    def leave(self) -> None:
        try:
            if not self.lockspace.leave():
                log.info("host id kept in the lockspace: the engine VM running here holds its lease")
        except locks.LockspaceError as exc:
            log.warning("%s", exc)


# ---- the loop ---------------------------------------------------------------------------------

def domain_name(xml: str) -> str:
    try:
        return ET.fromstring(xml).findtext("name") or ""
    except ET.ParseError:
        return ""


@dataclass
class HaAgent:
    host: HostConfig
    deployment: DeploymentConfig
    vm: Vm
    health: Health
    probe: Probe
    locks: Locks
    metadata: md.MetadataFile
    host_file: str = field(default_factory=host_state_path)
    status_file: str = field(default_factory=status_path)
    hostname: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time
    interval: float = INTERVAL
    machine: states.Machine = field(default_factory=states.Machine)
    sequence: int = 0
    last: states.Decision | None = None

    def __post_init__(self) -> None:
        # go on from our own slot's sequence, so observers see a change even after a restart
        try:
            own = self.metadata.read_all(self.host.deployment)[self.host.host_id]
            if own.status == "ok" and isinstance(own.slot, md.HostSlot):
                self.sequence = own.slot.sequence
        except md.MetadataError as exc:
            log.warning("%s", exc)

    def _local_maintenance(self) -> bool:
        # host.json is read every tick: `hosted-engine maintenance local` flips it there
        return read_local_maintenance(self.host_file, self.host.local_maintenance)

    def _vm_xml(self) -> str | None:
        try:
            with open(self.host.paths.vm_xml, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            log.warning("cannot read the VM definition: %s", exc)
            return None
        return text if domain_name(text) else None

    def observe(self, now: float, joined: bool) -> tuple[states.Observation, list[md.SlotRead], str, bool]:
        try:
            reads = self.metadata.read_all(self.host.deployment)
        except md.MetadataError as exc:
            log.warning("%s", exc)
            reads = [md.SlotRead(i, "corrupt", error=str(exc)) for i in range(layout.METADATA_SLOTS)]
        for r in reads:
            if r.status in ("corrupt", "foreign"):
                log.warning("metadata slot %d is %s: %s (ignored)", r.number, r.status, r.error)
        peers = tuple(states.Peer(s.host_id, s.hostname, s.sequence, s.score, s.engine_vm, s.engine_health,
                                  s.local_maintenance, s.stopped)
                      for r in reads[1:] if r.status == "ok" and isinstance(s := r.slot, md.HostSlot)
                      and s.host_id != self.host.host_id)
        vm, vm_status = self.vm.state()
        health = self.health() if vm == "up" else "unknown"
        local_maintenance = self._local_maintenance()
        measured = self.probe.score_inputs()
        inputs = scoring.ScoreInputs(
            vm_config_ok=self._vm_xml() is not None, network_ok=measured.network_ok, bridge_up=measured.bridge_up,
            cpu_load=measured.cpu_load, free_memory=measured.free_memory, vm_memory=measured.vm_memory,
            engine_runs_here=vm == "up",
            failed_starts=scoring.failed_start_count(self.machine.failed_starts, now),
            local_maintenance=local_maintenance)
        lease = self.locks.lease() if joined else "unknown"
        obs = states.Observation(vm=vm, health=health, score=scoring.compute(inputs),
                                 global_maintenance=md.global_maintenance(reads), local_maintenance=local_maintenance,
                                 lease=lease, peers=peers, penalties=tuple(scoring.penalties(inputs).items()))
        return obs, reads, vm_status, local_maintenance

    def perform(self, actions: tuple[str, ...]) -> None:
        """The state machine's actions. A failure is logged: the next tick observes the VM state."""
        for action in actions:
            try:
                if action == states.START_VM:
                    xml = self._vm_xml()
                    if xml is None:
                        log.error("cannot start the engine VM: no readable %s", self.host.paths.vm_xml)
                        continue
                    log.info("starting the engine VM")
                    self.vm.start(xml)
                elif action == states.STOP_VM:
                    log.info("shutting the engine VM down")
                    self.vm.shutdown()
                elif action == states.DESTROY_VM:
                    log.warning("destroying the engine VM")
                    self.vm.destroy()
            except Exception as exc:  # noqa: BLE001 - libvirt's error (e.g. -243: the lease is held elsewhere)
                log.error("%s failed: %s", action, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    def write_slot(self, machine: states.Machine, score: int, obs: states.Observation, vm_status: str,
                   stopped: bool = False) -> None:
        self.sequence += 1
        slot = md.HostSlot(host_id=self.host.host_id, hostname=self.hostname, deployment=self.host.deployment,
                           timestamp=self.wall(), sequence=self.sequence, score=score, state=str(machine.state),
                           engine_vm=obs.vm, engine_health=obs.health, vm_status=vm_status,
                           local_maintenance=obs.local_maintenance, stopped=stopped)
        self.metadata.write_host(slot)

    def tick(self) -> states.Decision:
        now = self.clock()
        joined = self.locks.ensure_joined()
        obs, reads, vm_status, _lm = self.observe(now, joined)
        decision = states.step(self.machine, obs, now)
        if decision.state != self.machine.state:
            log.info("%s -> %s: %s", self.machine.state, decision.state, decision.reason)
        self.machine = decision.machine
        self.perform(decision.actions)
        if joined:
            try:
                self.write_slot(decision.machine, decision.score, obs, vm_status)
            except md.MetadataError as exc:
                log.error("%s", exc)
        else:
            log.warning("host id %d not held in the lockspace yet: not writing the metadata slot", self.host.host_id)
        self.last = decision
        self.write_status(decision, obs, joined, now, reads)
        return decision

    def write_status(self, decision: states.Decision, obs: states.Observation, joined: bool, now: float,
                     reads: list[md.SlotRead] | None = None) -> None:
        live = {p.host_id for p in states.live_peers(decision.machine, obs.peers, now)}
        changed = {s.host_id: s.changed_at for s in decision.machine.seen}
        # garbage in the metadata and a lockspace sanlock cannot use: said here (and logged), never acted on
        problems = [{"slot": r.number, "status": r.status, "error": r.error} for r in reads or []
                    if r.status in ("corrupt", "foreign")]
        write_json(self.status_file, {
            "metadata_problems": problems, "lockspace_problem": getattr(self.locks, "problem", ""),
            "host_id": self.host.host_id, "hostname": self.hostname, "deployment": self.host.deployment,
            "state": str(decision.state), "score": decision.score, "penalties": dict(obs.penalties),
            "reason": decision.reason, "engine": {"vm": obs.vm, "health": obs.health}, "lease": obs.lease,
            "lockspace_joined": joined,
            "global_maintenance": obs.global_maintenance, "local_maintenance": obs.local_maintenance,
            "updated_at": format_time_now(self.wall()),
            "hosts": [{"host_id": p.host_id, "hostname": p.hostname, "alive": p.host_id in live, "score": p.score,
                       "engine_vm": p.engine_vm, "engine_health": p.engine_health, "sequence": p.sequence,
                       # seconds since this observer saw the slot's sequence change (its own monotonic clock)
                       "changed_ago": round(now - changed[p.host_id], 1) if p.host_id in changed else None}
                      for p in obs.peers]})

    def stop(self) -> None:
        """Publish AgentStopped (the VM keeps running if it runs here) and give the host id back
        when no lease needs it."""
        now = self.clock()
        machine = states.stopped(self.machine, now)
        if self.locks.ensure_joined():
            vm, vm_status = self.vm.state()
            obs = states.Observation(vm=vm, health="unknown", score=0, global_maintenance=False,
                                     local_maintenance=self._local_maintenance())
            try:
                self.write_slot(machine, 0, obs, vm_status, stopped=True)
            except md.MetadataError as exc:
                log.error("%s", exc)
        self.locks.leave()

    def run(self, stop: threading.Event | None = None, ticks: int | None = None) -> states.Decision | None:
        """Tick every `interval` s (from one tick's start to the next; at once after a start or
        stop action) until `stop` is set or `ticks` ticks ran."""
        stop = stop or threading.Event()
        done = 0
        while not stop.is_set() and (ticks is None or done < ticks):
            started = self.clock()
            try:
                decision = self.tick()
                delay = 0.0 if decision.nowait else max(0.0, self.interval - (self.clock() - started))
            except Exception:  # noqa: BLE001 - a bug in one tick must not end the agent
                log.exception("HA agent tick failed")
                delay = self.interval
            done += 1
            if ticks is not None and done >= ticks:
                break
            stop.wait(delay)
        return self.last


def format_time_now(wall: float) -> str:
    import datetime as dt

    return format_time(dt.datetime.fromtimestamp(wall, dt.UTC))


def build(host_file: str | None = None, run_directory: str | None = None,
          ca_path: str | None = None) -> HaAgent:
    """The agent with its real adapters, from host.json and the deployment's shared files."""
    from agent.state import ClusterFiles, default_state_dir

    host_path = host_file or host_state_path()
    host = HostConfig.load(host_path)
    paths = host.paths
    deployment = DeploymentConfig.load(paths.deployment_json)
    try:
        with open(paths.vm_xml, encoding="utf-8") as f:
            name = domain_name(f.read())
    except OSError as exc:
        raise HcinodeError(f"cannot read {paths.vm_xml}: {exc.strerror}") from None
    lockspace = locks.Lockspace(paths.lockspace, host.host_id, io_timeout=deployment.io_timeout)
    return HaAgent(
        host=host, deployment=deployment, vm=LibvirtVm(name or "HostedEngine"),
        health=HttpsHealth(deployment.health_url, ca_path or ClusterFiles(default_state_dir()).ca),
        probe=LocalProbe(deployment), locks=SanlockLocks(lockspace, paths.vm_lease, deployment.sector_size),
        metadata=md.MetadataFile(paths.metadata), host_file=host_path, status_file=status_path(run_directory))


def describe(decision: states.Decision | None) -> str:
    if decision is None:
        return "no tick ran"
    return json.dumps({"state": str(decision.state), "score": decision.score, "reason": decision.reason})
