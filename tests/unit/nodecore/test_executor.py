import json

import pytest

from nodecore.errors import ApplyFailed
from nodecore.executor import Executor, Journal, Progress
from nodecore.plan import Plan, Step
from nodecore.runner import LocalRunner, RecordingRunner


def plan_of(n: int) -> Plan:
    return Plan("demo", tuple(Step(f"step {i}", argv=("step", str(i))) for i in range(1, n + 1)))


def test_progress_reports_each_step_with_percent():
    seen: list[Progress] = []
    Executor(RecordingRunner(), progress=seen.append).execute(plan_of(4))
    done = [p for p in seen if p.state == "done"]
    assert [(p.index, p.total, p.percent) for p in done] == [(1, 4, 25), (2, 4, 50), (3, 4, 75), (4, 4, 100)]
    assert seen[0].line().startswith("[1/4   0%] running")


def test_stops_at_first_failure_naming_the_step(tmp_path):
    runner = RecordingRunner()
    runner.respond(["step", "3"], returncode=1, stderr="disk on fire")
    journal = Journal(str(tmp_path / "j.jsonl"))
    with pytest.raises(ApplyFailed) as info:
        Executor(runner, journal=journal, log_path="/var/log/x.log").execute(plan_of(5))
    message = str(info.value)
    assert "step 3 failed: step 3" in message and "disk on fire" in message
    assert "log: /var/log/x.log" in message and "re-run" in message
    assert runner.argvs == [("step", "1"), ("step", "2"), ("step", "3")]


def test_resume_after_simulated_crash_skips_finished_steps(tmp_path):
    journal_file = str(tmp_path / "journal.jsonl")
    runner = RecordingRunner()
    runner.respond(["step", "3"], returncode=137)  # the "crash" happens in step 3
    with pytest.raises(ApplyFailed):
        Executor(runner, journal=Journal(journal_file)).execute(plan_of(5))
    # a torn last line, as a power cut during the write would leave
    with open(journal_file, "a") as f:
        f.write('{"id": "trunc')
    second = RecordingRunner()
    result = Executor(second, journal=Journal(journal_file)).execute(plan_of(5))
    assert second.argvs == [("step", "3"), ("step", "4"), ("step", "5")]
    assert [s.title for s in result.skipped] == ["step 1", "step 2"]
    # and a third run has nothing left to do
    third = RecordingRunner()
    Executor(third, journal=Journal(journal_file)).execute(plan_of(5))
    assert third.argvs == []


def test_check_command_skips_steps_already_done():
    runner = RecordingRunner()
    runner.respond(["test", "-e", "/done"], returncode=0)
    runner.respond(["test", "-e", "/todo"], returncode=1)
    plan = Plan("p", (Step("a", argv=("make", "a"), check=("test", "-e", "/done")),
                      Step("b", argv=("make", "b"), check=("test", "-e", "/todo"))))
    result = Executor(runner).execute(plan)
    assert ("make", "a") not in runner.argvs and ("make", "b") in runner.argvs
    assert [s.title for s in result.skipped] == ["a"]


def test_named_actions_and_hosts(tmp_path):
    calls = []
    runners = {"": LocalRunner(), "h2": RecordingRunner(name="h2")}
    plan = Plan("p", (Step("write", action="note", params={"v": 1}),
                      Step("remote", argv=("gluster", "peer", "probe", "h1"), host="h2")))
    Executor(runners, actions={"note": lambda r, p: calls.append((r.name, p["v"]))}).execute(plan)
    assert calls == [("local", 1)]
    assert runners["h2"].argvs == [("gluster", "peer", "probe", "h1")]


def test_journal_is_json_lines_without_secrets(tmp_path):
    from nodecore.secrets import Secret

    path = tmp_path / "j.jsonl"
    plan = Plan("p", (Step("set password", argv=("chpasswd",), stdin=Secret("pa55-word-x")),))
    Executor(RecordingRunner(), journal=Journal(str(path))).execute(plan)
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert entries[0]["state"] == "done" and entries[0]["id"] == plan.steps[0].id
    assert "pa55-word-x" not in path.read_text()


