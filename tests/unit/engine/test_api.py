from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any

import sqlalchemy as sa

from engine import service
from engine.db import Host, Token
from nodecore import cli, pki
from nodecore.errors import EXIT_INVALID
from tests.unit.engine.conftest import PASSWORD, Engine


def _joined(engine: Engine, name: str = "node1") -> dict:
    r = engine.join(name)
    assert r.status_code == 201, r.text
    engine.cert = r.json()["certificate"]
    return r.json()


def test_health_ca_and_openapi_need_no_credential(engine: Engine) -> None:
    assert engine.client.get("/health").json() == {"status": "ok", "db": "ok"}
    assert engine.client.get("/api/v1/ca").json()["ca"].startswith("-----BEGIN CERTIFICATE-----")
    paths = engine.client.get("/api/openapi.json").json()["paths"]
    assert "/api/v1/join" in paths and "/api/v1/agent/heartbeat" in paths and "/login" not in paths


def test_join_gives_a_certificate_for_the_host_uuid(engine: Engine) -> None:
    from cryptography import x509

    body = _joined(engine)
    cert = x509.load_pem_x509_certificate(body["certificate"].encode())
    assert cert.subject.rfc4514_string() == f"CN={body['host_id']}"  # the engine's subject, not the CSR's
    assert body["sanlock_host_id"] == 1 and body["heartbeat_interval"] == 10
    life = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=29) < life < dt.timedelta(days=31)
    assert body["ca"] == engine.opened.ca.cert_pem.decode()


def test_token_is_stored_as_a_hash_and_used_up(engine: Engine) -> None:
    token = engine.token(uses=1)
    token_id, secret = token.split(".")
    with engine.opened.sessions() as s:
        row = s.get(Token, token_id)
        assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
        dump = " ".join(str(v) for v in s.execute(sa.text("SELECT * FROM tokens")).all())
    assert secret not in dump
    assert engine.join("node1", token=token).status_code == 201
    again = engine.join("node2", token=token)
    assert again.status_code == 401 and again.json()["detail"] == service.BAD_TOKEN


def test_bad_tokens_get_one_answer(engine: Engine) -> None:
    good = engine.token()
    token_id, secret = good.split(".")
    tampered = f"{token_id}.{secret[:-1]}{'a' if secret[-1] != 'a' else 'b'}"
    for token in ("zzzzzz." + "a" * 32, tampered, "malformed"):
        r = engine.join("node1", token=token)
        assert r.status_code == 401 and r.json() == {"detail": service.BAD_TOKEN}
        assert secret not in r.text
    with engine.opened.sessions.begin() as s:
        s.get(Token, token_id).expires_at = service.utcnow() - dt.timedelta(seconds=1)
    assert engine.join("node1", token=good).status_code == 401


def test_join_is_rate_limited_per_address(engine: Engine) -> None:
    codes = [engine.join("node1", token="zzzzzz." + "a" * 32).status_code for _ in range(11)]
    assert codes[:10] == [401] * 10 and codes[10] == 429


def test_a_name_joins_once_unless_replaced(engine: Engine) -> None:
    first = _joined(engine, "node1")
    r = engine.join("node1")
    assert r.status_code == 409 and "--replace" in r.json()["detail"]
    r = engine.join("node1", replace=True)
    assert r.status_code == 201 and r.json()["host_id"] != first["host_id"]
    assert r.json()["sanlock_host_id"] == 1  # the old one's id is free again
    engine.cert = first["certificate"]
    assert engine.client.post("/api/v1/agent/heartbeat", json={}).status_code == 403


def test_bad_csr_is_422(engine: Engine) -> None:
    r = engine.client.post("/api/v1/join", json={"token": engine.token(), "csr": "x", "name": "n"})
    assert r.status_code == 422 and "csr" in r.json()["detail"]


