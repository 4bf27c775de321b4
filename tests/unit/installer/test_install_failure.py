"""A step of the install that raises anything (blivet's StorageError, an InvalidInput from a check an
action makes) is the install's named failure: %onerror runs, the logs are kept on the target, exit 1
with the step, its log and what to do, never "nothing was changed"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from installer import target
from nodecore.cli import main
from nodecore.errors import InvalidInput
from nodecore.report import ValidationReport
from tests.unit.installer.test_kickstart import DATA

FACTS = DATA / "facts" / "qemu-virtio.json"
HASH = ("$6$rounds=5000$hcinodetestsalt$3ygPdd2k1Zs0aMTNHo0uQ8dv0rBqeTEO4fVxTeBCFdJ6SxVFB8/"
        "8bHb8ffRH7Nqb6lVbE0H2ZLGfHiXt0vWi/")


class StorageError(Exception):
    """Stands for blivet.errors.StorageError (a class the executor does not know)."""


def kickstart(tmp_path: Path) -> Path:
    ks = tmp_path / "ks.cfg"
    ks.write_text(f"ignoredisk --only-use=vda\nclearpart --all --initlabel\nautopart --type=thinp\n"
                  f"rootpw --iscrypted {HASH}\nnetwork --device=ens3 --hostname=n1.example.com\nreboot\n"
                  "%onerror\necho onerror-ran > \"$HCINODE_TARGET/onerror-ran\"\n%end\n")
    return ks


@pytest.fixture
def fake_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Installer actions that record instead of touching disks; the target root counts as mounted."""
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    ran: list[str] = []
    fakes: dict[str, Any] = {name: (lambda _r, _p, n=name: ran.append(n)) for name in target.ACTIONS}
    monkeypatch.setattr(target, "ACTIONS", fakes)
    monkeypatch.setattr(target, "target_root_mounted", lambda path: True)
    monkeypatch.setattr(target, "mounted_device", lambda path: "/dev/mapper/onn-var_log")
    return {"actions": fakes, "ran": ran}


def _fail(exc: BaseException) -> Any:
    def action(_runner: Any, _params: Any) -> None:
        raise exc
    return action


def test_a_foreign_exception_in_a_storage_step_runs_onerror_keeps_logs_and_names_the_clearpart_line(
        tmp_path: Path, fake_target: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fake_target["actions"]["storage_apply"] = _fail(StorageError("vda: device is in use by md127"))
    work = tmp_path / "work"
    (work / "target").mkdir(parents=True)  # what mount_target would have made
    rc = main(["install", "--kickstart", str(kickstart(tmp_path)), "--facts", str(FACTS), "--work-dir", str(work)])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "the install FAILED at step 2/" in err and "Partition and format" in err
    assert "StorageError: vda: device is in use by md127" in err
    assert "%onerror script 1 ran (exit code 0)" in err
    assert "add 'clearpart --all --initlabel --drives=vda' to the kickstart" in err
    assert "run again to resume at step 2: hcinode install --kickstart" in err
    assert "installer log: " in err and "nothing was changed" not in err
    root = work / "target"
    assert (root / "onerror-ran").read_text() == "onerror-ran\n"  # %onerror saw HCINODE_TARGET
    kept = root / "var" / "log" / "hcinode-install"
    assert {"ks-script-onerror-1.log", "hcinode-ks.cfg", "install-failed.txt"} <= {p.name for p in kept.iterdir()}
    assert "StorageError" in (kept / "install-failed.txt").read_text()


def test_invalid_input_raised_after_the_first_write_is_exit_1_not_nothing_changed(
        tmp_path: Path, fake_target: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    report = ValidationReport("node settings")
    report.error("keyboard", "unknown keyboard layout 'DE'")
    fake_target["actions"]["first_boot_network"] = _fail(InvalidInput(report))
    rc = main(["install", "--kickstart", str(kickstart(tmp_path)), "--facts", str(FACTS),
               "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "unknown keyboard layout 'DE'" in err and "nothing was changed" not in err
    assert "%onerror script 1 ran" in err and "resume at step" in err
    assert "storage_apply" in fake_target["ran"]


def test_a_refusal_after_pre_scripts_ran_does_not_claim_nothing_changed(
        tmp_path: Path, fake_target: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    ks = tmp_path / "ks.cfg"
    ks.write_text(kickstart(tmp_path).read_text().replace("only-use=vda", "only-use=vdz")
                  + "%pre\necho pre-ran\n%end\n")
    rc = main(["install", "--kickstart", str(ks), "--facts", str(FACTS), "--work-dir", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "vdz" in err and "the kickstart's %pre scripts ran" in err and "nothing was changed" not in err
    assert not fake_target["ran"]


def test_a_good_install_keeps_the_installer_log_on_the_target(
        tmp_path: Path, fake_target: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    kept: list[Any] = []
    fake_target["actions"]["keep_logs"] = lambda _r, params: kept.append(params)
    log_file = tmp_path / "hcinode.log"
    rc = main(["--log-file", str(log_file), "install", "--kickstart", str(kickstart(tmp_path)),
               "--facts", str(FACTS), "--work-dir", str(tmp_path / "work")])
    assert rc == 0, capsys.readouterr().err
    assert [p.get("extra") for p in kept] == [[str(log_file)]]
