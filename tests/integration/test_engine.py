"""The engine served for real over TLS on loopback, on SQLite and on a PostgreSQL 15 server that the
test starts: join, mutual TLS, NonResponsive after 3 intervals, restart keeps state, renewal with a
short validity, a removed host's certificate refused, TLS < 1.2 refused, first revision -> head."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from engine.db import make_engine, migrate
from tests import engine_harness as h
from tests.engine_client import join

pytestmark = pytest.mark.integration

INTERVAL = 1.0
CERT_SECONDS = 24


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    with h.postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return ""
    return h.create_db(request.getfixturevalue("pg"), f"engine_{os.getpid()}_{int(time.monotonic() * 1000)}")


def _status(engine: h.Served, host_id: str) -> str:
    return str(engine.get(f"/api/v1/hosts/{host_id}", admin=True).json()["status"])


def test_engine_over_tls(db_url: str, tmp_path: Any) -> None:
    data_dir = str(tmp_path / "engine")
    url = h.init_engine(data_dir, db_url, heartbeat_interval=INTERVAL, host_cert_days=CERT_SECONDS / 86400)
    engine = h.Served(data_dir, url)
    engine.start()
    try:
        ca = requests.get(url + "/api/v1/ca", verify=False, timeout=10).json()["ca"]
        r, a = join(url, ca, engine.token(), "node-a", str(tmp_path / "a"))
        assert r.status_code == 201, r.text
        r, b = join(url, ca, engine.token(), "node-b", str(tmp_path / "b"))
        assert r.status_code == 201 and r.json()["sanlock_host_id"] == 2
        assert a and b
        # mutual TLS: the host is the certificate's; no certificate, no agent API
        assert a.heartbeat().json()["status"] == "Up"
        assert engine.post("/api/v1/agent/heartbeat", {}).status_code == 401
        # B stops: NonResponsive after 3 missed intervals (+ the monitor's period), A stays Up
        b.heartbeat()
        stopped = time.monotonic()
        while _status(engine, b.host_id) == "Up" and time.monotonic() - stopped < 10:
            a.heartbeat()
            time.sleep(0.25)
        took = time.monotonic() - stopped
        assert _status(engine, b.host_id) == "NonResponsive"
        assert 3 * INTERVAL <= took <= 3 * INTERVAL + 1.5, took
        assert _status(engine, a.host_id) == "Up"
        b.heartbeat()
        assert _status(engine, b.host_id) == "Up"
        # restart: every host, token use and event is still there
        before = engine.get("/api/v1/hosts", admin=True).json()
        engine.stop()
        engine.start()
        after = engine.get("/api/v1/hosts", admin=True).json()
        assert [(x["id"], x["name"], x["sanlock_host_id"]) for x in after] == \
            [(x["id"], x["name"], x["sanlock_host_id"]) for x in before]
        kinds = [e["kind"] for e in engine.get("/api/v1/events", admin=True).json()]
        assert kinds.count("joined") == 2 and "non_responsive" in kinds and "back" in kinds
        # renewal: at two thirds of the short life the heartbeat says renew; the old serial is refused
        while not a.heartbeat().json()["renew"]:
            assert time.monotonic() - stopped < CERT_SECONDS, "renew never asked for"
            b.heartbeat()
            time.sleep(0.5)
        old = requests.Session()  # the certificate before renewal, kept aside (renew() rewrites the files)
        old.trust_env, old.verify = False, a.ca_file
        old.cert = (shutil.copy(a.cert_file, str(tmp_path / "old.crt")),
                    shutil.copy(a.key_file, str(tmp_path / "old.key")))
        assert a.renew().status_code == 200
        assert a.heartbeat(session=old).status_code == 403
        assert a.heartbeat().status_code == 200
        # a removed host's certificate is refused at once
        removed = engine.cli("hosts", "remove", b.host_id, "--json")
        assert removed.returncode == 0 and json.loads(removed.stdout)["status"] == "Removed"
        assert b.heartbeat().status_code == 403
        listed = json.loads(engine.cli("hosts", "list", "--json").stdout)
        assert [x["name"] for x in listed] == ["node-a"]
    finally:
        engine.stop()


def test_tls_below_1_2_is_refused(tmp_path: Any) -> None:
    data_dir = str(tmp_path / "engine")
    with h.served(data_dir, h.init_engine(data_dir)) as engine:
        port = int(engine.url.rsplit(":", 1)[1])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(engine.ca_file)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        import socket

        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock, pytest.raises(ssl.SSLError):
            ctx.wrap_socket(sock, server_hostname="127.0.0.1")


def test_first_revision_upgrades_to_head_with_its_data(db_url: str, tmp_path: Any) -> None:
    url = db_url or f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        migrate(engine, "0001")
        with engine.begin() as conn:
            assert "events" not in sa.inspect(conn).get_table_names()
            conn.execute(sa.text(
                "INSERT INTO hosts (id, name, address, sanlock_host_id, status, joined_at, cert_serial, "
                "cert_expires_at, cert_issued_at, agent_version, facts) VALUES ('11111111-1111-1111-1111-"
                "111111111111', 'old-node', '192.0.2.1', 7, 'Up', :t, 'abc', :t, :t, '', '{}')"),
                {"t": "2030-01-01 00:00:00"})
            conn.execute(sa.text("INSERT INTO tokens VALUES ('abc123', :h, :t, :t, 1)"), {"h": "0" * 64,
                                                                                      "t": "2030-01-01 00:00:00"})
        migrate(engine)
        with engine.begin() as conn:
            assert {"events", "commands"} <= set(sa.inspect(conn).get_table_names())
            assert conn.execute(sa.text("SELECT name, sanlock_host_id FROM hosts")).all() == [("old-node", 7)]
            assert conn.execute(sa.text("SELECT uses_left FROM tokens WHERE id = 'abc123'")).scalar() == 1
            conn.execute(sa.text("INSERT INTO events (at, kind, host_name, detail) VALUES (:t, 'joined', '', '')"),
                         {"t": "2030-01-01 00:00:00"})
    finally:
        engine.dispose()
