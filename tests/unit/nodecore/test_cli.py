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


def _registered_verbs(package: str) -> list[str]:
    import argparse
    import importlib

    sub = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(f"{package}.cli").register(sub)
    return list(sub.choices)


def test_the_verb_table_names_exactly_what_each_package_registers() -> None:
    import importlib.util
    from pathlib import Path

    from nodecore.cli import COMMAND_PACKAGES, COMMANDS

    root = Path(__file__).resolve().parents[3]
    with_cli = {p.parent.name for p in root.glob("*/cli.py")} - {"nodecore"}
    assert set(COMMAND_PACKAGES) == with_cli
    for package in COMMAND_PACKAGES:
        assert importlib.util.find_spec(f"{package}.cli") is not None
        assert _registered_verbs(package) == [verb for verb, owner in COMMANDS.items() if owner == package]


@pytest.mark.parametrize(("argv", "packages"), [
    (["tui", "--dry-run"], ("tui",)),
    (["tui", "--help"], ("tui",)),
    (["tui", "-h"], ("tui",)),
    (["-v", "--log-file", "/tmp/x", "network", "show"], ("node_setup",)),
    (["--log-file=/tmp/x", "node", "set", "hostname", "n1"], ("node_setup",)),
    (["--log", "tui", "hosted-engine", "status"], ("hosted_engine",)),  # an abbreviation, as argparse reads it
    (["-x", "join", "--help"], ("agent",)),
    (["-vv", "update", "status"], ("update",)),
    (["facts", "--json"], ()),
])
def test_a_named_verb_loads_only_its_package(argv, packages) -> None:
    from nodecore.cli import command_packages

    assert command_packages(argv) == packages


@pytest.mark.parametrize("argv", [
    None, [], ["--help"], ["-h", "tui"], ["-vh", "tui"], ["--he"], ["bogus"], ["--log-file"], ["--version"],
    ["--v", "tui"],
])
def test_help_no_verb_unknown_verbs_and_unreadable_lines_load_every_package(argv) -> None:
    from nodecore.cli import COMMAND_PACKAGES, command_packages

    assert command_packages(argv) == COMMAND_PACKAGES


def test_help_still_lists_every_verb(capsys) -> None:
    from nodecore.cli import COMMANDS

    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for verb in ("facts", *COMMANDS):
        assert f"\n    {verb} " in out


def test_an_unknown_verb_is_refused_with_every_verb_listed(capsys) -> None:
    from nodecore.cli import COMMANDS

    with pytest.raises(SystemExit) as info:
        main(["bogus"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and all(repr(verb) in err for verb in COMMANDS)


def test_the_console_start_imports_no_other_package(tmp_path) -> None:
    import subprocess
    import sys

    # a fresh interpreter: this one has imported every package already
    probe = ("import contextlib, io, sys\nfrom nodecore.cli import main\n"
             "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
             "    main(['tui', '--help'])\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"HCINODE_LOG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout
    loaded = set(out.split())
    assert "tui" in loaded
    others = {"agent", "engine", "gluster_setup", "hosted_engine", "image_recipes", "installer", "node_setup",
              "update", "requests", "cryptography", "blivet", "pykickstart", "jinja2", "sqlalchemy"}
    assert not loaded & others
