"""`hcinode hosted-engine add-host` and `remove-host`: a joined node starts (or stops) serving the
hosted engine (docs/hosted-engine.md "Hosts and maintenance").

Both go config -> validate -> plan -> apply -> verify through nodecore.pipeline, as the deploy
does, with the deploy's own steps (hosted_engine.plan: the mount, the lockspace join, the HA
agent's unit). The plans are pure functions of (config, facts); `probe` reads the facts.

add-host has two phases: the deployment directory is found on the engine volume, so when the
volume is not mounted yet, the mount step runs first (alone), then the facts are read again and
the whole plan is made, validated and applied (its mount step is then skipped by its check).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hosted_engine import layout
from hosted_engine import metadata as md
from hosted_engine.ha_agent import DeploymentConfig, HostConfig, domain_name
from hosted_engine.plan import (
    HA_AGENT_UNIT,
    agent_start_step,
    agent_stop_step,
    join_step,
    leave_step,
    mount_step,
    write_step,
)
from hosted_engine.spec import DEFAULT_MOUNT_ROOT, VOLUME_RE
from hosted_engine.status import STALE_AFTER
from nodecore import rules
from nodecore.executor import Action
from nodecore.inputs import path_problem
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport
from nodecore.runner import Runner

ADD_JOURNAL = "hosted-engine-add-host"
REMOVE_JOURNAL = "hosted-engine-remove-host"


def _metadata(path: str) -> md.MetadataFile:
    """The product's metadata file (O_DIRECT); unit tests on tmpfs replace this one function."""
    return md.MetadataFile(path)


# --- add-host ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class AddHostConfig:
    """The command line of add-host."""

    volume: str  # SERVER:/NAME, as in fstab
    backup_servers: tuple[str, ...] = ()
    mount: str = ""  # default: the deploy's, <mount_root>/<volume name>
    deployment: str | None = None  # the deployment uuid, when the volume holds more than one

    @property
    def server(self) -> str:
        return self.volume.split(":/", 1)[0] if ":/" in self.volume else ""

    @property
    def volume_name(self) -> str:
        return self.volume.split(":/", 1)[1] if ":/" in self.volume else ""

    @property
    def mount_point(self) -> str:
        return self.mount or f"{DEFAULT_MOUNT_ROOT}/{self.volume_name}"


def check_config(cfg: AddHostConfig) -> ValidationReport:
    report = ValidationReport("add-host")
    if ":/" not in cfg.volume:
        report.error("--volume", f"{cfg.volume!r} is not SERVER:/NAME", "e.g. --volume node1.example.com:/engine")
    else:
        rules.add(report, "--volume", rules.host(cfg.server))
        if not VOLUME_RE.fullmatch(cfg.volume_name):
            report.error("--volume", f"{cfg.volume_name!r} is not a Gluster volume name",
                         "letters, digits, _ . - (up to 64), e.g. engine")
    for i, server in enumerate(cfg.backup_servers):
        rules.add(report, f"--backup-servers[{i}]", rules.host(server))
    problem = path_problem(cfg.mount_point)
    if problem:
        report.error("--mount", problem, f"default {DEFAULT_MOUNT_ROOT}/<volume>")
    return report


@dataclass(frozen=True)
class AddHostFacts:
    """What add-host found on this node and on the engine volume."""

    host_id: int | None  # the sanlock host id the engine gave this node at join (None: not joined)
    hostname: str
    mounted: bool
    deployments: tuple[str, ...] = ()  # directories under <mount>/hosted-engine with a deployment.json
    engine_url: str = ""
    io_timeout: int = 10
    vm_xml_ok: bool = False
    slot_owner: str = ""  # hostname in our host id's metadata slot, when another live host wrote it
    slot_age: float = 0.0
    current: tuple[int, str] | None = None  # (host id, deployment) of an existing host.json


def chosen_deployment(cfg: AddHostConfig, facts: AddHostFacts) -> str | None:
    if cfg.deployment is not None:
        return cfg.deployment if cfg.deployment in facts.deployments else None
    return facts.deployments[0] if len(facts.deployments) == 1 else None


def _deployments(mount: str) -> tuple[str, ...]:
    top = os.path.join(mount, layout.TOP_DIR)
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return ()
    return tuple(n for n in names if os.path.isfile(layout.DeploymentPaths(mount, n).deployment_json))


def _engine_host_id(cluster_dir: str | None) -> int | None:
    from agent.state import ClusterFiles, EngineRecord, default_state_dir

    files = ClusterFiles(cluster_dir or default_state_dir())
    if not files.joined():
        return None
    try:
        return EngineRecord.load(files).sanlock_host_id
    except (OSError, ValueError, KeyError):
        return None


