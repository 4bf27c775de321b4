"""The CLI verbs that work without a running NetworkManager: --dry-run plans, validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodecore.cli import main

DATA = Path(__file__).resolve().parents[2] / "data" / "node_setup"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    # never reach a real NetworkManager from a unit test
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/no-bus")


def test_network_apply_dry_run_prints_plan(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["network", "apply", str(DATA / "bond-vlan-bridge.yaml"), "--dry-run", "--rollback-timeout", "60"])
    out = capsys.readouterr()
    assert rc == 0
    assert "Create a NetworkManager checkpoint (rolls back in 60 s" in out.out
    assert "Activate bond0" in out.out and "Check connectivity (ping 198.51.100.1)" in out.out
    assert "Write /etc/hostname" not in out.out  # network apply leaves identity alone


def test_network_apply_dry_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["network", "apply", str(DATA / "lacp-jumbo.yaml"), "--dry-run", "--json", "--no-check"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert [s["action"] for s in plan["steps"]][0] == "nm_checkpoint"
    assert "connectivity_check" not in [s["action"] for s in plan["steps"]]


def test_invalid_file_exits_2_with_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("interfaces:\n"
                   "  - {name: eth0, ipv4: {method: static, addresses: [10.0.0.5/24], gateway: 10.1.0.1}}\n"
                   "vlans:\n  - {name: v1, parent: eth9, id: 5000}\n")
    assert main(["network", "apply", str(bad), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "outside the subnet" in err and "out of range" in err and "not defined" in err
    assert "nothing was changed" in err


def test_bad_rollback_timeout_is_invalid_input() -> None:
    assert main(["network", "apply", str(DATA / "dhcp.yaml"), "--rollback-timeout", "2"]) == 2


@pytest.mark.parametrize("seconds", ["0", "-5"])
def test_node_apply_refuses_to_turn_the_rollback_off(seconds: str, capsys: pytest.CaptureFixture[str]) -> None:
    # the same rule as `network apply`: 0 or less would turn NetworkManager's rollback off
    assert main(["node", "apply", str(DATA / "static-mac.yaml"), "--dry-run", "--rollback-timeout", seconds]) == 2
    assert "--rollback-timeout" in capsys.readouterr().err


def test_node_apply_refuses_duplicate_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "node.yaml"
    f.write_text("hostname: node1\nkeyboard: us\nhostname: node2\n")
    assert main(["node", "apply", str(f), "--dry-run"]) == 2
    assert "key 'hostname' is given twice (first on line 1)" in capsys.readouterr().err


def test_node_set_hostname_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "set", "hostname", "node9", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Write /etc/hostname" in out and "hostname node9" in out and "sshd" not in out


def test_node_set_password_never_shown(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("Corr3ct-horse-battery\n"))
    assert main(["node", "set", "password", "--stdin", "--dry-run", "--json"]) == 0
    out = capsys.readouterr().out
    assert "Corr3ct-horse-battery" not in out and "$6$" not in out
    assert "chpasswd" in out


def test_node_apply_dry_run_full(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "apply", str(DATA / "static-mac.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Write /etc/hostname" in out and "Add profile mgmt (ethernet)" in out
