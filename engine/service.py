"""What the engine does, over one database session: tokens, join, heartbeat, commands, renewal, host
states and events. The API and the CLI both call these; nothing here knows HTTP."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from engine.ca import CA, Issued, utcnow
from engine.db import Command, Event, Host, Token
from nodecore import pki

TOKEN_ALPHABET = string.ascii_lowercase + string.digits
MAX_SANLOCK_ID = 250
# he_maintenance_*: the node agent runs `hcinode hosted-engine maintenance MODE`'s function
HE_MAINTENANCE_MODES = ("global", "local", "none")
COMMANDS = ("refresh", "maintenance_on", "maintenance_off", *(f"he_maintenance_{m}" for m in HE_MAINTENANCE_MODES))
EVENT_KINDS = ("joined", "non_responsive", "back", "cert_renewed", "maintenance", "activated", "removed",
               "hosted_engine_maintenance")
BAD_TOKEN = "the join token is unknown, expired or used up"


class ServiceError(Exception):
    """A refused request: `status` is the HTTP answer, the message is safe to show (no secret)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# ---- tokens -------------------------------------------------------------------------------------

def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(session: Session, ttl: dt.timedelta, uses: int) -> tuple[str, dt.datetime]:
    """A new `<id>.<secret>` token; only the id and the secret's SHA-256 are stored."""
    if uses < 1:
        raise ServiceError(422, "uses must be at least 1")
    if ttl.total_seconds() <= 0:
        raise ServiceError(422, "ttl must be positive")
    while True:
        token_id = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(6))
        if session.get(Token, token_id) is None:
            break
    secret = "".join(secrets.choice(TOKEN_ALPHABET) for _ in range(32))
    now = utcnow()
    expires = (now + ttl).replace(microsecond=0)
    session.add(Token(id=token_id, secret_sha256=secret_hash(secret), created_at=now, expires_at=expires,
                      uses_left=uses))
    return f"{token_id}.{secret}", expires


def redeem_token(session: Session, token: str) -> Token:
    """The token row with one use taken, or ServiceError 401 with one message for every reason
    (no oracle telling an unknown id from a wrong secret, an expired or a used-up token)."""
    try:
        token_id, secret = pki.split_token(token)
    except pki.PkiError:
        raise ServiceError(401, BAD_TOKEN) from None
    row = session.execute(sa.select(Token).where(Token.id == token_id).with_for_update()).scalar_one_or_none()
    stored = row.secret_sha256 if row is not None else "0" * 64
    good = hmac.compare_digest(stored, secret_hash(secret))  # compared even for an unknown id: same time
    if row is None or not good or row.expires_at <= utcnow() or row.uses_left < 1:
        raise ServiceError(401, BAD_TOKEN)
    row.uses_left -= 1
    return row


# ---- events -------------------------------------------------------------------------------------

def add_event(session: Session, kind: str, host: Any, detail: str = "") -> None:
    """`host`: a Host, a row with its id and name, or None."""
    assert kind in EVENT_KINDS, kind
    session.add(Event(at=utcnow(), kind=kind, host_id=host.id if host else None,
                      host_name=host.name if host else "", detail=detail))


# ---- join and renewal ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Joined:
    host: Host
    cert: Issued


def _free_sanlock_id(session: Session) -> int:
    used = set(session.scalars(sa.select(Host.sanlock_host_id).where(Host.status != "Removed")))
    for n in range(1, MAX_SANLOCK_ID + 1):
        if n not in used:
            return n
    raise ServiceError(409, f"the cluster already has {MAX_SANLOCK_ID} hosts (the sanlock host id limit)")


def _csr(pem: str) -> Any:
    try:
        return pki.check_csr(pem)
    except pki.PkiError as exc:
        raise ServiceError(422, str(exc)) from None


