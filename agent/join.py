"""`hcinode join` and `hcinode leave` (docs/cluster.md "Join"): the node side of the trust bootstrap.

    validate (offline: URL, pin, token form, expiry, not joined yet)
      -> discover: GET /api/v1/ca unverified, compare its pin; nothing secret has been sent yet
      -> register: key (in memory) + CSR, POST /api/v1/join verified against that CA only
      -> plan (pure: the engine's answer -> files + the agent unit) -> apply -> verify (read back)

Every refusal before the plan (a bad join string, an unreachable engine, another CA, a token the
engine refuses, a name already joined) is InvalidInput: exit 2, one line, nothing written. The
node's key exists only in memory until the engine said 201, then only in node.key (0600).
The engine's answer is the plan's input, which is why registering comes before planning: the POST
changes the engine, not this node.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.state import AGENT_UNIT, ClusterFiles, EngineRecord, default_state_dir
from agent.status import join_status_path, now_iso, write_json
from agent.transport import RequestsTransport, Response, Transport, Unreachable
from nodecore import pipeline, pki
from nodecore.errors import HcinodeError, InvalidInput
from nodecore.executor import Action, ExecutionResult, ProgressCallback
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner
from nodecore.secrets import Secret

log = logging.getLogger("hcinode.agent")

CA_PATH = "/api/v1/ca"
JOIN_PATH = "/api/v1/join"
SOURCE = "join"


@dataclass(frozen=True)
class JoinRequest:
    urls: tuple[str, ...]
    ca_pin: str
    token: Secret
    expires_at: str = ""
    replace: bool = False
    state_dir: str = field(default_factory=default_state_dir)
    start: bool = True  # enable and start hcinode-agent.service after writing the state

    @property
    def files(self) -> ClusterFiles:
        return ClusterFiles(self.state_dir)


@dataclass(frozen=True)
class Discovery:
    url: str  # the engine URL that answered
    ca_pem: str
    pin: str  # the pin computed from what it presented (== the request's)


@dataclass(frozen=True)
class Registration:
    url: str
    host_id: str
    name: str
    sanlock_host_id: int
    certificate: str
    ca_pem: str
    expires_at: str
    key_pem: Secret  # the node's private key (PEM): never shown, written 0600 only

    def record(self, request: JoinRequest) -> EngineRecord:
        urls = (self.url, *[u for u in request.urls if u != self.url])
        return EngineRecord(urls, request.ca_pin, self.host_id, self.name, self.sanlock_host_id)


@dataclass(frozen=True)
class JoinResult:
    discovery: Discovery
    registration: Registration
    execution: ExecutionResult


def _one(field_name: str, message: str, hint: str = "") -> InvalidInput:
    report = ValidationReport(SOURCE)
    report.error(field_name, message, hint)
    return InvalidInput(report)


# --- input -----------------------------------------------------------------------------------------

def request_from_join_string(text: str | Secret, **options: Any) -> JoinRequest:
    """A request from one pasted join string; InvalidInput when it is malformed."""
    raw = text.reveal() if isinstance(text, Secret) else text
    Secret(raw.strip())  # the whole string carries the token: mask it wherever it might be printed
    try:
        info = pki.JoinString.decode(raw)
    except pki.PkiError as exc:
        raise _one("join string", str(exc)) from None
    return JoinRequest(info.urls, info.ca_pin, Secret(info.token), info.expires_at, **options)


def request_from_parts(engine_url: str, token: str | Secret, ca_pin: str, **options: Any) -> JoinRequest:
    """A request from --engine/--token/--ca-pin (or the kickstart's keys); checked by validate()."""
    secret = token if isinstance(token, Secret) else Secret(token.strip())
    try:
        pin = pki.normalize_pin(ca_pin)
    except pki.PkiError:
        pin = ca_pin.strip()  # validate() names the problem with every other one
    return JoinRequest((engine_url.strip().rstrip("/"),), pin, secret, **options)


def validate(request: JoinRequest, now: dt.datetime | None = None) -> ValidationReport:
    """Offline checks, all at once."""
    report = ValidationReport(SOURCE)
    for i, url in enumerate(request.urls):
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            report.error("engine" if len(request.urls) == 1 else f"urls[{i}]",
                         f"{url!r} is not an https:// URL", "the engine's URL, e.g. https://engine.example:8443")
    try:
        pki.normalize_pin(request.ca_pin)
    except pki.PkiError as exc:
        report.error("ca-pin", str(exc), "`hcinode engine token create` prints it")
    try:
        pki.split_token(request.token.reveal())
    except pki.PkiError as exc:
        report.error("token", str(exc), "make one on the engine: hcinode engine token create")
    if request.expires_at and _expired(request.expires_at, now):
        report.error("join string", f"the join token expired at {request.expires_at}",
                     "make a new one on the engine: hcinode engine token create")
    if request.files.joined() and not request.replace:
        try:
            record = EngineRecord.load(request.files)
            where = f"{record.urls[0]} as {record.name}"
        except (OSError, ValueError, KeyError):
            where = f"an engine ({request.files.engine})"
        report.error("state-dir", f"this node has already joined {where}",
                     "run `hcinode leave` first, or join with --replace")
    return report


def _expired(expires_at: str, now: dt.datetime | None) -> bool:
    try:
        return pki.parse_time(expires_at) <= (now or dt.datetime.now(dt.UTC))
    except ValueError:
        return False  # the engine checks the expiry itself


# --- talking to the engine ------------------------------------------------------------------------

def discover(request: JoinRequest, transport: Transport) -> Discovery:
    """The engine's CA, fetched without verification and accepted only if its pin matches."""
    failures = []
    for url in request.urls:
        try:
            answer = transport.request("GET", url.rstrip("/") + CA_PATH, ca_pem=None)
        except Unreachable as exc:
            failures.append(str(exc))
            continue
        ca_pem = answer.body.get("ca") if answer.status == 200 else None
        if not isinstance(ca_pem, str):
            failures.append(f"{url} answered {answer.status} without a CA: is it an hcinode engine?")
            continue
        try:
            pin = pki.ca_pin(ca_pem)
        except ValueError:
            failures.append(f"{url} sent a CA that is not a certificate: is it an hcinode engine?")
            continue
        if pin != request.ca_pin:
            raise _one("ca-pin", f"the engine at {url} presents CA {pin}, not the pinned {request.ca_pin}",
                       "check the pin (and that this is your engine); nothing was sent to it")
        return Discovery(url.rstrip("/"), ca_pem, pin)
    raise _one("engine", "; ".join(failures) or "no engine URL", "check the URL, the network and that "
               "`hcinode engine serve` runs there")


REFUSALS = {401: "token", 409: "name", 422: "join request", 429: "engine"}


def management_address(url: str) -> str:
    """The local address this node uses to reach the engine (no packet is sent: a UDP connect)."""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname or "", parts.port or 443, type=socket.SOCK_DGRAM)
        family, _, _, _, sockaddr = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(sockaddr)
            return str(s.getsockname()[0])
    except (OSError, IndexError):
        return ""