def probe(cfg: AddHostConfig, runner: Runner, host_file: str, *, cluster_dir: str | None = None,
          hostname: str | None = None, wall: Callable[[], float] = time.time) -> AddHostFacts:
    """Read-only: the node's join, the mount, and (when mounted) the deployment's files."""
    name = hostname or socket.gethostname()
    host_id = _engine_host_id(cluster_dir)
    mounted = runner.run(["mountpoint", "-q", cfg.mount_point], check=False).ok
    current = None
    if os.path.exists(host_file):
        try:
            have = HostConfig.load(host_file)
            current = (have.host_id, have.deployment)
        except Exception:  # noqa: BLE001 - a broken host.json is rewritten by the plan
            current = None
    if not mounted:
        return AddHostFacts(host_id, name, False, current=current)
    deployments = _deployments(cfg.mount_point)
    facts = AddHostFacts(host_id, name, True, deployments, current=current)
    uuid = chosen_deployment(cfg, facts)
    if uuid is None:
        return facts
    paths = layout.DeploymentPaths(cfg.mount_point, uuid)
    try:
        config = DeploymentConfig.load(paths.deployment_json)
        io_timeout = config.io_timeout
    except Exception:  # noqa: BLE001 - listed only when deployment.json exists; default as the agent
        io_timeout = 10
    raw = _read_json(paths.deployment_json)
    try:
        with open(paths.vm_xml, encoding="utf-8") as f:
            vm_xml_ok = bool(domain_name(f.read()))
    except OSError:
        vm_xml_ok = False
    owner, age = "", 0.0
    if host_id is not None and 1 <= host_id <= layout.MAX_HOST_ID:
        try:
            read = _metadata(paths.metadata).read_all(uuid)[host_id]
        except md.MetadataError:
            read = md.SlotRead(host_id, "corrupt")
        slot = read.slot
        if read.status == "ok" and isinstance(slot, md.HostSlot) and not slot.stopped and slot.hostname != name:
            age = wall() - slot.timestamp
            # a one-shot command cannot watch the sequence change: the writer's clock is the only
            # witness here (the agent's own join is the real check: sanlock refuses an id another
            # live host renews)
            if age <= STALE_AFTER:
                owner = slot.hostname
    return AddHostFacts(host_id, name, True, deployments, str(raw.get("engine_url") or ""), io_timeout, vm_xml_ok,
                        owner, age, current)


def _read_json(path: str) -> dict[str, Any]:
    from agent.status import read_json

    return read_json(path) or {}


def check_facts(cfg: AddHostConfig, facts: AddHostFacts) -> ValidationReport:
    report = ValidationReport("add-host")
    if facts.host_id is None:
        report.error("engine", "this node has not joined an engine, so it has no sanlock host id",
                     "join it first: hcinode join JOIN-STRING (docs/cluster.md), then re-run add-host")
    if not facts.mounted:
        return report
    top = os.path.join(cfg.mount_point, layout.TOP_DIR)
    if not facts.deployments:
        report.error("deployment", f"no hosted-engine deployment under {top}",
                     "check --volume (the engine volume the deploy used), or deploy first: "
                     "hcinode hosted-engine deploy")
    elif cfg.deployment is not None and cfg.deployment not in facts.deployments:
        report.error("--deployment", f"{cfg.deployment} is not under {top}", f"one of: {', '.join(facts.deployments)}")
    elif cfg.deployment is None and len(facts.deployments) > 1:
        found = ", ".join(facts.deployments)
        report.error("--deployment", f"{len(facts.deployments)} deployments under {top}: {found}",
                     "name the one to serve: --deployment UUID")
    uuid = chosen_deployment(cfg, facts)
    if uuid is not None and not facts.vm_xml_ok:
        report.error("vm.xml", f"{layout.DeploymentPaths(cfg.mount_point, uuid).vm_xml} is missing or not a "
                     "libvirt domain", "the deploy writes it: re-run the deploy on its first host")
    if facts.slot_owner:
        report.error("host id", f"host id {facts.host_id} is live for host {facts.slot_owner} (it wrote its "
                     f"metadata slot {facts.slot_age:.0f} s ago)",
                     f"two nodes have the same sanlock host id: run remove-host on {facts.slot_owner} or "
                     "fix the engine's hosts (hcinode engine hosts), then re-run")
    if facts.current is not None and uuid is not None and facts.current != (facts.host_id, uuid):
        report.error("host.json", f"this host already serves deployment {facts.current[1]} as host id "
                     f"{facts.current[0]}", "run hcinode hosted-engine remove-host first")
    return report


def host_state(host_id: int, deployment: str, mount: str, engine_url: str) -> str:
    """host.json as the deploy's enrol writes it (hosted_engine.ha_agent.HostConfig reads it)."""
    state = {"host_id": host_id, "deployment": deployment, "mount": mount, "engine_url": engine_url}
    return json.dumps(state, indent=2) + "\n"


