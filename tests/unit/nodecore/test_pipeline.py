"""The one operation pipeline: validate -> plan -> apply -> verify, and its journal policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodecore import pipeline
from nodecore.errors import InvalidInput
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport
from nodecore.runner import RecordingRunner


@pytest.fixture(autouse=True)
def _state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))


PLAN = Plan("demo", (Step("a", argv=("make", "a")), Step("b", argv=("make", "b"))))


def test_invalid_input_stops_before_the_plan_is_made_or_anything_runs() -> None:
    report = ValidationReport("demo")
    report.error("name", "missing")
    runner = RecordingRunner()
    made: list[Plan] = []
    with pytest.raises(InvalidInput):
        pipeline.run(name="demo", validate=lambda: report, plan=lambda: made.append(PLAN) or PLAN, runners=runner)
    assert not made and runner.argvs == []


def test_verify_reads_back_and_fails_the_operation_when_the_change_did_not_take() -> None:
    def verify(plan: Plan) -> ValidationReport:
        report = ValidationReport("read back")
        report.error("hostname", "is node01, not node07")
        return report

    with pytest.raises(pipeline.VerifyFailed) as info:
        pipeline.apply(PLAN, RecordingRunner(), name="demo", verify=verify)
    assert info.value.exit_code == 1 and "is node01, not node07" in str(info.value)
    assert "every step ran" in str(info.value)


def test_a_completed_plan_closes_its_journal(tmp_path: Path) -> None:
    pipeline.apply(PLAN, RecordingRunner(), name="demo")
    journals = tmp_path / "state" / "journal"
    assert [p.name for p in (journals / "done").iterdir()] == [f"demo-{PLAN.id}.jsonl"]
    again = RecordingRunner()
    pipeline.apply(PLAN, again, name="demo")
    assert again.argvs == [("make", "a"), ("make", "b")]


def test_no_journal_when_the_plan_opts_out(tmp_path: Path) -> None:
    pipeline.apply(PLAN, RecordingRunner(), name="demo", journal=False)
    assert not (tmp_path / "state" / "journal").exists()
