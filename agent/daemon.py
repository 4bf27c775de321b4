"""`hcinode agent`: the heartbeat loop (docs/cluster.md "Agent to engine").

Every `interval` seconds (10) one heartbeat over mutual TLS: facts, libvirt domains, Gluster state,
HA state (the hosted-engine HA agent's hosted-engine.json; None where none runs). The answer carries
the engine's view of this host (Up/Maintenance), commands (acked one by one) and whether to renew the certificate. A
failed heartbeat is retried with backoff 1, 2, 4 .. 60 s; the loop never exits on its own. The
interval is the period from one heartbeat's start to the next (collecting Gluster and host facts takes
seconds, and the engine counts missed intervals by the clock), not a pause after each one. The
certificate is renewed at two thirds of its life (or when the engine asks). After every attempt
agent.json is rewritten for the console.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent import collect
from agent.state import ClusterFiles, EngineRecord
from agent.status import agent_path, write_json
from agent.transport import RequestsTransport, Response, Transport, Unreachable
from nodecore import __version__, pki
from nodecore.errors import HcinodeError
from nodecore.runner import LocalRunner

log = logging.getLogger("hcinode.agent")

INTERVAL = 10.0
BACKOFF_MAX = 60
HEARTBEAT_PATH = "/api/v1/agent/heartbeat"
RENEW_PATH = "/api/v1/agent/renew"
HE_MAINTENANCE = "he_maintenance_"  # + global / local / none: hosted_engine.maintenance.set_maintenance
COMMANDS = ("refresh", "maintenance_on", "maintenance_off", *(HE_MAINTENANCE + m for m in ("global", "local", "none")))


def backoff(attempt: int) -> int:
    """Seconds to wait after the `attempt`-th consecutive failure (0-based): 1, 2, 4 .. 60."""
    return int(min(BACKOFF_MAX, 2 ** min(attempt, 6)))


@dataclass
class Collectors:
    """What goes into a heartbeat; tests pass fakes."""

    facts: Callable[[], dict[str, Any]]
    vms: Callable[[], tuple[list[dict[str, Any]], str]] = collect.vms
    gluster: Callable[[], tuple[dict[str, Any], str]] = collect.gluster
    ha: Callable[[], dict[str, Any] | None] = collect.ha


def default_collectors() -> Collectors:
    from nodecore.facts import collect as host_facts

    return Collectors(facts=lambda: collect.facts_summary(host_facts(collect.probe_runner())))


def set_he_maintenance(mode: str) -> str:
    """`hcinode hosted-engine maintenance MODE` on this host (the same function), for an engine command."""
    from hosted_engine.maintenance import set_maintenance

    return set_maintenance(mode).message


@dataclass
class Outcome:
    ok: bool
    status: str  # the engine's answer, or "unreachable"
    refresh: bool = False  # a refresh command came: send the next heartbeat at once
    error: str = ""


@dataclass
class Agent:
    files: ClusterFiles
    transport: Transport = field(default_factory=RequestsTransport)
    collectors: Collectors = field(default_factory=default_collectors)
    status_file: str = field(default_factory=agent_path)
    interval: float = INTERVAL
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    clock: Callable[[], float] = time.monotonic  # measures how long a beat took
    last_heartbeat: str | None = None
    last_status: str = ""
    set_he_maintenance: Callable[[str], str] = field(default_factory=lambda: set_he_maintenance)

    def __post_init__(self) -> None:
        self.record = EngineRecord.load(self.files)
        self.url_index = 0

    @property
    def url(self) -> str:
        return self.record.urls[self.url_index % len(self.record.urls)]

    def _ca(self) -> str:
        with open(self.files.ca, encoding="utf-8") as f:
            return f.read()

    def _post(self, path: str, body: Mapping[str, Any]) -> Response:
        return self.transport.request("POST", self.url + path, body=body, ca_pem=self._ca(),
                                      client=(self.files.cert, self.files.key))

    def certificate(self) -> Any:
        with open(self.files.cert, "rb") as f:
            return pki.load_certificate(f.read())

    def heartbeat_body(self) -> tuple[dict[str, Any], dict[str, Any]]:
        vms, vm_note = self.collectors.vms()
        gluster, gluster_note = self.collectors.gluster()
        facts = dict(self.collectors.facts())
        facts["notes"] = [n for n in (vm_note, gluster_note) if n]
        body = {"agent_version": __version__, "facts": facts, "vms": vms, "gluster": gluster,
                "ha": self.collectors.ha()}
        return body, gluster

    def beat(self) -> Outcome:
        """One heartbeat, its commands and (when due) the renewal; then agent.json."""
        body, gluster = self.heartbeat_body()
        try:
            answer = self._post(HEARTBEAT_PATH, body)
        except Unreachable as exc:
            if len(self.record.urls) > 1:
                self.url_index += 1  # try the engine's next address next time
            return self._write(Outcome(False, "unreachable", error=str(exc)), gluster)
        if answer.status != 200:
            error = f"the engine answered {answer.status}: {answer.detail or 'no detail'}"
            if answer.status in (401, 403):
                error += " (was this host removed on the engine? then join again)"
            return self._write(Outcome(False, "unreachable", error=error), gluster)
        self.last_heartbeat = pki.format_time(self.now())
        status = str(answer.body.get("status") or "Up")
        refresh = self.run_commands(answer.body.get("commands") or [])
        error = ""
        if answer.body.get("renew") or self.now() >= pki.renew_at(self.certificate()):
            error = self.renew()
        return self._write(Outcome(True, status, refresh=refresh, error=error), gluster)

    def run_commands(self, commands: list[Any]) -> bool:
        refresh = False
        for command in commands:
            name, cid = str(command.get("name", "")), command.get("id")
            if name == "refresh":
                ok, detail, refresh = True, "a heartbeat follows at once", True
            elif name in ("maintenance_on", "maintenance_off"):
                ok, detail = True, f"{name.replace('_', ' ')}: the engine's state for this host"
            elif name in COMMANDS and name.startswith(HE_MAINTENANCE):
                ok, detail = self.he_maintenance(name[len(HE_MAINTENANCE):])
            else:
                ok, detail = False, f"unknown command {name!r} (agent {__version__})"
            log.info("command %s (%s): %s", name, cid, detail)
            try:
                self._post(f"/api/v1/agent/commands/{cid}/ack", {"ok": ok, "detail": detail})
            except Unreachable as exc:
                log.warning("ack of command %s failed: %s", cid, exc)
        return refresh

    def he_maintenance(self, mode: str) -> tuple[bool, str]:
        """The engine's hosted-engine maintenance command: the CLI's function; a refusal is the ack."""
        try:
            return True, self.set_he_maintenance(mode)
        except HcinodeError as exc:
            return False, str(exc)

    def renew(self) -> str:
        """A new key and certificate (the old pair stays until the new one is on disk); '' or the error."""
        key = pki.make_key()
        try:
            answer = self._post(RENEW_PATH, {"csr": pki.make_csr(key, self.record.name)})
        except Unreachable as exc:
            return f"certificate renewal failed: {exc}"
        cert = answer.body.get("certificate")
        if answer.status != 200 or not isinstance(cert, str):
            return f"certificate renewal refused: {answer.status} {answer.detail}"
        if not pki.cert_matches_key(cert, key) or not pki.issued_by(cert, self._ca()):
            return "certificate renewal: the engine's certificate is not for the new key or not from the CA"
        # both new files complete on disk first, then the two renames: never a key without its certificate
        writer = LocalRunner()
        writer.write_file(self.files.key + ".new", pki.key_pem(key), 0o600)
        writer.write_file(self.files.cert + ".new", cert.encode(), 0o644)
        os.replace(self.files.key + ".new", self.files.key)
        os.replace(self.files.cert + ".new", self.files.cert)
        log.info("certificate renewed, valid until %s", answer.body.get("expires_at", "?"))
        return ""

    def _write(self, outcome: Outcome, gluster: Mapping[str, Any]) -> Outcome:
        if outcome.status != self.last_status:
            log.info("engine %s: %s%s", self.url, outcome.status, f" ({outcome.error})" if outcome.error else "")
            self.last_status = outcome.status
        try:
            expires = pki.format_time(pki.not_after(self.certificate()))
        except (OSError, ValueError):
            expires = ""
        write_json(self.status_file, {
            "engine_url": self.url, "host_id": self.record.host_id, "name": self.record.name,
            "status": outcome.status, "last_heartbeat": self.last_heartbeat, "last_error": outcome.error,
            "cert_expires_at": expires, "storage": collect.storage_summary(gluster)})
        return outcome

    def run(self, stop: threading.Event | None = None, once: bool = False,
            wait: Callable[[float], bool] | None = None) -> Outcome:
        """Beat until `stop` is set (or once). `wait(seconds)` sleeps and says whether to stop."""
        stop = stop or threading.Event()
        wait = wait or stop.wait
        failures = 0
        while True:
            started = self.clock()
            try:
                outcome = self.beat()
            except Exception as exc:  # noqa: BLE001 - a bug in one beat must not end the agent
                log.exception("heartbeat failed")
                outcome = Outcome(False, "unreachable", error=f"{type(exc).__name__}: {exc}")
            if once:
                return outcome
            if outcome.ok:
                failures = 0
                # the next beat is due one interval after this one started: a beat that took 3 s
                # of a 10 s interval leaves 7 s (a pause of 10 s would send every 13 s)
                delay = 0.0 if outcome.refresh else max(0.0, self.interval - (self.clock() - started))
            else:
                delay = backoff(failures)
                failures += 1
            if wait(delay) or stop.is_set():
                return outcome

