"""`hcinode hosted-engine maintenance global|local|none` and `reinitialize-lockspace`
(docs/hosted-engine.md "Hosts and maintenance").

One function per command, called the same way by the CLI, the console's Hosted Engine page and
the node agent (an engine command): `set_maintenance(mode, ...)` returns what it did, or raises
InvalidInput (exit 2, nothing changed) saying why not.

- global: slot 0 of the metadata (metadata.write_global). Like every metadata write it needs this
  host to hold its host id in the lockspace (the HA agent holds it while it runs).
- local: `local_maintenance` in this host's host.json, which the agent reads every tick
  (ha_agent.read_local_maintenance: one rule for the key). On the host that runs the engine the
  agent stops the VM only while another live host can take it over (states.py); the command
  refuses when no such host is live, so the engine is never stopped for nobody.
- none: both off (oVirt's `--mode=none`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from hosted_engine import layout
from hosted_engine import lockspace as locks
from hosted_engine import metadata as md
from hosted_engine import status as he_status
from hosted_engine.ha_agent import DeploymentConfig, HostConfig, set_local_maintenance, status_path
from hosted_engine.plan import agent_start_step, agent_stop_step, join_step, leave_step
from nodecore.errors import InvalidInput
from nodecore.executor import Action
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport

MODES = ("global", "local", "none")
REINIT_JOURNAL = "hosted-engine-reinitialize-lockspace"

Joined = Callable[[HostConfig], "bool | None"]


def _metadata(path: str) -> md.MetadataFile:
    """The product's metadata file (O_DIRECT); unit tests on tmpfs replace this one function."""
    return md.MetadataFile(path)


def holds_host_id(host: HostConfig) -> bool | None:
    """Whether this host's sanlock daemon holds our host id (None: a join is going on)."""
    try:
        return locks.Lockspace(host.paths.lockspace, host.host_id).joined()
    except locks.LockspaceError:
        return False


def _refuse(field_name: str, message: str, hint: str) -> InvalidInput:
    report = ValidationReport("maintenance")
    report.error(field_name, message, hint)
    return InvalidInput(report)


def _require_host_id(host: HostConfig, joined: Joined | None) -> None:
    if not (joined or holds_host_id)(host):
        raise _refuse("host id", f"this host does not hold its host id {host.host_id} in the lockspace "
                      f"{host.paths.lockspace}, and only a holder may write the metadata",
                      "start the HA agent (systemctl start hcinode-hosted-engine-ha.service), wait for it to "
                      "join (hcinode hosted-engine status), then re-run")


def write_global(host: HostConfig, on: bool, *, wall: Callable[[], float] = time.time) -> None:
    """Slot 0 with the next sequence number (observers see the change)."""
    meta = _metadata(host.paths.metadata)
    first = meta.read_all(host.deployment)[0]
    sequence = first.slot.sequence if first.status == "ok" and isinstance(first.slot, md.GlobalSlot) else 0
    meta.write_global(md.GlobalSlot(host.deployment, on, wall(), sequence + 1, host.host_id))


def can_take_over(status: he_status.Status, my_host_id: int) -> list[he_status.HostRow]:
    """The other hosts that could run the engine now: up to date, a score above 0, not in local
    maintenance, not stopped (the same rule as states._Tick.best_peer, seen from a one-shot command)."""
    return [h for h in status.hosts if h.host_id != my_host_id and not h.problem and h.up_to_date
            and h.score > 0 and not h.local_maintenance and not h.stopped]


@dataclass(frozen=True)
class Done:
    mode: str
    message: str


def set_maintenance(mode: str, host_file: str | None = None, *, run_dir: str | None = None,
                    joined: Joined | None = None, wall: Callable[[], float] = time.time) -> Done:
    """Set maintenance `mode` on this host (local) or on every host (global); "none" ends both.
    `joined`: whether this host holds its host id (default: ask sanlock)."""
    if mode not in MODES:
        raise _refuse("mode", f"{mode!r} is not a maintenance mode", "one of: global, local, none")
    path = host_file or layout.host_state_path()
    host = HostConfig.load(path)
    status = he_status.collect(host.paths.metadata, host.deployment, my_host_id=host.host_id,
                               agent_file=status_path(run_dir), wall=wall,
                               metadata=_metadata)
    if mode == "global":
        _require_host_id(host, joined)
        write_global(host, True, wall=wall)
        return Done(mode, "global maintenance: no HA agent starts, stops or moves the engine VM until "
                    "`hcinode hosted-engine maintenance none`")
    if mode == "local":
        mine = next((h for h in status.hosts if h.host_id == host.host_id), None)
        engine_here = mine is not None and mine.engine_status.get("vm") == "up"
        if engine_here and not can_take_over(status, host.host_id):
            raise _refuse("mode", "the engine VM runs on this host and no other live host can take it over "
                          "(none is up to date with a score above 0 and out of local maintenance)",
                          "add or repair another hosted-engine host (hcinode hosted-engine status), or use "
                          "global maintenance to keep the engine where it is")
        set_local_maintenance(path, True)
        moved = " The engine VM moves to another host first." if engine_here else ""
        return Done(mode, f"local maintenance on host id {host.host_id}: its score is 0 and it runs no engine.{moved}")
    if status.global_maintenance is not False:
        _require_host_id(host, joined)  # checked before anything changes
        write_global(host, False, wall=wall)
    set_local_maintenance(path, False)
    return Done(mode, "maintenance ended: the HA agents manage the engine VM again")


