"""The engine's HTTPS API (FastAPI) and the read-only dashboard. The routes are in docs/cluster.md.

Who is calling is decided before anything else: admin routes depend on `require_admin` (HTTP Basic
with the admin credential, or the dashboard's session cookie), agent routes on `require_host`, which
reads the client certificate that the TLS layer verified (engine.server puts it into the ASGI scope
as the "tls" extension); no body field ever names a host.
"""


import asyncio
import base64
import contextlib
import datetime as dt
import logging
import os
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Literal, NamedTuple
from urllib.parse import parse_qs

import anyio.to_thread
import jinja2
import sqlalchemy as sa
from fastapi import Depends, FastAPI, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy.orm import Session, sessionmaker

from engine import service
from engine.auth import SESSION_COOKIE, SESSION_SECONDS, Admin, RateLimiter
from engine.ca import CA, cert_identity, utcnow
from engine.config import EngineConfig
from engine.db import Host
from engine.service import ServiceError

log = logging.getLogger("hcinode.engine")

WORKER_THREADS = 8  # requests that run at once (each holds a database connection while it runs)
MAX_DB_INT = 2**31 - 1
MAX_DB_BIGINT = 2**63 - 1
# every string the engine stores: bounded, and without NUL (PostgreSQL refuses NUL in text)
Name = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^[^\x00]+$")]
Text = Annotated[str, StringConstraints(max_length=255, pattern=r"^[^\x00]*$")]
Long = Annotated[str, StringConstraints(max_length=4096, pattern=r"^[^\x00]*$")]
Pem = Annotated[str, StringConstraints(max_length=20000)]
Int = Annotated[int, Field(ge=0, le=MAX_DB_INT)]
BigInt = Annotated[int, Field(ge=0, le=MAX_DB_BIGINT)]
Facts = dict[str, Any]


class JoinRequest(BaseModel):
    token: Annotated[str, StringConstraints(max_length=100)]
    csr: Pem
    name: Name
    address: Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00]*$")] = ""
    facts: Facts = {}
    replace: bool = False


class JoinResponse(BaseModel):
    host_id: str
    name: str
    sanlock_host_id: int
    certificate: str
    ca: str
    expires_at: str
    heartbeat_interval: float


class Counter(BaseModel):
    name: Text
    rd_bytes: BigInt = 0
    wr_bytes: BigInt = 0


class NicCounter(BaseModel):
    name: Text
    rx_bytes: BigInt = 0
    tx_bytes: BigInt = 0


class VmReport(BaseModel):
    name: Text
    uuid: Annotated[str, StringConstraints(max_length=36, pattern=r"^[^\x00]*$")]
    state: Annotated[str, StringConstraints(max_length=32, pattern=r"^[^\x00]*$")]
    vcpus: Int = 0
    memory_kib: BigInt = 0
    cpu_time_ns: BigInt = 0
    disks: list[Counter] = []
    nics: list[NicCounter] = []


class Peer(BaseModel):
    host: Name
    connected: bool


class BrickReport(BaseModel):
    host: Name
    path: Long
    online: bool


class VolumeReport(BaseModel):
    name: Text
    status: Annotated[str, StringConstraints(max_length=32, pattern=r"^[^\x00]*$")]
    bricks: list[BrickReport] = []
    heal_pending: Int = 0


class Gluster(BaseModel):
    peers: list[Peer] = []
    volumes: list[VolumeReport] = []


class Heartbeat(BaseModel):
    agent_version: Annotated[str, StringConstraints(max_length=64, pattern=r"^[^\x00]*$")] = ""
    facts: Facts = {}
    vms: list[VmReport] = []
    gluster: Gluster = Gluster()
    ha: Facts | None = None


class CommandOut(BaseModel):
    id: int
    name: str


class HeartbeatResponse(BaseModel):
    status: str
    commands: list[CommandOut]
    renew: bool


class HeMaintenance(BaseModel):
    mode: Literal["global", "local", "none"]


class Ack(BaseModel):
    ok: bool
    detail: Annotated[str, StringConstraints(max_length=2000, pattern=r"^[^\x00]*$")] = ""