def join(session: Session, ca: CA, *, token: str, csr_pem: str, name: str, address: str,
         facts: dict[str, Any], replace: bool, cert_days: float) -> Joined:
    redeem_token(session, token)
    csr = _csr(csr_pem)
    old = session.scalars(sa.select(Host).where(Host.name == name, Host.status != "Removed")).one_or_none()
    if old is not None:
        if not replace:
            raise ServiceError(409, f"host {name} is already joined; remove it on the engine or join with --replace")
        remove_host(session, old, detail="replaced by a new join")
        session.flush()
    host_id = str(uuid.uuid4())
    issued = ca.host_cert(csr, host_id, cert_days)
    now = utcnow()
    host = Host(id=host_id, name=name, address=address, sanlock_host_id=_free_sanlock_id(session), status="Up",
                joined_at=now, last_heartbeat=None, cert_serial=issued.serial, cert_expires_at=issued.expires_at,
                cert_issued_at=now, agent_version="", facts=facts, ha=None)
    session.add(host)
    add_event(session, "joined", host, f"address {address}, sanlock host id {host.sanlock_host_id}")
    return Joined(host, issued)


def renew(session: Session, ca: CA, host: Host, csr_pem: str, cert_days: float) -> Issued:
    csr = _csr(csr_pem)
    issued = ca.host_cert(csr, host.id, cert_days)
    host.cert_serial, host.cert_expires_at, host.cert_issued_at = issued.serial, issued.expires_at, utcnow()
    add_event(session, "cert_renewed", host, f"valid until {issued.expires_at.isoformat()}")
    return issued


def needs_renewal(host: Any, now: dt.datetime | None = None) -> bool:
    """At two thirds of the certificate's life the agent renews."""
    now = now or utcnow()
    life = host.cert_expires_at - host.cert_issued_at
    return bool(now >= host.cert_issued_at + life * 2 / 3)


def authenticate_host(session: Session, cn: str, serial: str) -> Host:
    """The host a verified client certificate belongs to; 403 when the host is removed or the serial
    is not its current one (a renewed certificate retires the old serial at once)."""
    host: Host = _current(session.get(Host, cn), serial)
    return host


def _current(host: Any, serial: str) -> Any:
    """`host` (a Host or a row with its status and cert_serial) if that certificate is its current one."""
    if host is None or host.status == "Removed" or not hmac.compare_digest(host.cert_serial, serial):
        raise ServiceError(403, "this certificate does not belong to a joined host (removed, replaced or renewed)")
    return host


def _pending(host_id: Any) -> Any:
    return sa.select(Command).where(Command.host_id == host_id, Command.acked_at.is_(None))


# ---- heartbeat and commands ---------------------------------------------------------------------

HEARTBEAT_COLUMNS = (Host.id, Host.name, Host.status, Host.cert_serial, Host.cert_issued_at, Host.cert_expires_at)


def heartbeat_host(session: Session, cn: str, serial: str) -> tuple[Any, bool]:
    """authenticate_host for the heartbeat, and whether the host has commands pending, in one query
    of the few columns a heartbeat needs (a row, not an ORM object: the heartbeat is the hot path)."""
    row = session.execute(sa.select(*HEARTBEAT_COLUMNS, _pending(Host.id).exists().label("pending"))
                          .where(Host.id == cn)).one_or_none()
    host = _current(row, serial)
    return host, bool(host.pending)


def heartbeat(session: Session, host: Any, report: dict[str, Any], pending: bool = True) -> dict[str, Any]:
    """The host's row takes the report: one UPDATE of status, time, facts, and the VMs and volumes as
    JSON; then its pending commands (`pending`: whether there may be some, from heartbeat_host).
    `host` is heartbeat_host's row; `report` the validated Heartbeat (engine.api) as a dict."""
    now = utcnow()
    status = host.status
    values: dict[str, Any] = {
        "last_heartbeat": now, "agent_version": str(report.get("agent_version") or "")[:64],
        "facts": report.get("facts") or {}, "ha": report.get("ha"), "vms": list(report.get("vms") or []),
        "volumes": list((report.get("gluster") or {}).get("volumes") or [])}
    if status == "NonResponsive":
        status = values["status"] = "Up"
        add_event(session, "back", host)
    session.execute(sa.update(Host).where(Host.id == host.id).values(**values),
                    execution_options={"synchronize_session": False})
    commands = session.scalars(_pending(host.id).order_by(Command.id)).all() if pending else []
    return {"status": "Maintenance" if status == "Maintenance" else "Up",
            "commands": [{"id": c.id, "name": c.name} for c in commands], "renew": needs_renewal(host, now)}


