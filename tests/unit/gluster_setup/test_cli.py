"""`hcinode gluster ...` verbs that need no hosts: dry runs, refusals, inventory import."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from nodecore.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "gluster"


@pytest.fixture(autouse=True)
def _logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))


def test_deploy_dry_run_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gluster", "deploy", str(DATA / "spec-raid6.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "[hc2] create thin pool gluster_thinpool on hc2" in out
    assert "phases: bricks (parallel on hc1, hc2, hc3); cluster (on hc1)" in out


def test_deploy_dry_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gluster", "deploy", str(DATA / "spec-jbod.yaml"), "--dry-run", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in data["phases"]] == ["bricks", "cluster", "mounts"]
    assert all(s["check"] for s in data["steps"])


def test_expand_dry_run_with_new_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gluster", "expand", str(DATA / "spec-six.yaml"), "--dry-run"]
    for i in (4, 5, 6):
        argv += ["--new", f"10.10.0.{i}"]
    assert main(argv) == 0
    assert "add-brick engine replica 3 10.10.0.4:" in capsys.readouterr().out


def test_teardown_needs_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gluster", "teardown", str(DATA / "spec-jbod.yaml")]) == 2
    assert "--yes-destroy-data" in capsys.readouterr().err


def test_teardown_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gluster", "teardown", str(DATA / "spec-jbod.yaml"), "--dry-run"]) == 0
    assert "volume delete engine" in capsys.readouterr().out


def test_invalid_spec_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("hosts: [{address: 'x y'}]\nreplica: 2\n")
    assert main(["gluster", "deploy", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "hosts[0].address" in err and "replica" in err and "nothing was changed" in err


def test_import_inventory_to_file(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    assert main(["gluster", "import-inventory", str(DATA / "inventory-jbod.yml"), "-o", str(out)]) == 0
    spec = yaml.safe_load(out.read_text())
    assert len(spec["hosts"]) == 3 and spec["ssh"]["known_hosts"] == "/root/.ssh/known_hosts"


def test_import_bad_inventory(tmp_path: Path) -> None:
    bad = tmp_path / "inv.yml"
    bad.write_text("all: {}\n")
    assert main(["gluster", "import-inventory", str(bad)]) == 2
