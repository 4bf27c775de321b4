"""`hcinode join|agent|leave` through the real CLI entry: exit codes, one-line errors, no token in logs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from agent.state import ClusterFiles
from nodecore.cli import main
from tests.unit.agent.fake_engine import TOKEN, FakeEngine


def log_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in (tmp_path / "log").glob("*.log*"))


def test_join_by_parts_then_agent_once_then_leave(engine: FakeEngine, state: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["join", "--engine", engine.url, "--token", TOKEN, "--ca-pin", engine.state.ca.pin,
               "--state-dir", str(state), "--no-start", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["ca_pin"] == engine.state.ca.pin and out["agent_started"] is False
    assert TOKEN not in log_text(tmp_path) and TOKEN.split(".")[1] not in log_text(tmp_path)
    assert main(["agent", "--state-dir", str(state), "--once"]) == 0
    assert capsys.readouterr().out.startswith(f"Up at {engine.url}")
    assert main(["leave", "--state-dir", str(state), "--no-stop"]) == 0
    assert "remove it there" in capsys.readouterr().out
    assert not ClusterFiles(str(state)).joined()


def test_join_string_on_stdin_and_token_never_logged(engine: FakeEngine, state: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(engine.join_string() + "\n"))
    assert main(["join", "-", "--state-dir", str(state), "--no-start"]) == 0
    captured = capsys.readouterr()
    assert f"presents the pinned CA {engine.state.ca.pin}" in captured.err
    assert "joined" in captured.out and TOKEN not in captured.out + captured.err
    assert engine.join_string() not in log_text(tmp_path)


def test_join_string_argument_is_masked_in_the_log(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    text = engine.join_string()
    assert main(["join", text, "--state-dir", str(state), "--no-start"]) == 0
    log = log_text(tmp_path)
    assert "hcinode 0.1.0: join ********" in log and text not in log


def test_token_file(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert main(["join", "--engine", engine.url, "--token-file", str(token_file), "--ca-pin",
                 engine.state.ca.pin, "--state-dir", str(state), "--no-start"]) == 0


def test_from_file_is_deleted_after_the_join(engine: FakeEngine, state: Path, tmp_path: Path) -> None:
    fb = tmp_path / "firstboot-join.json"
    fb.write_text(json.dumps({"engine_url": engine.url, "ca_pin": engine.state.ca.pin, "token": TOKEN}))
    assert main(["join", "--from-file", str(fb), "--state-dir", str(state), "--no-start"]) == 0
    assert not fb.exists()
    assert json.loads((tmp_path / "run" / "join.json").read_text())["state"] == "joined"


@pytest.mark.parametrize(("argv", "field"), [
    (["hcinode-join:v1:bm90IGpzb24"], "join string"),
    (["--engine", "https://127.0.0.1:9", "--token", TOKEN], "ca-pin"),
    (["--engine", "https://127.0.0.1:9", "--token", TOKEN, "--ca-pin", "sha256:" + "ab" * 32], "engine"),
    (["--engine", "https://127.0.0.1:9", "--token", "bad-token-Value", "--ca-pin", "sha256:" + "ab" * 32], "token"),
    ([], "join"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(argv: list[str], field: str, state: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["join", *argv, "--state-dir", str(state), "--no-start"]) == 2
    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.strip().startswith("error:")]
    assert len(problems) == 1 and problems[0].strip().startswith(f"error: {field}:"), err
    assert TOKEN not in err and "bad-token-Value" not in err
    assert not state.exists() or not any(state.rglob("*"))


def test_wrong_pin_exits_2_before_the_token_is_sent(engine: FakeEngine, state: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["join", "--engine", engine.url, "--token", TOKEN, "--ca-pin", "sha256:" + "ab" * 32,
                 "--state-dir", str(state), "--no-start"]) == 2
    assert "not the pinned sha256:" in capsys.readouterr().err
    assert [p for _m, p, _b in engine.state.requests] == ["/api/v1/ca"]


def test_agent_before_join_is_exit_2(state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["agent", "--state-dir", str(state), "--once"]) == 2
    assert "has not joined" in capsys.readouterr().err