def queue_command(session: Session, host: Host, name: str) -> Command:
    assert name in COMMANDS, name
    cmd = Command(host_id=host.id, name=name, created_at=utcnow(), acked_at=None, ok=None, detail="")
    session.add(cmd)
    return cmd


def ack_command(session: Session, host: Host, command_id: int, ok: bool, detail: str) -> None:
    cmd = session.get(Command, command_id)
    if cmd is None or cmd.host_id != host.id:  # another host's command is as unknown as a missing one
        raise ServiceError(404, f"command {command_id} is not pending for this host")
    if cmd.acked_at is None:
        cmd.acked_at, cmd.ok, cmd.detail = utcnow(), ok, detail[:2000]


# ---- admin actions ------------------------------------------------------------------------------

def get_host(session: Session, ref: str) -> Host:
    """A host by UUID or by name (the live one of that name)."""
    host = session.get(Host, ref) if len(ref) == 36 else None
    if host is None:
        host = session.scalars(sa.select(Host).where(Host.name == ref).order_by(
            (Host.status == "Removed").asc(), Host.joined_at.desc())).first()
    if host is None:
        raise ServiceError(404, f"no host {ref!r} (see `hcinode engine hosts list`)")
    return host


def remove_host(session: Session, host: Host, detail: str = "") -> None:
    if host.status == "Removed":
        return
    host.status, host.removed_at = "Removed", utcnow()
    host.vms, host.volumes = [], []
    session.execute(sa.delete(Command).where(Command.host_id == host.id))
    add_event(session, "removed", host, detail)


def set_maintenance(session: Session, host: Host) -> None:
    if host.status == "Removed":
        raise ServiceError(409, f"host {host.name} is removed")
    if host.status != "Maintenance":
        host.status = "Maintenance"
        queue_command(session, host, "maintenance_on")
        add_event(session, "maintenance", host)


def queue_he_maintenance(session: Session, host: Host, mode: str) -> Command:
    """Hosted-engine maintenance `mode` for this host's HA agent: a command its node agent runs on
    its next heartbeat (global maintenance is then written by that host for every host)."""
    if mode not in HE_MAINTENANCE_MODES:
        raise ServiceError(422, f"hosted-engine maintenance mode {mode!r}: one of {', '.join(HE_MAINTENANCE_MODES)}")
    if host.status == "Removed":
        raise ServiceError(409, f"host {host.name} is removed")
    cmd = queue_command(session, host, f"he_maintenance_{mode}")
    add_event(session, "hosted_engine_maintenance", host, f"{mode} requested")
    session.flush()
    return cmd


def ha_view(ha: dict[str, Any] | None) -> dict[str, Any] | None:
    """The HA fields the dashboard shows, from the heartbeat's `ha` (the HA agent's hosted-engine.json)."""
    if not ha:
        return None
    engine = ha.get("engine") or {}
    vm, health = str(engine.get("vm", "unknown")), str(engine.get("health", "unknown"))
    maintenance = "global" if ha.get("global_maintenance") else "local" if ha.get("local_maintenance") else "none"
    return {"score": ha.get("score"), "state": str(ha.get("state", "?")), "maintenance": maintenance,
            "engine": f"{vm}, {health}" if vm == "up" else vm, "stale": bool(ha.get("stale"))}


def activate(session: Session, host: Host, interval: float, missed: int) -> None:
    if host.status == "Removed":
        raise ServiceError(409, f"host {host.name} is removed")
    if host.status == "Maintenance":
        host.status = "Up" if _fresh(host, interval, missed) else "NonResponsive"
        queue_command(session, host, "maintenance_off")
        add_event(session, "activated", host)


