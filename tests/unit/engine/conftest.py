"""An engine in a temporary data dir, served in-process through the ASGI test client. Agent calls
carry a client certificate the way engine.server puts it into the scope (the ASGI tls extension)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from engine.api import create_app
from engine.auth import Admin
from engine.config import EngineConfig
from engine.server import initialize, open_engine
from nodecore import pki
from nodecore.secrets import Secret

PASSWORD = "Adm1n-pass-word"


class Engine:
    def __init__(self, data_dir: str) -> None:
        self.opened = open_engine(data_dir)
        self.app = create_app(self.opened.config, self.opened.ca, self.opened.sessions, Admin(self.opened.config),
                              monitor=False, heartbeat_sessions=self.opened.heartbeat_sessions)
        self.cert: str | None = None  # the client certificate the next agent call presents

        async def asgi(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                scope = {**scope, "extensions": {"tls": {"client_cert_chain": [self.cert] if self.cert else []}}}
            await self.app(scope, receive, send)

        self.client = TestClient(asgi, base_url="https://testserver")
        self.admin = ("admin", PASSWORD)

    def token(self, uses: int = 1, ttl: int = 3600) -> str:
        r = self.client.post("/api/v1/tokens", json={"ttl_seconds": ttl, "uses": uses}, auth=self.admin)
        assert r.status_code == 201, r.text
        return str(r.json()["token"])

    def join(self, name: str = "node1", token: str | None = None, replace: bool = False) -> Any:
        key = pki.make_key()
        body = {"token": token or self.token(), "csr": pki.make_csr(key, name), "name": name,
                "address": "192.0.2.10", "facts": {"cpus": 4}, "replace": replace}
        return self.client.post("/api/v1/join", json=body)


@pytest.fixture
def engine(tmp_path: Any) -> Iterator[Engine]:
    config = EngineConfig(fqdn="engine.test", ips=("127.0.0.1",), listen="127.0.0.1:8443",
                          data_dir=str(tmp_path / "engine"))
    initialize(config, Secret(PASSWORD))
    e = Engine(config.data_dir)
    yield e
    e.client.close()
    e.opened.close()
