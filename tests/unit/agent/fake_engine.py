"""A small HTTPS engine for the agent's tests: a self-made CA (cryptography), a server certificate for
127.0.0.1, the join/heartbeat/renew/ack endpoints of docs/cluster.md, and a record of every request.

Not the real engine (engine/ is): it exists so the agent's unit tests speak real TLS, with real
certificates, on loopback, in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodecore import pki

TOKEN = "abc123.0123456789abcdefghijklmnopqrstuv"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @classmethod
    def make(cls, cn: str = "test cluster CA") -> CA:
        key = pki.make_key()
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        return cls(key, cert)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def pin(self) -> str:
        return pki.ca_pin(self.pem)

    def issue(self, public_key: Any, cn: str, *, seconds: float = 30 * 86400, server: bool = False,
              start: dt.datetime | None = None) -> str:
        start = start or dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(self.cert.subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(start + dt.timedelta(seconds=seconds)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Host:
    host_id: str
    name: str
    serial: int
    status: str = "Up"
    heartbeats: int = 0


@dataclass
class EngineState:
    ca: CA
    tokens: dict[str, int] = field(default_factory=lambda: {TOKEN: 1})
    hosts: dict[str, Host] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    peers: list[tuple[str, int]] = field(default_factory=list)  # the client's address of each request
    commands: list[dict[str, Any]] = field(default_factory=list)
    acks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    cert_seconds: float = 30 * 86400
    renew: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class Handler(BaseHTTPRequestHandler):
    server: Any
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn does: a client may reuse its connection

    def log_message(self, *_args: Any) -> None:
        pass

    def _send(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body or {}).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def _host(self) -> Host | None:
        peer = self.connection.getpeercert(binary_form=True)  # type: ignore[attr-defined]
        if not peer:
            return None
        cert = x509.load_der_x509_certificate(peer)
        host_id = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        host = self.server.state.hosts.get(host_id)
        return host if host is not None and host.serial == cert.serial_number else None

    def do_GET(self) -> None:  # noqa: N802
        state: EngineState = self.server.state
        state.requests.append(("GET", self.path, {}))
        state.peers.append(self.client_address)
        if self.path == "/api/v1/ca":
            self._send(200, {"ca": state.ca.pem})
        else:
            self._send(404, {"detail": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        state: EngineState = self.server.state
        body = self._body()
        state.requests.append(("POST", self.path, body))
        state.peers.append(self.client_address)
        with state.lock:
            if self.path == "/api/v1/join":
                return self._join(state, body)
            host = self._host()
            if host is None:
                return self._send(401, {"detail": "client certificate required"})
            if self.path == "/api/v1/agent/heartbeat":
                host.heartbeats += 1
                commands, state.commands = state.commands, []
                return self._send(200, {"status": host.status, "commands": commands, "renew": state.renew})
            if self.path == "/api/v1/agent/renew":
                csr = pki.check_csr(body["csr"])
                pem = state.ca.issue(csr.public_key(), host.host_id, seconds=state.cert_seconds)
                host.serial = pki.load_certificate(pem).serial_number
                state.renew = False
                return self._send(200, {"certificate": pem, "expires_at": "2099-01-01T00:00:00Z"})
            if self.path.startswith("/api/v1/agent/commands/"):
                state.acks.append((self.path.split("/")[-2], body))
                return self._send(204, None)
        return self._send(404, {"detail": "not found"})

    def _join(self, state: EngineState, body: dict[str, Any]) -> None:
        if state.tokens.get(body.get("token", ""), 0) < 1:
            return self._send(401, {"detail": "the join token is unknown, expired or used up"})
        name = body["name"]
        if any(h.name == name for h in state.hosts.values()) and not body.get("replace"):
            return self._send(409, {"detail": f"host {name} is already joined; remove it on the engine or "
                                              "join with --replace"})
        state.tokens[body["token"]] -= 1
        host_id = str(uuid.uuid4())
        csr = pki.check_csr(body["csr"])
        pem = state.ca.issue(csr.public_key(), host_id, seconds=state.cert_seconds)
        state.hosts[host_id] = Host(host_id, name, pki.load_certificate(pem).serial_number)
        self._send(201, {"host_id": host_id, "name": name, "sanlock_host_id": len(state.hosts),
                         "certificate": pem, "ca": state.ca.pem, "expires_at": "2099-01-01T00:00:00Z",
                         "heartbeat_interval": 10})


class FakeEngine:
    def __init__(self, ca: CA | None = None) -> None:
        self.state = EngineState(ca or CA.make())
        self._dir = tempfile.TemporaryDirectory()
        d = Path(self._dir.name)
        key = pki.make_key()
        (d / "server.key").write_bytes(pki.key_pem(key))
        (d / "server.crt").write_text(self.state.ca.issue(key.public_key(), "engine", server=True,
                                                          seconds=86400))
        (d / "ca.crt").write_text(self.state.ca.pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(d / "server.crt"), str(d / "server.key"))
        ctx.load_verify_locations(str(d / "ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL  # /ca and /join come without a client certificate
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.state = self.state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.httpd.server_address[1]}"

    def join_string(self, token: str = TOKEN, expires_at: str = "2099-01-01T00:00:00Z") -> str:
        return pki.JoinString((self.url,), self.state.ca.pin, token, expires_at).encode()

    def __enter__(self) -> FakeEngine:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._dir.cleanup()