def _fresh(host: Host, interval: float, missed: int, now: dt.datetime | None = None) -> bool:
    seen = host.last_heartbeat or host.joined_at
    return (now or utcnow()) - seen < dt.timedelta(seconds=interval * missed)


def mark_non_responsive(session: Session, interval: float, missed: int, now: dt.datetime | None = None,
                        listening_since: dt.datetime | None = None) -> list[str]:
    """Up hosts without a heartbeat for `missed` intervals become NonResponsive (names returned).
    Maintenance hosts stay in Maintenance: the admin took them out on purpose. Only intervals the
    engine was listening for count (`listening_since`: when this engine process started): while
    it was down no agent could reach it, so after a restart every agent gets `missed` intervals to
    come back before its host is called NonResponsive."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=interval * missed)
    if listening_since is not None and listening_since > cutoff:
        return []
    stale = session.scalars(sa.select(Host).where(Host.status == "Up", sa.func.coalesce(
        Host.last_heartbeat, Host.joined_at) < cutoff)).all()
    for host in stale:
        host.status = "NonResponsive"
        add_event(session, "non_responsive", host, f"no heartbeat for {interval * missed:g} s")
    return [h.name for h in stale]


# ---- read models (the API, the CLI and the dashboard show the same keys) ------------------------

def iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if value else None


def host_view(host: Host, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"id": host.id, "name": host.name, "address": host.address,
                            "sanlock_host_id": host.sanlock_host_id, "status": host.status,
                            "last_heartbeat": iso(host.last_heartbeat), "cert_expires_at": iso(host.cert_expires_at),
                            "joined_at": iso(host.joined_at), "agent_version": host.agent_version}
    if full:
        view.update(facts=host.facts, ha=host.ha, removed_at=iso(host.removed_at), cert_serial=host.cert_serial)
    return view


def list_hosts(session: Session, include_removed: bool = False, ha: bool = False) -> list[dict[str, Any]]:
    """`ha`: with each host's hosted-engine HA fields (`hosted_engine`, ha_view) for the dashboard."""
    q = sa.select(Host).order_by(Host.name)
    if not include_removed:
        q = q.where(Host.status != "Removed")
    return [{**host_view(h), **({"hosted_engine": ha_view(h.ha)} if ha else {})} for h in session.scalars(q)]


def _inventory(session: Session, column: Any) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(host id, host name, that host's reported list) for every host that is not removed."""
    rows = session.execute(sa.select(Host.id, Host.name, column).where(Host.status != "Removed"))
    return [(str(row[0]), str(row[1]), list(row[2] or [])) for row in rows]


def list_vms(session: Session) -> list[dict[str, Any]]:
    vms = [{"host_id": host_id, "host": name, "name": vm["name"], "uuid": vm["uuid"], "state": vm["state"],
            "vcpus": vm.get("vcpus", 0), "memory_kib": vm.get("memory_kib", 0), "cpu_time_ns": vm.get("cpu_time_ns", 0),
            "disks": vm.get("disks") or [], "nics": vm.get("nics") or []}
           for host_id, name, items in _inventory(session, Host.vms) for vm in items]
    return sorted(vms, key=lambda v: (v["host"], v["name"]))


def list_volumes(session: Session) -> list[dict[str, Any]]:
    volumes = [{"name": v["name"], "reported_by": name, "host_id": host_id, "status": v["status"],
                "heal_pending": v.get("heal_pending", 0),
                "bricks": [{"host": b["host"], "path": b["path"], "online": b["online"]}
                           for b in v.get("bricks") or []]}
               for host_id, name, items in _inventory(session, Host.volumes) for v in items]
    return sorted(volumes, key=lambda v: (v["name"], v["reported_by"]))


def list_events(session: Session, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(Event).order_by(Event.id.desc()).limit(limit))
    return [{"id": e.id, "at": iso(e.at), "kind": e.kind, "host_id": e.host_id, "host": e.host_name,
             "detail": e.detail} for e in rows]