# --- reinitialize-lockspace ------------------------------------------------------------------------

@dataclass(frozen=True)
class ReinitFacts:
    host: HostConfig
    global_maintenance: bool | None
    garbage: tuple[int, ...]  # slots that are corrupt or foreign
    engine_running: tuple[str, ...]  # why the engine VM may run somewhere (empty: it runs nowhere we see)
    sector: int = 512
    io_timeout: int = 10


def probe_reinit(host: HostConfig, *, vm_running_here: bool, lease_owners: Callable[[], list[int]] | None = None,
                 wall: Callable[[], float] = time.time) -> ReinitFacts:
    """Read-only: slot 0, the garbage slots, and every sign of a running engine VM: libvirt here,
    a fresh slot saying its VM is up, an owner of the VM lease."""
    try:
        deployment = DeploymentConfig.load(host.paths.deployment_json)
        sector, io_timeout = deployment.sector_size, deployment.io_timeout
    except Exception:  # noqa: BLE001 - the agent's defaults
        sector, io_timeout = 512, 10
    reads = _metadata(host.paths.metadata).read_all(host.deployment)
    garbage = tuple(r.number for r in reads if r.status in ("corrupt", "foreign"))
    running = []
    if vm_running_here:
        running.append("the engine VM runs on this host")
    for r in reads[1:]:
        s = r.slot
        if r.status == "ok" and isinstance(s, md.HostSlot) and s.engine_vm == "up" and not s.stopped \
                and wall() - s.timestamp <= he_status.STALE_AFTER:
            running.append(f"host {s.hostname} (id {s.host_id}) says the engine VM runs there")
    try:
        owners = (lease_owners or (lambda: locks.lease_owners(host.paths.vm_lease, sector)))()
        if owners:
            running.append(f"the VM lease is held by host id {', '.join(map(str, owners))}")
    except locks.LockspaceError as exc:
        running.append(f"the VM lease cannot be read ({exc})")
    return ReinitFacts(host, md.global_maintenance(reads), garbage, tuple(running), sector, io_timeout)


def check_reinit(facts: ReinitFacts) -> ValidationReport:
    report = ValidationReport("reinitialize-lockspace")
    # an unreadable slot 0 counts as global maintenance: every agent keeps still then (states.py)
    if facts.global_maintenance is False:
        report.error("global maintenance", "is off: the agents may act on the lockspace while it is rewritten",
                     "hcinode hosted-engine maintenance global, then re-run")
    for why in facts.engine_running:
        report.error("engine", why, "stop the engine VM (it must run nowhere while the lockspace is rewritten), "
                     "or wait until sanlock declares a dead holder dead, then re-run")
    return report


def reinit_plan(facts: ReinitFacts) -> Plan:
    host, paths = facts.host, facts.host.paths
    steps: list[Step] = [
        # this host's agent would ask for its host id again between the leave and the rewrite
        agent_stop_step(),
        leave_step(paths, host.host_id),
        Step(f"Rewrite the sanlock lockspace {layout.LOCKSPACE_NAME} (every host id free)",
             action="hosted_engine.lockspace.init_lockspace",
             params={"path": paths.lockspace, "sector": facts.sector, "io_timeout": facts.io_timeout}),
        join_step(paths, host.host_id, facts.io_timeout),
    ]
    for number in facts.garbage:
        if number == layout.GLOBAL_SLOT:
            # not cleared: an empty slot 0 would end global maintenance; the admin ends it with `none`
            steps.append(Step("Rewrite the global metadata slot 0 (global maintenance on)",
                              action="hosted_engine.write_global", params={"on": True}))
        else:
            steps.append(Step(f"Clear the garbage metadata slot {number}", action="hosted_engine.clear_slot",
                              params={"path": paths.metadata, "slot": number}))
    steps.append(agent_start_step())
    return Plan(f"reinitialize the lockspace of hosted engine {host.deployment}", tuple(steps),
                {"lockspace": paths.lockspace, "garbage slots": list(facts.garbage) or "none"})


def verify_reinit(facts: ReinitFacts, joined: Joined | None = None) -> ValidationReport:
    report = ValidationReport("reinitialize-lockspace")
    reads = _metadata(facts.host.paths.metadata).read_all(facts.host.deployment)
    bad = [r.number for r in reads if r.status in ("corrupt", "foreign")]
    if bad:
        report.error("metadata", f"slots {bad} still do not decode")
    if not (joined or holds_host_id)(facts.host):
        report.error("lockspace", f"host id {facts.host.host_id} is not held after the rewrite")
    return report


def reinit_actions(host: HostConfig) -> dict[str, Action]:
    from hosted_engine.deploy import lockspace_actions
    from hosted_engine.hosts import clear_slot

    return {"hosted_engine.clear_slot": clear_slot, **lockspace_actions(),
            "hosted_engine.write_global": lambda _runner, p: write_global(host, bool(p["on"]))}