def register(request: JoinRequest, discovery: Discovery, transport: Transport,
             facts: Mapping[str, Any], name: str = "") -> Registration:
    """Make the key (in memory) and a CSR, send CSR + token + facts; the engine's 201 answer."""
    key = pki.make_key()
    name = name or socket.getfqdn() or str(facts.get("hostname", "node"))
    body = {"token": request.token.reveal(), "csr": pki.make_csr(key, name), "name": name,
            "address": management_address(discovery.url), "facts": dict(facts), "replace": request.replace}
    try:
        answer = transport.request("POST", discovery.url + JOIN_PATH, body=body, ca_pem=discovery.ca_pem)
    except Unreachable as exc:
        raise _one("engine", str(exc), "the CA matched, so this is the engine: retry when it answers") from None
    if answer.status != 201:
        what = REFUSALS.get(answer.status, "engine")
        detail = answer.detail or f"HTTP {answer.status}"
        hint = {401: "make a new token on the engine: hcinode engine token create",
                409: "remove the old host on the engine, or join with --replace",
                429: "too many join attempts from this address: wait a minute"}.get(answer.status, "")
        if answer.status >= 500:
            raise HcinodeError(f"the engine at {discovery.url} failed the join: {detail}")
        raise _one(what, f"the engine refused the join: {detail}", hint)
    return _registration(answer, discovery, key)


def _registration(answer: Response, discovery: Discovery, key: Any) -> Registration:
    b = answer.body
    try:
        reg = Registration(discovery.url, str(b["host_id"]), str(b["name"]), int(b["sanlock_host_id"]),
                           str(b["certificate"]), str(b.get("ca") or discovery.ca_pem), str(b["expires_at"]),
                           Secret(pki.key_pem(key).decode()))
    except (KeyError, TypeError, ValueError) as exc:
        raise HcinodeError(f"the engine's join answer lacks {exc}: engine and node versions differ?") from None
    if pki.ca_pin(reg.ca_pem) != discovery.pin:
        raise HcinodeError("the engine's join answer carries another CA than it presented; refusing it")
    if not pki.cert_matches_key(reg.certificate, key) or not pki.issued_by(reg.certificate, reg.ca_pem):
        raise HcinodeError("the engine's certificate is not for this node's key or not from its CA")
    return reg


# --- the plan -------------------------------------------------------------------------------------

