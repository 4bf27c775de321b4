import json

import pytest

from nodecore import __version__
from nodecore.cli import main, run_plan
from nodecore.plan import Plan, Step


@pytest.fixture(autouse=True)
def _state(tmp_path, monkeypatch):
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"hcinode {__version__}"


def test_help_lists_facts(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "facts" in capsys.readouterr().out


def test_facts_json_describes_this_machine(capsys):
    assert main(["facts", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["memory_bytes"] > 0 and data["cpu"]["threads"] >= 1
    assert data["firmware"] in ("uefi", "bios")


def test_facts_text(capsys):
    assert main(["facts"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("hostname:") and "disks:" in out and "network:" in out


def test_dry_run_prints_plan_text_and_json(capsys):
    import argparse

    plan = Plan("demo", (Step("touch marker", argv=("touch", "/nonexistent/marker")),))
    assert run_plan(plan, {}, args=argparse.Namespace(dry_run=True, json=False), journal_name="demo") is None
    assert "1. touch marker" in capsys.readouterr().out
    run_plan(plan, {}, args=argparse.Namespace(dry_run=True, json=True), journal_name="demo")
    assert json.loads(capsys.readouterr().out)["steps"][0]["argv"] == ["touch", "/nonexistent/marker"]


def test_run_plan_resumes_an_unfinished_plan_and_closes_a_finished_one(tmp_path, capsys):
    import argparse

    from nodecore.errors import ApplyFailed
    from nodecore.runner import LocalRunner

    marker, gate = tmp_path / "m", tmp_path / "gate"
    plan = Plan("demo", (Step("touch marker", argv=("touch", str(marker))),
                         Step("needs the gate", argv=("test", "-e", str(gate)))))
    args = argparse.Namespace(dry_run=False)
    with pytest.raises(ApplyFailed):
        run_plan(plan, LocalRunner(), args=args, journal_name="demo")
    assert marker.exists() and "[1/2  50%] done" in capsys.readouterr().err
    marker.unlink()
    gate.touch()
    again = run_plan(plan, LocalRunner(), args=args, journal_name="demo")
    assert [s.title for s in again.skipped] == ["touch marker"]  # resumed from the journal
    assert not marker.exists()
    # the plan completed: its journal is closed (kept under done/) and no longer skips anything
    journals = tmp_path / "state" / "journal"
    assert not list(journals.glob("demo-*.jsonl")) and list((journals / "done").glob("demo-*.jsonl"))
    third = run_plan(plan, LocalRunner(), args=args, journal_name="demo")
    assert [s.title for s in third.done] == ["touch marker", "needs the gate"] and marker.exists()


def test_a_plan_piped_into_head_exits_quietly(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    spec = Path(__file__).resolve().parents[2] / "data" / "gluster" / "spec-six.yaml"
    # a pipe whose reader is already gone (what `| head -1` leaves behind once it has its line):
    # every write gets EPIPE, whatever the size of the output or the timing
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.Popen([sys.executable, "-m", "nodecore.cli", "--log-file", str(tmp_path / "log"),
                             "gluster", "deploy", str(spec), "--dry-run"],
                            stdout=write_end, stderr=subprocess.PIPE)
    os.close(write_end)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err
