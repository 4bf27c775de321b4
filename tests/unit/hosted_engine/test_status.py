"""`hosted-engine status` from the metadata file: rows, stale judgement, corrupt slots, the CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hosted_engine import metadata as md
from hosted_engine.status import collect, render_text

DEPLOYMENT = "11111111-2222-4333-8444-555555555555"
NOW = 1700000100.0


def setup_files(tmp_path: Path) -> tuple[Path, md.MetadataFile]:
    d = tmp_path / "mnt" / "hosted-engine" / DEPLOYMENT
    d.mkdir(parents=True)
    meta = md.MetadataFile(str(d / "metadata"), allow_buffered=True)
    meta.create()
    meta.write_host(md.HostSlot(1, "node1", DEPLOYMENT, NOW - 5, 9, 3400, "EngineUp", "up", "good", "running"))
    meta.write_host(md.HostSlot(2, "node2", DEPLOYMENT, NOW - 500, 3, 2800, "EngineDown", "down", "unknown", "none",
                                local_maintenance=True))
    meta.write_block(7, {"kind": "host", "host_id": 7})
    meta.write_global(md.GlobalSlot(DEPLOYMENT, True, NOW, 1, 1))
    host = tmp_path / "host.json"
    host.write_text(json.dumps({"host_id": 1, "deployment": DEPLOYMENT, "mount": str(tmp_path / "mnt")}))
    return host, meta


def test_rows_by_wall_clock_without_an_agent(tmp_path: Path) -> None:
    _host, meta = setup_files(tmp_path)
    status = collect(meta.path, DEPLOYMENT, agent_file=str(tmp_path / "none.json"), wall=lambda: NOW,
                     allow_buffered=True)
    assert status.global_maintenance is True and status.liveness_source == "wall clock"
    one, two, seven = status.hosts
    assert (one.hostname, one.engine_status, one.score, one.up_to_date) == \
        ("node1", {"vm": "up", "health": "good", "detail": "Up"}, 3400, True)
    assert not two.up_to_date and two.local_maintenance
    assert seven.problem.startswith("corrupt")
    text = render_text(status)
    assert "--== Host node1 (id: 1) status ==--" in text and "Global maintenance: ENABLED" in text
    assert "(stale)" in text and "not used by any agent" in text


def test_agent_view_wins_when_fresh(tmp_path: Path) -> None:
    _host, meta = setup_files(tmp_path)
    agent_file = tmp_path / "hosted-engine.json"
    agent_file.write_text(json.dumps({"hosts": [{"host_id": 2, "alive": True}]}))
    os.utime(agent_file, (NOW, NOW))
    status = collect(meta.path, DEPLOYMENT, my_host_id=1, agent_file=str(agent_file), wall=lambda: NOW,
                     allow_buffered=True)
    assert status.liveness_source == "agent" and status.hosts[1].up_to_date
    os.utime(agent_file, (NOW - 100, NOW - 100))
    assert collect(meta.path, DEPLOYMENT, agent_file=str(agent_file), wall=lambda: NOW,
                   allow_buffered=True).liveness_source == "wall clock"


def test_cli_status_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    from hosted_engine import ha_cli

    host, _meta = setup_files(tmp_path)
    parser = argparse.ArgumentParser()
    ha_cli.register(parser.add_subparsers())
    args = parser.parse_args(["status", "--json", "--host-file", str(host), "--run-dir", str(tmp_path / "run")])
    args.log_path = str(tmp_path / "log")
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [h["host_id"] for h in data["hosts"]] == [1, 2, 7] and data["global_maintenance"] is True
    args = parser.parse_args(["status", "--host-file", str(host), "--run-dir", str(tmp_path / "run")])
    assert args.func(args) == 0
    assert "Hostname" in capsys.readouterr().out


def test_cli_missing_host_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from hosted_engine import ha_cli
    from nodecore.errors import InvalidInput

    parser = argparse.ArgumentParser()
    ha_cli.register(parser.add_subparsers())
    args = parser.parse_args(["status", "--host-file", str(tmp_path / "nope.json")])
    with pytest.raises(InvalidInput):
        args.func(args)


def test_rows_carry_sequence_stale_maintenance_and_the_agents_problems(tmp_path: Path) -> None:
    _host, meta = setup_files(tmp_path)
    agent_file = tmp_path / "hosted-engine.json"
    agent_file.write_text(json.dumps({
        "hosts": [{"host_id": 2, "alive": False, "changed_ago": 75.0}],
        "metadata_problems": [{"slot": 7, "status": "corrupt", "error": "host slot field missing"}],
        "lockspace_problem": "sanlock inq_lockspace: read failure [-223]",
        "penalties": {"bridge": 600, "cpu": 200}}))
    os.utime(agent_file, (NOW, NOW))
    status = collect(meta.path, DEPLOYMENT, my_host_id=1, agent_file=str(agent_file), wall=lambda: NOW,
                     allow_buffered=True)
    data = status.to_dict()
    one, two = data["hosts"][0], data["hosts"][1]
    assert (one["sequence"], one["stale"], one["maintenance"], one["changed_ago"]) == (9, False, "global", None)
    assert (two["stale"], two["maintenance"], two["changed_ago"]) == (True, "local", 75.0)
    assert one["unix_timestamp"] == NOW - 5
    # the agent's penalties explain this host's own score; a peer's are not known here
    assert (one["penalties"], two["penalties"]) == ({"bridge": 600, "cpu": 200}, None)
    assert data["agent_problems"] == ["metadata slot 7 is corrupt: host slot field missing",
                                      "lockspace: sanlock inq_lockspace: read failure [-223]"]
    text = render_text(status)
    assert "Metadata sequence                  : 3 (changed 75 s ago)" in text
    assert "Score penalties                    : bridge -600, cpu -200" in text
    assert text.count("Score penalties") == 1
    assert "Agent here says: lockspace: sanlock inq_lockspace: read failure [-223] (not acted on)" in text


def test_maintenance_none_when_global_is_off(tmp_path: Path) -> None:
    _host, meta = setup_files(tmp_path)
    meta.write_global(md.GlobalSlot(DEPLOYMENT, False, NOW, 2, 1))
    data = collect(meta.path, DEPLOYMENT, agent_file=str(tmp_path / "none.json"), wall=lambda: NOW,
                   allow_buffered=True).to_dict()
    assert [h["maintenance"] for h in data["hosts"]] == ["none", "local", "none"]
