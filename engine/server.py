"""Initialising an engine's data dir, and serving it over TLS with uvicorn.

Why FastAPI + uvicorn (and how the client certificate gets to the app): FastAPI gives the OpenAPI
document and request validation from the same pydantic models (schemathesis runs against exactly what
is served). uvicorn does not put the peer certificate into the ASGI scope, so `TLSH11Protocol` adds the
ASGI "tls" extension (scope["extensions"]["tls"]["client_cert_chain"]) itself: it reads the
certificate from the connection's ssl_object once the handshake is done (asyncio calls
connection_made only then), so the identity comes from the TLS connection, never from a header.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from uvicorn.protocols.http.h11_impl import H11Protocol

from engine import config as cfg
from engine.auth import Admin, store_admin_hash, store_admin_password
from engine.ca import CA, ca_problem, make_ca
from engine.config import EngineConfig
from engine.db import make_engine, migrate, sessions
from nodecore import passwords, pki
from nodecore.secrets import Secret

log = logging.getLogger("hcinode.engine")


def existing_ca_pin(config: EngineConfig) -> str:
    """The pin of the CA already in the data dir, or "" (init keeps it: see initialize)."""
    path = config.path(cfg.CA_CERT)
    if not os.path.exists(config.path(cfg.CA_KEY)) or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return pki.ca_pin(f.read())


def given_ca_problem(config: EngineConfig, cert_pem: bytes, key_pem: Secret) -> tuple[str, str]:
    """(field, why) when a CA made elsewhere cannot be used for this data dir, or ("", "")."""
    problem = ca_problem(cert_pem, key_pem.reveal().encode())
    if problem[0]:
        return problem
    existing = existing_ca_pin(config)
    if existing and existing != pki.ca_pin(cert_pem):
        return ("--ca-cert", f"{config.data_dir} already has another CA ({existing}); joined hosts trust it: "
                "keep it (drop --ca-cert/--ca-key) or start from an empty data dir")
    return "", ""


def admin_hash_problem(hashed: Secret, field: str) -> tuple[str, str]:
    problem = passwords.hash_problem(hashed.reveal())
    return (field, problem) if problem else ("", "")


def initialize(config: EngineConfig, password: Secret | None = None, *, admin_hash: Secret | None = None,
               ca_pem: tuple[bytes, Secret] | None = None) -> CA:
    """Make the data dir: CA, server certificate, admin hash, engine.yaml; migrate the database.

    The admin credential is a password (hashed here) or a crypt(3) hash made elsewhere; the CA is
    made here or given (`ca_pem`: certificate PEM, key PEM; the caller checked it with ca_problem).
    An existing CA is kept (re-running init must not orphan every joined host); the caller refuses
    a given CA that differs from it."""
    if (password is None) == (admin_hash is None):
        raise ValueError("initialize needs exactly one of password and admin_hash")
    os.makedirs(config.data_dir, mode=0o700, exist_ok=True)
    ca_crt, ca_key = config.path(cfg.CA_CERT), config.path(cfg.CA_KEY)
    if not os.path.exists(ca_key):
        cert_pem, key_pem = (ca_pem[0], ca_pem[1].reveal().encode()) if ca_pem else make_ca(config.fqdn)
        cfg.write_file(ca_key, key_pem, 0o600)
        cfg.write_file(ca_crt, cert_pem, 0o644)
    ca = CA.load(ca_crt, ca_key)
    server_pem, server_key = ca.server_cert(config.fqdn, config.ips)
    cfg.write_file(config.path(cfg.SERVER_KEY), server_key, 0o600)
    cfg.write_file(config.path(cfg.SERVER_CERT), server_pem, 0o644)
    if admin_hash is not None:
        store_admin_hash(config, admin_hash.reveal())
    else:
        assert password is not None
        store_admin_password(config, password)
    cfg.save(config)
    engine = make_engine(config.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return ca


@dataclass
class Opened:
    config: EngineConfig
    ca: CA
    engine: sa.Engine
    sessions: sessionmaker[Session]
    heartbeat_engine: sa.Engine  # commits without waiting for the disk (engine.db.make_engine)
    heartbeat_sessions: sessionmaker[Session]

    def close(self) -> None:
        self.engine.dispose()
        self.heartbeat_engine.dispose()


def open_engine(data_dir: str, migrate_db: bool = True) -> Opened:
    config = cfg.load(data_dir)
    ca = CA.load(config.path(cfg.CA_CERT), config.path(cfg.CA_KEY))
    engine = make_engine(config.database_url)
    if migrate_db:
        migrate(engine)
    relaxed = make_engine(config.database_url, relaxed=True)
    return Opened(config, ca, engine, sessions(engine), relaxed, sessions(relaxed))


def server_ssl_context(config: EngineConfig) -> ssl.SSLContext:
    """TLS 1.2+, the server certificate, client certificates optional but verified against our CA
    when given (/api/v1/ca, join, /health and the dashboard work without one; agent routes need one)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(config.path(cfg.SERVER_CERT), config.path(cfg.SERVER_KEY))
    ctx.load_verify_locations(config.path(cfg.CA_CERT))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class TLSH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the ASGI TLS extension with the verified client certificate."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        tls: dict[str, Any] = {
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "tls_version": ssl_object.version() if ssl_object is not None else None,
        }
        app = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": tls}
            await app(scope, receive, send)

        self.app = with_tls


def keep_alive_seconds(config: EngineConfig) -> float:
    """How long an idle connection stays open: a heartbeat interval and a half (a dead agent's
    connection is closed well before the host turns NonResponsive)."""
    return max(5.0, config.heartbeat_interval * 1.5)


def serve(data_dir: str, listen: str | None = None) -> None:
    import uvicorn

    from engine.api import create_app

    opened = open_engine(data_dir)
    config = opened.config.with_listen(listen) if listen else opened.config
    host, port = config.listen.rsplit(":", 1)
    app = create_app(config, opened.ca, opened.sessions, Admin(config), heartbeat_sessions=opened.heartbeat_sessions)
    ctx = server_ssl_context(config)
    uv = uvicorn.Config(app, host=host.strip("[]"), port=int(port), http=TLSH11Protocol,
                        ssl_context_factory=lambda _c, _default: ctx, log_config=None, access_log=False,
                        lifespan="on", timeout_graceful_shutdown=5,
                        # agents keep their connection between heartbeats (agent.transport): it must outlive
                        # one interval, or every heartbeat pays a new TLS handshake (uvicorn's default is 5 s)
                        timeout_keep_alive=int(keep_alive_seconds(config)))
    log.info("engine serving on https://%s (database %s)", config.listen, config.database_url.split("://")[0])
    try:
        uvicorn.Server(uv).run()
    finally:
        opened.close()