def test_heartbeat_identity_is_the_certificate(engine: Engine) -> None:
    body = _joined(engine, "node1")
    hb = {"agent_version": "1", "facts": {"cpus": 8},
          "vms": [{"name": "vm1", "uuid": "u1", "state": "running", "vcpus": 2, "memory_kib": 2048,
                   "cpu_time_ns": 5, "disks": [{"name": "vda", "rd_bytes": 1, "wr_bytes": 2}], "nics": []}],
          "gluster": {"peers": [], "volumes": [{"name": "engine", "status": "Started", "heal_pending": 0,
                                                "bricks": [{"host": "h1", "path": "/b", "online": True}]}]}}
    r = engine.client.post("/api/v1/agent/heartbeat", json=hb)
    assert r.json() == {"status": "Up", "commands": [], "renew": False}
    hb["vms"] = []
    engine.client.post("/api/v1/agent/heartbeat", json=hb)  # replaces the host's VMs
    assert engine.client.get("/api/v1/vms", auth=engine.admin).json() == []
    vols = engine.client.get("/api/v1/volumes", auth=engine.admin).json()
    assert vols[0]["name"] == "engine" and vols[0]["bricks"][0]["online"] is True
    host = engine.client.get(f"/api/v1/hosts/{body['host_id']}", auth=engine.admin).json()
    assert host["facts"] == {"cpus": 8} and host["last_heartbeat"]
    engine.cert = None
    assert engine.client.post("/api/v1/agent/heartbeat", json=hb).status_code == 401


def test_a_heartbeat_is_two_statements_and_a_commit(engine: Engine) -> None:
    """The write pattern that decides the fleet size: one read of the host row (with whether commands
    are pending), one update of it; the commands are read only when there are some. (It was a delete
    and an insert per VM, volume and brick, and a separate transaction for the certificate check.)"""
    body = _joined(engine)
    hb = {"facts": {"cpus": 8}, "vms": [{"name": f"vm{i}", "uuid": f"u{i}", "state": "running", "cpu_time_ns": i,
                                         "disks": [{"name": "vda", "rd_bytes": i}]} for i in range(5)],
          "gluster": {"volumes": [{"name": f"v{i}", "status": "Started",
                                   "bricks": [{"host": "h", "path": f"/b{i}", "online": True}]} for i in range(3)]}}
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.split()[0])

    for db in (engine.opened.engine, engine.opened.heartbeat_engine):
        sa.event.listen(db, "before_cursor_execute", record)
    for i in range(2):
        hb["vms"][0]["cpu_time_ns"] = 1000 + i  # type: ignore[index]
        statements.clear()
        assert engine.client.post("/api/v1/agent/heartbeat", json=hb).status_code == 200
        assert statements == ["SELECT", "UPDATE"]
    vms = engine.client.get("/api/v1/vms", auth=engine.admin).json()
    assert [v["name"] for v in vms] == [f"vm{i}" for i in range(5)] and vms[0]["cpu_time_ns"] == 1001
    assert vms[1]["disks"] == [{"name": "vda", "rd_bytes": 1, "wr_bytes": 0}] and vms[0]["host"] == "node1"
    assert [v["name"] for v in engine.client.get("/api/v1/volumes", auth=engine.admin).json()] == ["v0", "v1", "v2"]
    engine.client.post(f"/api/v1/hosts/{body['host_id']}/maintenance", auth=engine.admin)
    statements.clear()
    assert engine.client.post("/api/v1/agent/heartbeat", json=hb).json()["commands"][0]["name"] == "maintenance_on"
    assert statements == ["SELECT", "UPDATE", "SELECT"]


def test_removed_host_is_refused_at_once(engine: Engine) -> None:
    body = _joined(engine)
    assert engine.client.delete(f"/api/v1/hosts/{body['host_id']}", auth=engine.admin).json()["status"] == "Removed"
    assert engine.client.post("/api/v1/agent/heartbeat", json={}).status_code == 403
    assert engine.client.post("/api/v1/agent/renew", json={"csr": "x"}).status_code == 403


def test_renewal_retires_the_old_serial(engine: Engine) -> None:
    _joined(engine)
    old = engine.cert
    r = engine.client.post("/api/v1/agent/renew", json={"csr": pki.make_csr(pki.make_key(), "node1")})
    assert r.status_code == 200
    engine.cert = old
    assert engine.client.post("/api/v1/agent/heartbeat", json={}).status_code == 403
    engine.cert = r.json()["certificate"]
    assert engine.client.post("/api/v1/agent/heartbeat", json={}).status_code == 200
    kinds = [e["kind"] for e in engine.client.get("/api/v1/events", auth=engine.admin).json()]
    assert kinds[:2] == ["cert_renewed", "joined"]


