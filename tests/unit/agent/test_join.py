"""`hcinode join`: pin first, nothing secret before it matches, nothing written before 201."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent import join as joining
from agent.state import ClusterFiles
from agent.transport import RequestsTransport, Response, Unreachable
from nodecore import pki
from nodecore.errors import InvalidInput
from nodecore.secrets import Secret
from tests.unit.agent.fake_engine import CA, TOKEN, FakeEngine

from .conftest import FACTS


class Recording:
    """A transport that records what would be sent and answers from a script."""

    def __init__(self, answers: dict[str, Response | Exception]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, str, Any, str | None]] = []

    def request(self, method: str, url: str, *, body: Any = None, ca_pem: str | None,
                client: Any = None, timeout: float = 15.0) -> Response:
        self.sent.append((method, url, body, ca_pem))
        answer = self.answers[url.split("/api/v1/")[1]]
        if isinstance(answer, Exception):
            raise answer
        return answer


def request(state: Path, url: str = "https://engine.example:8443", pin: str = "", token: str = TOKEN,
            **options: Any) -> joining.JoinRequest:
    return joining.request_from_parts(url, token, pin or "sha256:" + "ab" * 32, state_dir=str(state),
                                      start=False, **options)


def written(state: Path) -> list[str]:
    return sorted(str(p.relative_to(state)) for p in state.rglob("*")) if state.exists() else []


def test_pin_mismatch_stops_before_the_token_is_sent(state: Path) -> None:
    other = CA.make()
    fake = Recording({"ca": Response(200, {"ca": other.pem})})
    with pytest.raises(InvalidInput) as err:
        joining.join(request(state), transport=fake, facts=FACTS)
    text = err.value.report.render_text()
    assert f"presents CA {other.pin}, not the pinned sha256:{'ab' * 32}" in text
    assert [(m, u.split("/api/v1/")[1], b, ca) for m, u, b, ca in fake.sent] == [("GET", "ca", None, None)]
    assert TOKEN not in json.dumps([s[2] for s in fake.sent])
    assert written(state) == []


def test_real_tls_join_writes_the_identity(engine: FakeEngine, state: Path) -> None:
    req = joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False)
    seen: list[str] = []
    result = joining.join(req, facts=FACTS, name="node01.lab.example", on_discovered=lambda d: seen.append(d.pin))
    assert seen == [engine.state.ca.pin]
    files = ClusterFiles(str(state))
    assert stat.S_IMODE(os.stat(files.key).st_mode) == 0o600
    record = json.loads(Path(files.engine).read_text())
    assert record == {"urls": [engine.url], "ca_pin": engine.state.ca.pin, "host_id": result.registration.host_id,
                      "name": "node01.lab.example", "sanlock_host_id": 1}
    assert pki.issued_by(Path(files.cert).read_text(), Path(files.ca).read_text())
    # the key never left the node: what the engine got is a CSR, not key material
    posted = json.dumps([b for _m, _p, b in engine.state.requests])
    assert "PRIVATE KEY" not in posted and Path(files.key).read_text().split("\n")[1] not in posted
    assert [p for m, p, _b in engine.state.requests] == ["/api/v1/ca", "/api/v1/join"]
    assert joining.verify_files(files, engine.state.ca.pin).ok


def test_used_up_token_is_refused_with_one_line_and_nothing_written(engine: FakeEngine, state: Path) -> None:
    engine.state.tokens[TOKEN] = 0
    req = joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False)
    with pytest.raises(InvalidInput) as err:
        joining.join(req, facts=FACTS)
    assert [p.render() for p in err.value.report.errors] == [
        "error: token: the engine refused the join: the join token is unknown, expired or used up "
        "(make a new token on the engine: hcinode engine token create)"]
    assert written(state) == []


def test_name_already_joined_needs_replace(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    engine.state.tokens[TOKEN] = 3
    joining.join(joining.request_from_join_string(engine.join_string(), state_dir=str(tmp_path / "a"),
                                                  start=False), facts=FACTS, name="n1")
    again = joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False)
    with pytest.raises(InvalidInput, match="already joined; remove it on the engine or join with --replace"):
        joining.join(again, facts=FACTS, name="n1")
    assert written(state) == []
    joining.join(joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False,
                                                  replace=True), facts=FACTS, name="n1")
    assert ClusterFiles(str(state)).joined()


def test_an_engine_with_another_ca_over_real_tls(state: Path) -> None:
    with FakeEngine() as real, FakeEngine() as impostor:
        text = pki.JoinString((impostor.url,), real.state.ca.pin, TOKEN, "2099-01-01T00:00:00Z").encode()
        with pytest.raises(InvalidInput, match="presents CA sha256:"):
            joining.join(joining.request_from_join_string(text, state_dir=str(state), start=False), facts=FACTS)
        assert [p for _m, p, _b in impostor.state.requests] == ["/api/v1/ca"]
    assert written(state) == []


def test_unreachable_engine_is_invalid_input(state: Path) -> None:
    fake = Recording({"ca": Unreachable("cannot reach https://engine.example:8443/api/v1/ca: refused")})
    with pytest.raises(InvalidInput, match="cannot reach"):
        joining.join(request(state), transport=fake, facts=FACTS)
    with pytest.raises(InvalidInput, match="cannot reach"):  # the real transport, a closed loopback port
        joining.discover(request(state, url="https://127.0.0.1:9"), RequestsTransport())
    assert written(state) == []


def test_offline_validation_lists_every_problem(state: Path) -> None:
    req = joining.request_from_parts("http://engine", "not-a-token-value", "sha256:12", state_dir=str(state))
    report = joining.validate(req)
    assert {p.field for p in report.errors} == {"engine", "ca-pin", "token"}
    assert "not-a-token-value" not in report.render_text()


def test_expired_join_string(state: Path) -> None:
    text = pki.JoinString(("https://e",), "sha256:" + "ab" * 32, TOKEN, "2020-01-01T00:00:00Z").encode()
    report = joining.validate(joining.request_from_join_string(text, state_dir=str(state)))
    assert [p.field for p in report.errors] == ["join string"] and "expired" in report.render_text()


def test_malformed_join_string_is_one_clear_error(state: Path) -> None:
    with pytest.raises(InvalidInput) as err:
        joining.request_from_join_string("hcinode-join:v1:###", state_dir=str(state))
    assert [p.field for p in err.value.report.errors] == ["join string"]
    assert "damaged" in err.value.report.render_text()


def test_already_joined_is_refused_offline(engine: FakeEngine, state: Path) -> None:
    engine.state.tokens[TOKEN] = 2
    joining.join(joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False),
                 facts=FACTS)
    report = joining.validate(joining.request_from_join_string(engine.join_string(), state_dir=str(state)))
    assert "already joined" in report.render_text() and "hcinode leave" in report.render_text()


def test_plan_hides_the_key_and_starts_the_agent(state: Path) -> None:
    reg = joining.Registration("https://e", "hid", "n1", 3, "CERT", "CA", "2099-01-01T00:00:00Z",
                               Secret("-----BEGIN PRIVATE KEY-----\nsecretkeymaterial\n"))
    req = joining.request_from_parts("https://e", TOKEN, "sha256:" + "ab" * 32, state_dir=str(state))
    plan = joining.plan_join(req, reg)
    assert "secretkeymaterial" not in plan.render_text() + plan.to_json()
    assert plan.steps[-1].argv == ("systemctl", "enable", "--now", "hcinode-agent.service")


def test_leave_removes_the_identity(engine: FakeEngine, state: Path) -> None:
    joining.join(joining.request_from_join_string(engine.join_string(), state_dir=str(state), start=False),
                 facts=FACTS)
    record, _ = joining.leave(str(state), stop=False)
    assert record is not None and record.urls == (engine.url,)
    assert not any(os.path.exists(p) for p in ClusterFiles(str(state)).all())
    with pytest.raises(InvalidInput, match="has not joined"):
        joining.leave(str(state), stop=False)


def test_retries_transient_failures_then_gives_up_with_a_status(state: Path, tmp_path: Path) -> None:
    fake = Recording({"ca": Unreachable("cannot reach https://engine.example:8443/api/v1/ca: refused")})
    slept: list[float] = []
    clock = iter(range(0, 1000, 10))
    status = tmp_path / "join.json"
    with pytest.raises(InvalidInput):
        joining.join_with_retries(request(state), retry_for=45, sleep=slept.append, clock=lambda: next(clock),
                                  status_path=str(status), transport=fake, facts=FACTS)
    assert slept == [1, 2, 4, 8]
    data = json.loads(status.read_text())
    assert data["state"] == "failed" and "cannot reach" in data["error"]


def test_permanent_failures_are_not_retried(state: Path, tmp_path: Path) -> None:
    fake = Recording({"ca": Response(200, {"ca": CA.make().pem})})
    slept: list[float] = []
    with pytest.raises(InvalidInput):
        joining.join_with_retries(request(state), retry_for=3600, sleep=slept.append,
                                  status_path=str(tmp_path / "j.json"), transport=fake, facts=FACTS)
    assert slept == [] and len(fake.sent) == 1


def test_firstboot_file_forms(tmp_path: Path) -> None:
    content = joining.firstboot_content("https://e:8443", "sha256:" + "AB:" * 31 + "AB", Secret(TOKEN))
    path = tmp_path / "fb.json"
    path.write_text(content.reveal())
    req = joining.request_from_file(str(path))
    assert req.urls == ("https://e:8443",) and req.ca_pin == "sha256:" + "ab" * 32 and req.token.reveal() == TOKEN
    assert str(content) == "********"
    path.write_text("garbage " + TOKEN)
    with pytest.raises(InvalidInput) as err:
        joining.request_from_file(str(path))
    assert TOKEN not in err.value.report.render_text()
