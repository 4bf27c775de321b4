"""/run/hcinode/agent.json (the agent's last heartbeat, for the console) and the first-boot join status.

Both live in the run dir: /run/hcinode, or $HCINODE_RUN_DIR (tests). Mode 0644, no secrets: the
console reads them as they are. The console's lines are made here, so the Status and Cluster pages
and `hcinode agent --once` say the same thing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from typing import Any

from nodecore.pki import format_time, parse_time

RUN_DIR = "/run/hcinode"
AGENT_FILE = "agent.json"
JOIN_FILE = "join.json"  # what the first-boot join did last: joined / retrying / failed
HA_FILE = "hosted-engine.json"  # the hosted-engine HA agent's last tick (hosted_engine.ha_agent writes it)
STALE_INTERVALS = 3  # the engine's NonResponsive rule, applied to our own file: the agent stopped


def run_dir() -> str:
    return os.environ.get("HCINODE_RUN_DIR") or RUN_DIR


def agent_path(directory: str | None = None) -> str:
    return os.path.join(directory or run_dir(), AGENT_FILE)


def join_status_path(directory: str | None = None) -> str:
    return os.path.join(directory or run_dir(), JOIN_FILE)


def ha_path(directory: str | None = None) -> str:
    return os.path.join(directory or run_dir(), HA_FILE)


def write_json(path: str, data: Mapping[str, Any]) -> None:
    """Atomically (a reader never sees half a file), 0644, and without a log line: the agent
    writes this every 10 s, so it does not go through LocalRunner.write_file, which logs each write."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(dict(data), f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_status(directory: str | None = None) -> dict[str, Any] | None:
    """agent.json plus `age_seconds` (how old the file is); None when there is none."""
    path = agent_path(directory)
    data = read_json(path)
    if data is None:
        return None
    try:
        data["age_seconds"] = max(0.0, dt.datetime.now(dt.UTC).timestamp() - os.stat(path).st_mtime)
    except OSError:
        data["age_seconds"] = 0.0
    return data


def _when(text: str | None) -> str:
    if not text:
        return "never"
    try:
        return parse_time(text).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(text)


def cluster_line(status: Mapping[str, Any] | None, join: Mapping[str, Any] | None = None,
                 interval: float = 10.0) -> str:
    """One line: the engine, Up/Maintenance/NonResponsive/unreachable, last heartbeat, cert expiry."""
    if status is None:
        if join and join.get("state") in ("failed", "retrying"):
            verb = "could not join" if join["state"] == "failed" else "joining, retrying"
            return f"{verb} {join.get('engine_url', '')}: {join.get('error', '')}".strip()
        return "not joined"
    state = str(status.get("status") or "unknown")
    if float(status.get("age_seconds") or 0) > STALE_INTERVALS * max(interval, 1.0):
        state = "NonResponsive (the agent is not running)"
    line = (f"{state} at {status.get('engine_url', '?')}, last heartbeat {_when(status.get('last_heartbeat'))}, "
            f"certificate until {_when(status.get('cert_expires_at'))}")
    if status.get("last_error") and status.get("status") not in ("Up", "Maintenance"):
        line += f" ({status['last_error']})"
    return line


def hosted_engine_line(ha: Mapping[str, Any] | None) -> str:
    """One line from the hosted-engine HA agent's hosted-engine.json (agent.collect.ha adds `stale`):
    this host's state and score, the engine VM as this host sees it, global maintenance."""
    if ha is None:
        return "not deployed on this host"
    engine = ha.get("engine") or {}
    vm, health = engine.get("vm", "unknown"), engine.get("health", "unknown")
    line = (f"{ha.get('state', '?')}, score {ha.get('score', '?')}, engine VM {vm}"
            + (f" (health {health})" if vm == "up" else " here"))
    if ha.get("global_maintenance"):
        line += ", global maintenance"
    if ha.get("stale"):
        line += f" (the HA agent is not running: last tick {_when(ha.get('updated_at'))})"
    return line


def storage_line(status: Mapping[str, Any] | None) -> str:
    """Volume health from the agent's last Gluster reading."""
    if status is None:
        return "not reported (no agent running)"
    volumes = (status.get("storage") or {}).get("volumes")
    if not volumes:
        return "no Gluster volumes"
    parts = []
    for v in volumes:
        text = f"{v.get('name')} {v.get('status')}"
        if v.get("heal_pending"):
            text += f", {v['heal_pending']} pending heal"
        parts.append(text)
    return "; ".join(parts)


def now_iso() -> str:
    return format_time(dt.datetime.now(dt.UTC))