def test_maintenance_commands_and_ack(engine: Engine) -> None:
    body = _joined(engine)
    engine.client.post(f"/api/v1/hosts/{body['host_id']}/maintenance", auth=engine.admin)
    r = engine.client.post("/api/v1/agent/heartbeat", json={}).json()
    assert r["status"] == "Maintenance" and [c["name"] for c in r["commands"]] == ["maintenance_on"]
    cmd = r["commands"][0]["id"]
    assert engine.client.post(f"/api/v1/agent/commands/{cmd}/ack", json={"ok": True}).status_code == 204
    assert engine.client.post("/api/v1/agent/heartbeat", json={}).json()["commands"] == []
    assert engine.client.post("/api/v1/agent/commands/999/ack", json={"ok": True}).status_code == 404
    engine.client.post(f"/api/v1/hosts/{body['host_id']}/activate", auth=engine.admin)
    r = engine.client.post("/api/v1/agent/heartbeat", json={}).json()
    assert r["status"] == "Up" and [c["name"] for c in r["commands"]] == ["maintenance_off"]


def test_hosted_engine_maintenance_is_a_command_for_the_node_agent(engine: Engine) -> None:
    body = _joined(engine)
    url = f"/api/v1/hosts/{body['host_id']}/hosted-engine/maintenance"
    assert engine.client.post(url, json={"mode": "global"}).status_code == 401
    assert engine.client.post(url, json={"mode": "sideways"}, auth=engine.admin).status_code == 422
    r = engine.client.post(url, json={"mode": "global"}, auth=engine.admin)
    assert r.status_code == 202 and r.json()["command"]["name"] == "he_maintenance_global"
    beat = engine.client.post("/api/v1/agent/heartbeat", json={}).json()
    assert beat["status"] == "Up" and [c["name"] for c in beat["commands"]] == ["he_maintenance_global"]
    kinds = [e["kind"] for e in engine.client.get("/api/v1/events", auth=engine.admin).json()]
    assert kinds[0] == "hosted_engine_maintenance"
    assert engine.client.post("/api/v1/hosts/nope/hosted-engine/maintenance", json={"mode": "none"},
                              auth=engine.admin).status_code == 404
    engine.client.delete(f"/api/v1/hosts/{body['host_id']}", auth=engine.admin)
    assert engine.client.post(url, json={"mode": "none"}, auth=engine.admin).status_code == 409


