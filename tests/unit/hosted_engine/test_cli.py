"""`hcinode hosted-engine ...` without a host: dry runs on recorded probes, refusals, bad input, import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hosted_engine import cli as he_cli
from nodecore.cli import main
from tests.unit.hosted_engine.conftest import DATA, SPEC_FILE
from tests.unit.hosted_engine.test_preflight import healthy_runner
from tests.unit.hosted_engine.test_spec import BAD, _set


@pytest.fixture(autouse=True)
def _dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr("nodecore.kvmprobe.cached_result", lambda: True)


def _recorded(monkeypatch: pytest.MonkeyPatch, spec, **responses):
    runner = healthy_runner(spec)
    for prefix, code in responses.items():
        _override(runner, prefix.split(), returncode=code)
    monkeypatch.setattr(he_cli, "_runner", lambda: runner)
    return runner


def _override(runner, prefix, **answer):
    runner.responses = [r for r in runner.responses if r[0] != tuple(prefix)]
    runner.respond(prefix, **answer)


def test_deploy_dry_run_prints_the_plan_and_changes_nothing(spec, monkeypatch, capsys):
    runner = _recorded(monkeypatch, spec)
    before = dict(runner.files)
    assert main(["hosted-engine", "deploy", str(SPEC_FILE), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Plan: hosted engine engine.example.com")
    assert "virsh start HostedEngine" in out
    assert all(a[:2] not in (("virsh", "start"), ("virsh", "define")) for a in runner.argvs)
    assert runner.files == before


def test_deploy_refuses_a_busy_ip_with_exit_2_naming_the_field(spec, monkeypatch, capsys):
    _recorded(monkeypatch, spec, **{"ping -c 1 -W 1 -n 192.0.2.10": 0})
    assert main(["hosted-engine", "deploy", str(SPEC_FILE), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "network.ip: 192.0.2.10 is in use" in err


def test_deploy_refuses_a_volume_that_is_not_replica_3(spec, monkeypatch, capsys, tmp_path):
    runner = _recorded(monkeypatch, spec)
    info = (DATA.parent / "gluster" / "status" / "volume-info.xml").read_text()
    _override(runner, ["gluster", "volume", "info", "engine"], stdout=info.replace(
        "<replicaCount>3</replicaCount>", "<replicaCount>1</replicaCount>"))
    assert main(["hosted-engine", "deploy", str(SPEC_FILE)]) == 2
    assert "storage.volume: engine is Replicate with replica 1" in capsys.readouterr().err


def test_deploy_refuses_an_fqdn_that_does_not_resolve(monkeypatch, capsys, tmp_path):
    data = yaml.safe_load(SPEC_FILE.read_text())
    data["engine"]["hosts"] = {}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    from hosted_engine.spec import load_spec

    spec, _ = load_spec(str(path))
    runner = _recorded(monkeypatch, spec)
    _override(runner, ["getent", "ahostsv4", "engine.example.com"], returncode=2)
    assert main(["hosted-engine", "deploy", str(path), "--dry-run"]) == 2
    assert "engine.fqdn: engine.example.com does not resolve" in capsys.readouterr().err


def test_a_bad_spec_is_exit_2_with_every_field(tmp_path, capsys):
    data = yaml.safe_load(SPEC_FILE.read_text())
    data["vm"]["vcpus"] = 0
    data["network"]["gateway"] = "10.0.0.1"
    data["sanlock"]["io_timeout"] = 99
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["hosted-engine", "deploy", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "vm.vcpus" in err and "network.gateway" in err and "sanlock.io_timeout" in err


def test_import_answers_prints_a_spec_and_keeps_the_password_in_a_0600_file(tmp_path, capsys):
    password_file = tmp_path / "pw"
    assert main(["hosted-engine", "import-answers", str(DATA / "answers.conf"),
                 "--admin-password-file", str(password_file)]) == 0
    captured = capsys.readouterr()
    spec = yaml.safe_load(captured.out)
    assert spec["engine"]["admin_password_file"] == str(password_file)
    assert "Correct-Horse-Battery-42" not in captured.out + captured.err
    assert "Root-Secret-Pw-77" not in captured.out + captured.err
    assert "ignored: OVEHOSTED_NOTIF/smtpServer" in captured.err
    assert password_file.read_text() == "Correct-Horse-Battery-42\n"
    assert os.stat(password_file).st_mode & 0o777 == 0o600


def test_import_answers_names_unknown_keys_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "answers.conf"
    bad.write_text((DATA / "answers.conf").read_text() + "OVEHOSTED_VM/vmMemSizeMb=int:4096\n")
    assert main(["hosted-engine", "import-answers", str(bad), "--admin-password-file", str(tmp_path / "pw")]) == 2
    err = capsys.readouterr().err
    assert "OVEHOSTED_VM/vmMemSizeMb: unknown key (did you mean OVEHOSTED_VM/vmMemSizeMB?)" in err
    assert not (tmp_path / "pw").exists()


def test_cleanup_refuses_without_the_flag(capsys):
    assert main(["hosted-engine", "cleanup", str(SPEC_FILE)]) == 2
    err = capsys.readouterr().err
    assert "--yes-destroy-data" in err and "Remove this deployment's directory" in err


def test_cleanup_dry_run(capsys):
    assert main(["hosted-engine", "cleanup", str(SPEC_FILE), "--dry-run"]) == 0
    assert "virsh undefine HostedEngine" in capsys.readouterr().out


def test_console_hands_the_terminal_to_virsh_console(monkeypatch):
    seen = []
    monkeypatch.setattr(he_cli, "run_interactive", lambda argv: seen.append(argv) or 0)
    assert main(["hosted-engine", "console"]) == 0
    assert seen == [["virsh", "console", "HostedEngine"]]


@pytest.mark.parametrize(("field", "value", "named", "words"), BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_every_bad_spec_field_is_exit_2_naming_it_before_any_probe(field, value, named, words, tmp_path,
                                                                   monkeypatch, capsys):
    def no_runner():
        raise AssertionError("a bad spec must be refused before anything runs on the host")

    monkeypatch.setattr(he_cli, "_runner", no_runner)
    data = yaml.safe_load(SPEC_FILE.read_text())
    _set(data, field, value)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["hosted-engine", "deploy", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {named}: " in err and words in err
