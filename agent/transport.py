"""HTTPS to the engine: TLS 1.2 or newer, trusting exactly one CA (or, for fetching that CA, none).

Every request says what it trusts: `ca_pem=None` means the server certificate is NOT verified, which
only `GET /api/v1/ca` may use (nothing secret is sent, and the answer is checked against the pin);
every other request verifies the server against the cluster CA alone (never the system's public
CAs) and, for the agent API, presents the node's client certificate.

`Transport` is the seam the tests replace with a recording fake; `RequestsTransport` is the real one.
"""

from __future__ import annotations

import json
import logging
import os
import ssl
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
import requests.adapters

log = logging.getLogger("hcinode.agent")

TIMEOUT = 15.0


class Unreachable(Exception):
    """No HTTP answer: refused, timed out, name not resolved, TLS handshake failed."""


@dataclass(frozen=True)
class Response:
    status: int
    body: Mapping[str, Any] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        detail = self.body.get("detail", "")
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]


class Transport(Protocol):
    def request(self, method: str, url: str, *, body: Mapping[str, Any] | None = None,
                ca_pem: str | None, client: tuple[str, str] | None = None,
                timeout: float = TIMEOUT) -> Response: ...


def tls_context(ca_pem: str | None, client: tuple[str, str] | None = None) -> ssl.SSLContext:
    """A client context: TLS >= 1.2; verify against `ca_pem` only (or not at all when None)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_pem is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=ca_pem)
    if client is not None:
        ctx.load_cert_chain(client[0], client[1])
    return ctx


class _ContextAdapter(requests.adapters.HTTPAdapter):
    """requests with our SSLContext: no certifi bundle, no system CAs, our minimum version."""

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._ctx = ctx
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._ctx
        super().init_poolmanager(*args, **kwargs)  # type: ignore[no-untyped-call]


class RequestsTransport:
    """The real transport. It keeps one requests.Session (one kept-alive TLS connection) for the
    engine it talks to, as long as the CA and the client certificate stay the same: a heartbeat every
    10 s then costs no TLS handshake on either side (the engine keeps idle connections open for
    longer than an interval, engine.server.keep_alive_seconds). A renewed certificate (the files'
    stat changes) or a failed request starts a new session. One caller at a time (the agent's loop)."""

    def __init__(self) -> None:
        self._kept: tuple[tuple[Any, ...], requests.Session] | None = None

    def _session(self, ca_pem: str | None, client: tuple[str, str] | None) -> tuple[requests.Session, bool]:
        """(session, keep): the kept session for this trust and identity, or a new one."""
        key = (ca_pem, client, _files_stat(client))
        if ca_pem is not None and self._kept is not None and self._kept[0] == key:
            return self._kept[1], True
        self.close()
        session = requests.Session()
        session.trust_env = False  # no proxy or REQUESTS_CA_BUNDLE from the environment
        session.mount("https://", _ContextAdapter(tls_context(ca_pem, client)))
        if ca_pem is None:  # the unverified CA fetch is never reused for anything else
            return session, False
        self._kept = (key, session)
        return session, True

    def close(self) -> None:
        if self._kept is not None:
            self._kept[1].close()
            self._kept = None

    def request(self, method: str, url: str, *, body: Mapping[str, Any] | None = None,
                ca_pem: str | None, client: tuple[str, str] | None = None,
                timeout: float = TIMEOUT) -> Response:
        if not url.startswith("https://"):
            raise Unreachable(f"{url}: the engine is only spoken to over https://")
        session, keep = self._session(ca_pem, client)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning for the CA fetch
                answer = session.request(method, url, json=body, timeout=timeout, allow_redirects=False,
                                         verify=ca_pem is not None)
        except requests.exceptions.SSLError as exc:
            self.close()
            raise Unreachable(f"TLS with {url} failed: {_reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            self.close()
            raise Unreachable(f"cannot reach {url}: {_reason(exc)}") from None
        finally:
            if not keep:
                session.close()
        try:
            data = answer.json() if answer.content else {}
        except ValueError:
            data = {"detail": answer.text[:300]}
        return Response(answer.status_code, data if isinstance(data, dict) else {"items": data})


def _files_stat(client: tuple[str, str] | None) -> tuple[tuple[int, int], ...]:
    """(mtime_ns, size) of the client certificate and key: they change when the agent renews."""
    if client is None:
        return ()
    try:
        return tuple((st.st_mtime_ns, st.st_size) for st in map(os.stat, client))
    except OSError:
        return ()


def _reason(exc: BaseException) -> str:
    """The innermost cause in one line (requests nests urllib3's MaxRetryError around the real one)."""
    inner: BaseException = exc
    while True:
        nxt = getattr(inner, "reason", None) or inner.__cause__ or inner.__context__
        if not isinstance(nxt, BaseException) or nxt is inner:
            break
        inner = nxt
    text = str(inner).strip() or type(inner).__name__
    return text.split("\n")[0][:300]