def test_the_engine_cli_queues_hosted_engine_maintenance_as_the_api_does(engine: Engine, capsys: Any) -> None:
    body = _joined(engine)
    code = cli.main(["--log-file", os.devnull, "engine", "hosts", "hosted-engine-maintenance", "--data-dir",
                     engine.opened.config.data_dir, "node1", "local", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["command"]["name"] == "he_maintenance_local"
    beat = engine.client.post("/api/v1/agent/heartbeat", json={}).json()
    assert [c["name"] for c in beat["commands"]] == ["he_maintenance_local"]
    engine.client.delete(f"/api/v1/hosts/{body['host_id']}", auth=engine.admin)
    assert cli.main(["--log-file", os.devnull, "engine", "hosts", "hosted-engine-maintenance", "--data-dir",
                     engine.opened.config.data_dir, body["host_id"], "none"]) == EXIT_INVALID  # removed: 409


def test_dashboard_shows_each_hosts_ha_fields(engine: Engine) -> None:
    _joined(engine, "node-ha")
    ha = {"state": "EngineUp", "score": 3400, "engine": {"vm": "up", "health": "good"}, "global_maintenance": False,
          "local_maintenance": True, "stale": False}
    engine.client.post("/api/v1/agent/heartbeat", json={"ha": ha})
    _joined(engine, "node-plain")
    engine.client.post("/api/v1/agent/heartbeat", json={})
    engine.client.post("/login", content=f"username=admin&password={PASSWORD}",
                       headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    page = engine.client.get("/").text
    assert "<th>HA score</th>" in page
    assert "<td>3400</td><td>EngineUp</td><td>local</td><td>up, good</td>" in page
    assert '<td colspan="4">no HA agent</td>' in page
    assert service.ha_view({**ha, "stale": True, "global_maintenance": True}) == {
        "score": 3400, "state": "EngineUp", "maintenance": "global", "engine": "up, good", "stale": True}
    assert service.ha_view(None) is None


def test_a_host_cannot_ack_another_hosts_command(engine: Engine) -> None:
    a = _joined(engine, "a")
    engine.client.post(f"/api/v1/hosts/{a['host_id']}/maintenance", auth=engine.admin)
    cmd = engine.client.post("/api/v1/agent/heartbeat", json={}).json()["commands"][0]["id"]
    _joined(engine, "b")
    assert engine.client.post(f"/api/v1/agent/commands/{cmd}/ack", json={"ok": True}).status_code == 404


def test_non_responsive_and_back(engine: Engine) -> None:
    body = _joined(engine)
    engine.client.post("/api/v1/agent/heartbeat", json={})
    with engine.opened.sessions.begin() as s:
        now = service.utcnow()
        assert service.mark_non_responsive(s, 10, 3, now + dt.timedelta(seconds=29)) == []
        assert service.mark_non_responsive(s, 10, 3, now + dt.timedelta(seconds=31)) == ["node1"]
    assert engine.client.get(f"/api/v1/hosts/{body['host_id']}", auth=engine.admin).json()["status"] == \
        "NonResponsive"
    engine.client.post("/api/v1/agent/heartbeat", json={})
    events = [e["kind"] for e in engine.client.get("/api/v1/events", auth=engine.admin).json()]
    assert events[:2] == ["back", "non_responsive"]


def test_after_a_restart_every_host_gets_3_intervals_before_non_responsive(engine: Engine) -> None:
    # the engine was down for a minute: no agent could reach it, so the silence is not the hosts'
    _joined(engine)
    engine.client.post("/api/v1/agent/heartbeat", json={})
    with engine.opened.sessions.begin() as s:
        restarted = service.utcnow() + dt.timedelta(seconds=60)
        assert service.mark_non_responsive(s, 10, 3, restarted + dt.timedelta(seconds=1), restarted) == []
        assert service.mark_non_responsive(s, 10, 3, restarted + dt.timedelta(seconds=29), restarted) == []
        assert service.mark_non_responsive(s, 10, 3, restarted + dt.timedelta(seconds=31), restarted) == ["node1"]


def test_maintenance_host_does_not_become_non_responsive(engine: Engine) -> None:
    body = _joined(engine)
    engine.client.post(f"/api/v1/hosts/{body['host_id']}/maintenance", auth=engine.admin)
    with engine.opened.sessions.begin() as s:
        assert service.mark_non_responsive(s, 10, 3, service.utcnow() + dt.timedelta(hours=1)) == []


def test_needs_renewal_at_two_thirds() -> None:
    t0 = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    host = Host(cert_issued_at=t0, cert_expires_at=t0 + dt.timedelta(days=30))
    assert not service.needs_renewal(host, t0 + dt.timedelta(days=19))
    assert service.needs_renewal(host, t0 + dt.timedelta(days=20, seconds=1))


def test_admin_api_needs_the_credential(engine: Engine) -> None:
    for method, path in (("get", "/api/v1/hosts"), ("get", "/api/v1/events"), ("post", "/api/v1/tokens")):
        r = getattr(engine.client, method)(path)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert getattr(engine.client, method)(path, auth=("admin", "wrong")).status_code == 401
        assert getattr(engine.client, method)(path, auth=("root", PASSWORD)).status_code == 401


def test_dashboard_login_sets_a_strict_cookie(engine: Engine) -> None:
    _joined(engine, "node-on-the-page")
    assert 'id="login"' in engine.client.get("/").text
    r = engine.client.post("/login", content="username=admin&password=wrong",
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 401
    r = engine.client.post("/login", content=f"username=admin&password={PASSWORD}",
                           headers={"content-type": "application/x-www-form-urlencoded"}, follow_redirects=False)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=strict" in cookie
    page = engine.client.get("/").text
    assert 'id="hosts"' in page and "node-on-the-page" in page
    assert engine.client.get("/api/v1/hosts").status_code == 200  # the session also opens the admin API
    engine.client.cookies.clear()
    engine.client.cookies.set("hcinode_session", "99999999999.forged", domain="testserver")
    assert 'id="login"' in engine.client.get("/").text