def plan_join(request: JoinRequest, reg: Registration) -> Plan:
    files = request.files
    record = reg.record(request)
    steps = [
        Step(f"Write the node key (0600) and certificate to {files.dir}", action="write_identity",
             params={"dir": files.dir, "key_path": files.key, "cert_path": files.cert, "key": reg.key_pem,
                     "cert": reg.certificate}),
        Step(f"Write the cluster CA and {os.path.basename(files.engine)}", action="write_engine",
             params={"ca_path": files.ca, "ca": reg.ca_pem, "engine_path": files.engine,
                     "engine": record.to_dict()}),
    ]
    if request.start:
        steps.append(Step(f"Enable and start {AGENT_UNIT}", argv=("systemctl", "enable", "--now", AGENT_UNIT)))
    return Plan(f"Join {reg.url} as {reg.name}", tuple(steps),
                summary={"engine": reg.url, "ca_pin": request.ca_pin, "host_id": reg.host_id,
                         "sanlock_host_id": reg.sanlock_host_id, "certificate until": reg.expires_at})


def _reveal(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def write_identity(runner: Runner, p: Mapping[str, Any]) -> None:
    os.makedirs(p["dir"], mode=0o755, exist_ok=True)
    runner.write_file(p["key_path"], _reveal(p["key"]), mode=0o600)
    runner.write_file(p["cert_path"], p["cert"], mode=0o644)


def write_engine(runner: Runner, p: Mapping[str, Any]) -> None:
    runner.write_file(p["ca_path"], p["ca"], mode=0o644)
    runner.write_file(p["engine_path"], json.dumps(dict(p["engine"]), indent=2) + "\n", mode=0o644)


ACTIONS: dict[str, Action] = {"write_identity": write_identity, "write_engine": write_engine}


def verify_files(files: ClusterFiles, ca_pin: str) -> ValidationReport:
    """Read the state back: key 0600 and matching the certificate, issued by the pinned CA."""
    report = ValidationReport("cluster state")
    try:
        if os.stat(files.key).st_mode & 0o077:
            report.error(files.key, "the node key is readable by others", "chmod 600 it")
        with open(files.key, "rb") as f:
            key = pki.load_key(f.read())
        with open(files.cert, "rb") as f:
            cert = f.read()
        with open(files.ca, "rb") as f:
            ca = f.read()
        EngineRecord.load(files)
    except (OSError, ValueError, KeyError) as exc:
        report.error(files.dir, f"cannot read the cluster state back: {exc}")
        return report
    if not pki.cert_matches_key(cert, key):
        report.error(files.cert, "the certificate is not for node.key")
    if not pki.issued_by(cert, ca):
        report.error(files.cert, "the certificate is not issued by ca.crt")
    if pki.ca_pin(ca) != ca_pin:
        report.error(files.ca, "ca.crt does not have the pinned CA's key")
    return report


# --- the whole operation (CLI and console) ---------------------------------------------------------

def join(request: JoinRequest, *, transport: Transport | None = None, runner: Runner | None = None,
         facts: Mapping[str, Any] | None = None, progress: ProgressCallback | None = None,
         log_path: str | None = None, on_discovered: Callable[[Discovery], None] | None = None,
         name: str = "") -> JoinResult:
    """validate -> discover (pin) -> register -> plan -> apply -> verify. Raises InvalidInput
    (nothing written) or HcinodeError."""
    validate(request).raise_if_errors()
    transport = transport or RequestsTransport()
    discovery = discover(request, transport)
    log.info("join: the engine at %s presents the pinned CA %s", discovery.url, discovery.pin)
    if on_discovered is not None:
        on_discovered(discovery)
    if facts is None:
        from agent.collect import facts_summary
        from nodecore.facts import collect

        facts = facts_summary(collect())
    reg = register(request, discovery, transport, facts, name)
    log.info("join: joined %s as %s (host %s, sanlock host id %d)", reg.url, reg.name, reg.host_id,
             reg.sanlock_host_id)
    plan = plan_join(request, reg)
    result = pipeline.apply(plan, runner or LocalRunner(), name="join", actions=ACTIONS, progress=progress,
                            log_path=log_path, journal=False,
                            verify=lambda _plan: verify_files(request.files, request.ca_pin))
    return JoinResult(discovery, reg, result)


TRANSIENT_FIELDS = ("engine",)  # unreachable, rate limited, failing: worth retrying unattended


def join_with_retries(request: JoinRequest, *, retry_for: float, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic, status_path: str | None = None,
                      **kwargs: Any) -> JoinResult:
    """join(), retrying transient failures with backoff (1, 2, 4 .. 60 s) for `retry_for` seconds;
    each attempt's outcome goes to the join status file the console reads."""
    from agent.daemon import backoff

    path = status_path or join_status_path()
    url = request.urls[0] if request.urls else ""
    deadline = clock() + retry_for
    attempt = 0
    while True:
        try:
            result = join(request, **kwargs)
        except InvalidInput as exc:
            fields = {p.field for p in exc.report.errors}
            transient = fields <= set(TRANSIENT_FIELDS)
            message = "; ".join(p.message for p in exc.report.errors)
            if not transient or clock() >= deadline:
                write_json(path, {"state": "failed", "engine_url": url, "error": message, "at": now_iso()})
                raise
        except HcinodeError as exc:
            message = str(exc).splitlines()[0]
            if clock() >= deadline:
                write_json(path, {"state": "failed", "engine_url": url, "error": message, "at": now_iso()})
                raise
        else:
            write_json(path, {"state": "joined", "engine_url": result.registration.url,
                              "name": result.registration.name, "at": now_iso()})
            return result
        delay = backoff(attempt)
        attempt += 1
        log.warning("join: attempt %d failed (%s); retrying in %d s", attempt, message, delay)
        write_json(path, {"state": "retrying", "engine_url": url, "error": message, "at": now_iso(),
                          "attempt": attempt})
        sleep(delay)


# --- the first-boot join file (written by the installer from %hcinode) ------------------------------

FIRSTBOOT_FILE = "firstboot-join.json"  # in the state dir, 0600: it holds the token


def firstboot_path(state_dir: str | None = None) -> str:
    return os.path.join(state_dir or default_state_dir(), FIRSTBOOT_FILE)


def firstboot_content(engine_url: str, ca_pin: str, token: Secret, join_string: str = "") -> Secret:
    """The file's text (a Secret: it is the token)."""
    data = {"join": join_string} if join_string else {"engine_url": engine_url, "ca_pin": ca_pin,
                                                       "token": token.reveal()}
    return Secret(json.dumps(data, indent=2) + "\n")


def request_from_file(path: str, **options: Any) -> JoinRequest:
    """A request from a first-boot join file (JSON) or a file holding one join string."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise _one("from-file", f"cannot read {path}: {exc.strerror}") from None
    Secret(text.strip())
    if text.strip().startswith(pki.JOIN_PREFIX):
        return request_from_join_string(text, **options)
    try:
        data = json.loads(text)
        if data.get("join"):
            return request_from_join_string(str(data["join"]), **options)
        return request_from_parts(str(data["engine_url"]), Secret(str(data["token"])), str(data["ca_pin"]),
                                  **options)
    except (ValueError, KeyError, AttributeError):
        raise _one("from-file", f"{path} is neither a join string nor JSON with engine_url, ca_pin and "
                   "token") from None


# --- leaving --------------------------------------------------------------------------------------

def plan_leave(files: ClusterFiles, stop: bool = True, agent_file: str = "") -> Plan:
    steps = []
    if stop:
        steps.append(Step(f"Stop and disable {AGENT_UNIT}", argv=("systemctl", "disable", "--now", AGENT_UNIT)))
    steps.append(Step(f"Remove the node key, certificates and engine.json from {files.dir}",
                      action="remove_cluster_state", params={"paths": [*files.all(), agent_file] if agent_file
                                                             else list(files.all())}))
    return Plan("Leave the cluster", tuple(steps), summary={"state": files.dir})


def remove_cluster_state(_runner: Runner, p: Mapping[str, Any]) -> None:
    for path in p["paths"]:
        if os.path.lexists(path):
            os.remove(path)


def leave(state_dir: str | None = None, *, stop: bool = True, runner: Runner | None = None,
          progress: ProgressCallback | None = None, log_path: str | None = None,
          agent_file: str = "") -> tuple[EngineRecord | None, ExecutionResult]:
    """Forget the cluster on this node (the engine keeps the host until it is removed there)."""
    files = ClusterFiles(state_dir or default_state_dir())
    if not files.joined() and not any(os.path.exists(p) for p in files.all()):
        raise _one("state-dir", f"this node has not joined a cluster (no {files.engine})")
    try:
        record: EngineRecord | None = EngineRecord.load(files)
    except (OSError, ValueError, KeyError):
        record = None
    plan = plan_leave(files, stop=stop, agent_file=agent_file)

    def gone(_plan: Plan) -> ValidationReport:
        report = ValidationReport("cluster state")
        for path in files.all():
            if os.path.exists(path):
                report.error(path, "still there")
        return report

    result = pipeline.apply(plan, runner or LocalRunner(), name="leave", journal=False, progress=progress,
                            log_path=log_path, actions={"remove_cluster_state": remove_cluster_state},
                            verify=gone)
    return record, result


def systemd_running() -> bool:
    """Whether systemd is PID 1 here (on the node: yes; on development machines and CI: no)."""
    return os.path.isdir("/run/systemd/system")