class RenewRequest(BaseModel):
    csr: Pem


class RenewResponse(BaseModel):
    certificate: str
    expires_at: str


class TokenRequest(BaseModel):
    ttl_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 3600
    uses: Annotated[int, Field(ge=1, le=1000)] = 1


class TokenResponse(BaseModel):
    join: str
    engine_url: str
    ca_pin: str
    token: str
    expires_at: str


def token_view(config: EngineConfig, ca: CA, token: str, expires: dt.datetime) -> dict[str, str]:
    """The keys of `token create --json` and POST /api/v1/tokens (one shape)."""
    from nodecore.pki import JoinString

    expires_at = service.iso(expires) or ""
    join = JoinString(config.engine_urls, ca.pin, token, expires_at).encode()
    return {"join": join, "engine_url": config.engine_urls[0], "ca_pin": ca.pin, "token": token,
            "expires_at": expires_at}


class HostCert(NamedTuple):
    """Who a verified client certificate names: the host id (CN) and the certificate's serial."""

    cn: str
    serial: str


class _Unauthorized(Exception):
    def __init__(self, status: int, detail: str, basic: bool = False) -> None:
        self.status, self.detail, self.basic = status, detail, basic


def create_app(config: EngineConfig, ca: CA, sessions: sessionmaker[Session], admin: Admin,
               monitor: bool = True, heartbeat_sessions: sessionmaker[Session] | None = None) -> FastAPI:
    """`heartbeat_sessions`: the pool whose commits do not wait for the disk (engine.db.make_engine),
    for heartbeats only; `sessions` by default."""
    beat_sessions = heartbeat_sessions or sessions
    join_limiter = RateLimiter(config.join_rate_per_minute)
    login_limiter = RateLimiter(config.join_rate_per_minute)
    templates = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__),
                                                                               "templates")),
                                   autoescape=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # the sync routes run in anyio's thread pool (40 threads by default): with that many threads taking
        # turns at the GIL, 200 heartbeats a second cost 50% more CPU each and queued up (2,000 hosts, 2 cores)
        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        task = asyncio.create_task(_monitor()) if monitor else None
        yield
        if task:
            task.cancel()

    async def _monitor() -> None:
        period = max(0.2, config.heartbeat_interval / 4)
        while True:
            await asyncio.sleep(period)
            try:
                names = await run_in_threadpool(_mark)
                for name in names:
                    log.warning("host %s is NonResponsive", name)
            except Exception:  # a database hiccup must not end the monitor; /health reports it
                log.exception("host state check failed")

    listening_since = utcnow()  # the monitor counts only intervals this process listened for

    def _mark() -> list[str]:
        with sessions.begin() as s:
            return service.mark_non_responsive(s, config.heartbeat_interval, config.missed_intervals,
                                               listening_since=listening_since)

    app = FastAPI(title="hcinode engine", version="1", openapi_url="/api/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_request: Request, exc: _Unauthorized) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="hcinode-engine"'} if exc.basic else None
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # field names and messages only: a rejected value (a token, a CSR) is never echoed back
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"detail": problems}, status_code=422)

    @contextlib.contextmanager
    def db() -> Iterator[Session]:
        with sessions.begin() as s:
            yield s

    def require_admin(request: Request) -> None:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie and admin.session_valid(cookie):
            return
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            client = request.client.host if request.client else "-"
            if admin.check(user, password):
                return
            if not login_limiter.allow(client):
                raise _Unauthorized(429, "too many failed logins from this address; wait a minute")
        raise _Unauthorized(401, "the admin credential is required", basic=True)

    def require_host(request: Request) -> HostCert:
        """The (CN, serial) of the client certificate TLS verified; each agent route checks it against
        the host row in its own transaction (service.authenticate_host), so a heartbeat is one transaction."""
        tls = request.scope.get("extensions", {}).get("tls") or {}
        chain = tls.get("client_cert_chain") or []
        if not chain:
            raise _Unauthorized(401, "a client certificate of a joined host is required")
        return HostCert(*cert_identity(chain[0].encode()))

    def agent_host(s: Session, who: HostCert) -> Host:
        try:
            return service.authenticate_host(s, who.cn, who.serial)
        except ServiceError as exc:
            raise _Unauthorized(exc.status, str(exc)) from None

    Admin_ = Annotated[None, Depends(require_admin)]
    Agent = Annotated[HostCert, Depends(require_host)]
    HostRef = Annotated[str, Path(max_length=253)]

    @app.get("/health", tags=["public"])
    def health() -> JSONResponse:
        try:
            with sessions() as s:
                s.execute(sa.text("SELECT 1"))
        except Exception:
            log.exception("health: database check failed")
            return JSONResponse({"status": "error", "db": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "db": "ok"})

    @app.get("/api/v1/ca", tags=["public"])
    def get_ca() -> dict[str, str]:
        return {"ca": ca.cert_pem.decode()}

    @app.post("/api/v1/join", tags=["public"], status_code=201, response_model=JoinResponse,
              responses={401: {}, 409: {}, 422: {}, 429: {}})
    def join(body: JoinRequest, request: Request) -> dict[str, Any]:
        client = request.client.host if request.client else "-"
        if not join_limiter.allow(client):
            raise ServiceError(429, "too many join attempts from this address; wait a minute")
        with db() as s:
            joined = service.join(s, ca, token=body.token, csr_pem=body.csr, name=body.name, address=body.address,
                                  facts=body.facts, replace=body.replace, cert_days=config.host_cert_days)
            host = joined.host
            log.info("host %s joined as %s from %s", host.name, host.id, client)
            return {"host_id": host.id, "name": host.name, "sanlock_host_id": host.sanlock_host_id,
                    "certificate": joined.cert.pem, "ca": ca.cert_pem.decode(),
                    "expires_at": service.iso(joined.cert.expires_at),
                    "heartbeat_interval": config.heartbeat_interval}

    @app.post("/api/v1/agent/heartbeat", tags=["agent"], response_model=HeartbeatResponse,
              responses={401: {}, 403: {}})
    def heartbeat(who: Agent, body: Heartbeat) -> dict[str, Any]:
        # a heartbeat only refreshes what the next one resends: its commit need not wait for the disk
        with beat_sessions.begin() as s:
            try:
                host, pending = service.heartbeat_host(s, who.cn, who.serial)
            except ServiceError as exc:
                raise _Unauthorized(exc.status, str(exc)) from None
            return service.heartbeat(s, host, body.model_dump(), pending)

    @app.post("/api/v1/agent/commands/{command_id}/ack", tags=["agent"], status_code=204,
              responses={401: {}, 403: {}, 404: {}})
    def ack(who: Agent, command_id: Annotated[int, Path(ge=1, le=MAX_DB_INT)], body: Ack) -> Response:
        with db() as s:
            service.ack_command(s, agent_host(s, who), command_id, body.ok, body.detail)
        return Response(status_code=204)

    @app.post("/api/v1/agent/renew", tags=["agent"], response_model=RenewResponse, responses={401: {}, 403: {}})
    def renew(who: Agent, body: RenewRequest) -> dict[str, Any]:
        with db() as s:
            host = agent_host(s, who)
            issued = service.renew(s, ca, host, body.csr, config.host_cert_days)
            log.info("host %s renewed its certificate", host.name)
            return {"certificate": issued.pem, "expires_at": service.iso(issued.expires_at)}

    @app.get("/api/v1/hosts", tags=["admin"], responses={401: {}})
    def hosts(_: Admin_, include_removed: bool = False) -> list[dict[str, Any]]:
        with db() as s:
            return service.list_hosts(s, include_removed)

    @app.get("/api/v1/hosts/{host_ref}", tags=["admin"], responses={401: {}, 404: {}})
    def host(_: Admin_, host_ref: HostRef) -> dict[str, Any]:
        with db() as s:
            return service.host_view(service.get_host(s, host_ref), full=True)

    @app.delete("/api/v1/hosts/{host_ref}", tags=["admin"], responses={401: {}, 404: {}})
    def remove(_: Admin_, host_ref: HostRef) -> dict[str, Any]:
        with db() as s:
            h = service.get_host(s, host_ref)
            service.remove_host(s, h, "removed by the admin")
            return service.host_view(h)

    @app.post("/api/v1/hosts/{host_ref}/maintenance", tags=["admin"], responses={401: {}, 404: {}, 409: {}})
    def maintenance(_: Admin_, host_ref: HostRef) -> dict[str, Any]:
        with db() as s:
            h = service.get_host(s, host_ref)
            service.set_maintenance(s, h)
            return service.host_view(h)

    @app.post("/api/v1/hosts/{host_ref}/hosted-engine/maintenance", tags=["admin"], status_code=202,
              responses={401: {}, 404: {}, 409: {}})
    def he_maintenance(_: Admin_, host_ref: HostRef, body: HeMaintenance) -> dict[str, Any]:
        """Queued: the host's node agent sets it on its next heartbeat and acks the command."""
        with db() as s:
            h = service.get_host(s, host_ref)
            cmd = service.queue_he_maintenance(s, h, body.mode)
            return {"host": service.host_view(h), "command": {"id": cmd.id, "name": cmd.name}}

    @app.post("/api/v1/hosts/{host_ref}/activate", tags=["admin"], responses={401: {}, 404: {}, 409: {}})
    def activate(_: Admin_, host_ref: HostRef) -> dict[str, Any]:
        with db() as s:
            h = service.get_host(s, host_ref)
            service.activate(s, h, config.heartbeat_interval, config.missed_intervals)
            return service.host_view(h)

    @app.get("/api/v1/vms", tags=["admin"], responses={401: {}})
    def vms(_: Admin_) -> list[dict[str, Any]]:
        with db() as s:
            return service.list_vms(s)

    @app.get("/api/v1/volumes", tags=["admin"], responses={401: {}})
    def volumes(_: Admin_) -> list[dict[str, Any]]:
        with db() as s:
            return service.list_volumes(s)

    @app.get("/api/v1/events", tags=["admin"], responses={401: {}})
    def events(_: Admin_, limit: Annotated[int, Field(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
        with db() as s:
            return service.list_events(s, limit)

    @app.post("/api/v1/tokens", tags=["admin"], status_code=201, response_model=TokenResponse,
              responses={401: {}})
    def tokens(_: Admin_, body: TokenRequest) -> dict[str, str]:
        with db() as s:
            token, expires = service.create_token(s, dt.timedelta(seconds=body.ttl_seconds), body.uses)
        log.info("a join token was created (%d uses, %d s)", body.uses, body.ttl_seconds)
        return token_view(config, ca, token, expires)

    # ---- dashboard (not in the OpenAPI document: it is a page, not an API) ----------------------

    def _page(name: str, **values: Any) -> HTMLResponse:
        html = templates.get_template(name).render(**values)
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                           "Content-Security-Policy": "default-src 'self'; style-src 'self' "
                                           "'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"})

    @app.get("/", include_in_schema=False)
    def dashboard(request: Request) -> HTMLResponse:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not (cookie and admin.session_valid(cookie)):
            return _page("login.html.j2", error="", fqdn=config.fqdn)
        with db() as s:
            return _page("dashboard.html.j2", fqdn=config.fqdn, hosts=service.list_hosts(s, ha=True),
                         vms=service.list_vms(s), volumes=service.list_volumes(s),
                         events=service.list_events(s, 50), ca_pin=ca.pin)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        client = request.client.host if request.client else "-"
        form = parse_qs((await request.body())[:4096].decode(errors="replace"))
        user = (form.get("username") or [""])[0]
        password = (form.get("password") or [""])[0]
        if await run_in_threadpool(admin.check, user, password):
            response = RedirectResponse("/", status_code=303)
            response.set_cookie(SESSION_COOKIE, admin.new_session(), max_age=SESSION_SECONDS, httponly=True,
                                secure=True, samesite="strict", path="/")
            return response
        if not login_limiter.allow(client):
            return _page("login.html.j2", error="Too many failed logins; wait a minute.", fqdn=config.fqdn)
        page = _page("login.html.j2", error="Wrong user name or password.", fqdn=config.fqdn)
        page.status_code = 401
        return page

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    return app