def add_host_plan(cfg: AddHostConfig, facts: AddHostFacts, host_file: str) -> Plan:
    """Mount, hold the host id, host.json, the HA agent. Without the mount yet (a dry run), only
    the mount: the rest depends on what the volume holds."""
    steps: list[Step] = [mount_step(cfg.volume, cfg.mount_point, cfg.backup_servers)]
    uuid = chosen_deployment(cfg, facts)
    summary: dict[str, Any] = {"volume": cfg.volume, "mount": cfg.mount_point, "host id": facts.host_id}
    if uuid is None or facts.host_id is None:
        summary["then"] = "the deployment directory is found on the mounted volume; the rest of the plan follows"
        return Plan("add this host to the hosted engine", tuple(steps), summary)
    paths = layout.DeploymentPaths(cfg.mount_point, uuid)
    steps.append(join_step(paths, facts.host_id, facts.io_timeout))
    steps.append(write_step(f"Write this host's hosted-engine state {host_file}", host_file,
                            host_state(facts.host_id, uuid, cfg.mount_point, facts.engine_url), mode="0600"))
    steps.append(agent_start_step())
    summary["deployment"] = uuid
    return Plan(f"add this host to hosted engine {uuid} as host id {facts.host_id}", tuple(steps), summary)


def verify_added(runner: Runner, host_file: str, host_id: int, deployment: str) -> ValidationReport:
    report = ValidationReport("add-host")
    try:
        host = HostConfig.load(host_file)
        if (host.host_id, host.deployment) != (host_id, deployment):
            report.error("host.json", f"{host_file} says host id {host.host_id}, deployment {host.deployment}")
    except Exception as exc:  # noqa: BLE001 - InvalidInput of a bad file: reported, not raised
        report.error("host.json", str(exc).splitlines()[0])
    if not runner.run(["systemctl", "is-active", "--quiet", HA_AGENT_UNIT], check=False).ok:
        report.error("agent", f"{HA_AGENT_UNIT} is not active", f"journalctl -u {HA_AGENT_UNIT}")
    return report


# --- remove-host ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoveHostFacts:
    host: HostConfig
    engine_here: bool  # the engine VM runs on this host
    io_timeout: int = 10


def probe_remove(host_file: str, runner: Runner) -> RemoveHostFacts:
    host = HostConfig.load(host_file)  # InvalidInput (exit 2) when there is none: nothing to remove
    state = runner.run(["virsh", "domstate", layout.DOMAIN_NAME], check=False).stdout.strip()
    try:
        io_timeout = DeploymentConfig.load(host.paths.deployment_json).io_timeout
    except Exception:  # noqa: BLE001 - the volume may be gone already; the agent's default
        io_timeout = 10
    return RemoveHostFacts(host, state == "running", io_timeout)


def check_remove(facts: RemoveHostFacts) -> ValidationReport:
    report = ValidationReport("remove-host")
    if facts.engine_here:
        report.error("engine", "the engine VM runs on this host",
                     "set local maintenance first (hcinode hosted-engine maintenance local) so the engine moves "
                     "to another host, then re-run remove-host")
    return report


def clear_slot(runner: Runner, params: Mapping[str, Any]) -> None:
    _metadata(str(params["path"])).clear_slot(int(params["slot"]))


def remove_host_plan(facts: RemoveHostFacts, host_file: str) -> Plan:
    """Stop the agent, clear our slot (holding our host id, as every metadata write), leave, forget."""
    host, paths = facts.host, facts.host.paths
    steps = (
        agent_stop_step(),
        # the agent gave the id back when it stopped: a write to the metadata needs it held
        join_step(paths, host.host_id, facts.io_timeout),
        Step(f"Clear this host's metadata slot {host.host_id}", action="hosted_engine.clear_slot",
             params={"path": paths.metadata, "slot": host.host_id}),
        leave_step(paths, host.host_id),
        Step(f"Remove this host's hosted-engine state {host_file}", argv=("rm", "-f", host_file),
             check=("test", "!", "-e", host_file)),
    )
    return Plan(f"remove this host (host id {host.host_id}) from hosted engine {host.deployment}", steps,
                {"deployment": host.deployment, "host id": host.host_id, "mount": host.mount})


def verify_removed(runner: Runner, facts: RemoveHostFacts, host_file: str) -> ValidationReport:
    report = ValidationReport("remove-host")
    if os.path.exists(host_file):
        report.error("host.json", f"{host_file} is still there")
    if runner.run(["systemctl", "is-active", "--quiet", HA_AGENT_UNIT], check=False).ok:
        report.error("agent", f"{HA_AGENT_UNIT} is still active")
    try:
        read = _metadata(facts.host.paths.metadata).read_all()[facts.host.host_id]
        if read.status != "empty":
            report.error("metadata", f"slot {facts.host.host_id} is {read.status}, not empty")
    except md.MetadataError as exc:
        report.error("metadata", str(exc))
    return report


def actions() -> dict[str, Action]:
    from gluster_setup.apply import mount_volume
    from hosted_engine.deploy import lockspace_actions, write_file

    return {"hosted_engine.write_file": write_file, "gluster_setup.mount_volume": mount_volume,
            "hosted_engine.clear_slot": clear_slot, **lockspace_actions()}
