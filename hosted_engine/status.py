"""`hcinode hosted-engine status`: every host's slot, as oVirt's `hosted-engine --vm-status` shows it.

Read from the shared metadata file, so it needs no daemon.

Up-to-date or stale: a slot is stale when its sequence did not change within STALE_AFTER (60) s
as seen by one observer. A one-shot command cannot watch a sequence for 60 s, so it borrows the
eyes of this host's HA agent: the agent's run-state file (/run/hcinode/hosted-engine.json, when
it was written within AGENT_FRESH s) says, per peer, whether its sequence changed within the
window of the agent's own monotonic clock and how long ago (`changed_ago`). That is the same
judgement the agent acts on, so `status` and the agent never disagree. Reading the file twice a
minute apart would make every `status` take a minute; so without a running agent here the
command falls back to the writer's wall-clock timestamp against ours (`liveness_source` says
"wall clock": clocks may differ, which is why the agent never uses this).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from agent.status import read_json
from hosted_engine import metadata as md
from hosted_engine.ha_agent import INTERVAL, status_path
from hosted_engine.states import ALIVE_WINDOW

STALE_AFTER = ALIVE_WINDOW
AGENT_FRESH = 3 * INTERVAL  # hosted-engine.json older than this: our own agent is not running


@dataclass(frozen=True)
class HostRow:
    host_id: int
    hostname: str
    engine_status: dict[str, str]  # {"vm": up/down/unknown, "health": good/bad/unknown, "detail": ...}
    score: int
    state: str
    stopped: bool
    local_maintenance: bool
    timestamp: str  # the writer's wall clock, UTC
    up_to_date: bool
    problem: str = ""  # "corrupt: ..." for a slot that did not decode
    sequence: int = 0
    changed_ago: float | None = None  # s since our agent saw the sequence change (None: not from the agent)
    unix_timestamp: float = 0.0
    penalties: dict[str, int] | None = None  # this host's own row only (from its agent): why below 3400

    @property
    def stale(self) -> bool:
        return not self.up_to_date


@dataclass(frozen=True)
class Status:
    global_maintenance: bool | None
    liveness_source: str  # "agent" or "wall clock"
    hosts: tuple[HostRow, ...]

    agent_problems: tuple[str, ...] = ()  # what this host's agent says is wrong (garbage slots, lockspace)

    def to_dict(self) -> dict[str, Any]:
        return {"global_maintenance": self.global_maintenance, "liveness_source": self.liveness_source,
                "agent_problems": list(self.agent_problems),
                "hosts": [{**asdict(h), "stale": h.stale,
                           "maintenance": "local" if h.local_maintenance else
                           ("global" if self.global_maintenance else "none")} for h in self.hosts]}


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def collect(metadata_path: str, deployment: str | None = None, *, my_host_id: int | None = None,
            agent_file: str | None = None, wall: Callable[[], float] = time.time,
            allow_buffered: bool = False, metadata: Callable[[str], md.MetadataFile] | None = None) -> Status:
    meta = metadata(metadata_path) if metadata else md.MetadataFile(metadata_path, allow_buffered=allow_buffered)
    reads = meta.read_all(deployment)
    agent = read_json(agent_file or status_path())
    alive_by_agent: dict[int, bool] | None = None
    changed_ago: dict[int, float | None] = {}
    problems: list[str] = []
    my_penalties: dict[str, int] | None = None
    if agent is not None:
        try:
            age = wall() - os.stat(agent_file or status_path()).st_mtime
        except OSError:
            age = AGENT_FRESH + 1
        if age <= AGENT_FRESH:
            alive_by_agent = {int(h["host_id"]): bool(h["alive"]) for h in agent.get("hosts", [])}
            changed_ago = {int(h["host_id"]): h.get("changed_ago") for h in agent.get("hosts", [])}
            if my_host_id is not None:
                alive_by_agent[my_host_id] = True
            problems = [f"metadata slot {p.get('slot')} is {p.get('status')}: {p.get('error')}"
                        for p in agent.get("metadata_problems") or []]
            if agent.get("lockspace_problem"):
                problems.append(f"lockspace: {agent['lockspace_problem']}")
            my_penalties = {str(k): int(v) for k, v in (agent.get("penalties") or {}).items()}
    rows = []
    for r in reads[1:]:
        if r.status == "empty":
            continue
        if r.status != "ok" or not isinstance(r.slot, md.HostSlot):
            rows.append(HostRow(r.number, "?", {"vm": "unknown", "health": "unknown", "detail": "unknown"}, 0, "?",
                                False, False, "", False, problem=f"{r.status}: {r.error}"))
            continue
        s = r.slot
        if alive_by_agent is not None and s.host_id in alive_by_agent:
            fresh = alive_by_agent[s.host_id]
        else:
            fresh = wall() - s.timestamp <= STALE_AFTER
        detail = {"up": "Up", "down": "Down"}.get(s.engine_vm, "unknown")
        rows.append(HostRow(s.host_id, s.hostname, {"vm": s.engine_vm, "health": s.engine_health, "detail": detail},
                            s.score, s.state, s.stopped, s.local_maintenance, _when(s.timestamp),
                            fresh and not s.stopped, sequence=s.sequence, changed_ago=changed_ago.get(s.host_id),
                            unix_timestamp=s.timestamp,
                            penalties=my_penalties if s.host_id == my_host_id else None))
    return Status(md.global_maintenance(reads), "agent" if alive_by_agent is not None else "wall clock",
                  tuple(rows), tuple(problems))


def render_text(status: Status) -> str:
    lines = []
    for h in status.hosts:
        lines += ["", f"--== Host {h.hostname} (id: {h.host_id}) status ==--", ""]
        if h.problem:
            lines.append(f"{'Metadata':34s} : {h.problem} (not used by any agent)")
            continue
        stale = "" if h.up_to_date else " (stale)"
        lines += [f"{'Host ID':34s} : {h.host_id}", f"{'Hostname':34s} : {h.hostname}",
                  f"{'Engine status':34s} : {json.dumps(h.engine_status, sort_keys=True)}",
                  f"{'Score':34s} : {h.score}"]
        if h.penalties is not None:
            lines.append(f"{'Score penalties':34s} : "
                         + (", ".join(f"{name} -{points}" for name, points in sorted(h.penalties.items())) or "none"))
        lines += [f"{'stopped':34s} : {h.stopped}",
                  f"{'Local maintenance':34s} : {h.local_maintenance}", f"{'State':34s} : {h.state}",
                  f"{'Host timestamp':34s} : {h.timestamp}{stale}",
                  f"{'Metadata sequence':34s} : {h.sequence}"
                  + (f" (changed {h.changed_ago:.0f} s ago)" if h.changed_ago is not None else ""),
                  f"{'Status up-to-date':34s} : {h.up_to_date}"]
    if not status.hosts:
        lines.append("no host has written its metadata slot yet")
    words = {True: "ENABLED", False: "disabled", None: "UNKNOWN (the global slot is unreadable)"}
    gm = words[status.global_maintenance]
    lines += ["", f"Global maintenance: {gm}", f"(up-to-date judged by: {status.liveness_source})"]
    lines += [f"Agent here says: {p} (not acted on)" for p in status.agent_problems]
    return "\n".join(lines).lstrip("\n")