class StorageError(Exception):
    """Stands for blivet.errors.StorageError: a class the executor knows nothing about."""


def _entries(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_any_exception_in_a_step_is_that_steps_named_journaled_failure(tmp_path):
    from nodecore.errors import InvalidInput
    from nodecore.report import ValidationReport

    def boom(_runner, _params):  # type: ignore[no-untyped-def]
        raise StorageError("no free space on vdz")

    def refuse(_runner, _params):  # type: ignore[no-untyped-def]
        report = ValidationReport("node settings")
        report.error("keyboard", "unknown layout DE")
        raise InvalidInput(report)

    for action, text in ((boom, "StorageError: no free space on vdz"), (refuse, "unknown layout DE")):
        path = tmp_path / f"{action.__name__}.jsonl"
        seen: list[Progress] = []
        plan = Plan("p", (Step("first", argv=("true",)), Step("partition", action="act")))
        with pytest.raises(ApplyFailed) as info:
            Executor(RecordingRunner(), actions={"act": action}, journal=Journal(str(path)),
                     progress=seen.append).execute(plan)
        assert info.value.step_index == 2 and info.value.step_title == "partition"
        assert info.value.exit_code == 1 and info.value.changed  # after a write: never "nothing was changed"
        assert text in str(info.value)
        assert [(e["title"], e["state"]) for e in _entries(path)] == [("first", "done"), ("partition", "failed")]
        assert text in _entries(path)[1]["error"]
        assert seen[-1].state == "failed" and seen[-1].title == "partition"


def test_a_failure_before_anything_ran_says_nothing_changed():
    plan = Plan("p", (Step("remote", argv=("true",), host="nowhere"),))
    with pytest.raises(ApplyFailed) as info:
        Executor(RecordingRunner()).execute(plan)
    assert not info.value.changed and "nothing was changed" in str(info.value)


def test_keyboard_interrupt_is_journaled_as_interrupted_and_re_raised(tmp_path):
    def interrupt(_runner, _params):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    path = tmp_path / "j.jsonl"
    plan = Plan("p", (Step("first", argv=("true",)), Step("long", action="long"), Step("last", argv=("true",))))
    with pytest.raises(KeyboardInterrupt):
        Executor(RecordingRunner(), actions={"long": interrupt}, journal=Journal(str(path))).execute(plan)
    assert [e["state"] for e in _entries(path)] == ["done", "interrupted"]
    again = RecordingRunner()
    result = Executor(again, actions={"long": lambda r, p: None}, journal=Journal(str(path))).execute(plan)
    assert [s.title for s in result.skipped] == ["first"] and [s.title for s in result.done] == ["long", "last"]


def test_one_shot_steps_are_never_skipped_by_a_journal(tmp_path):
    path = str(tmp_path / "j.jsonl")
    plan = Plan("Reboot", (Step("Reboot the node", argv=("systemctl", "reboot"), one_shot=True),))
    for _ in range(3):
        runner = RecordingRunner()
        Executor(runner, journal=Journal(path)).execute(plan)
        assert runner.argvs == [("systemctl", "reboot")]
    assert {e["state"] for e in _entries(tmp_path / "j.jsonl")} == {"ran"}


def test_a_failed_steps_journal_error_holds_no_secret_and_no_url_credentials(tmp_path):
    from nodecore.secrets import Secret

    Secret("Jour-nal-pw-9")

    def boom(_runner, _params):  # type: ignore[no-untyped-def]
        raise StorageError("login Jour-nal-pw-9 refused by http://u:Url-pw-9@h.example/x?token=Tok-9")

    path = tmp_path / "j.jsonl"
    plan = Plan("p", (Step("fetch", action="boom"),))
    with pytest.raises(ApplyFailed):
        Executor(RecordingRunner(), journal=Journal(str(path)), actions={"boom": boom}).execute(plan)
    text = path.read_text()
    assert "refused by" in text and not any(s in text for s in ("Jour-nal-pw-9", "Url-pw-9", "Tok-9")), text
