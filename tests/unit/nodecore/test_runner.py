import logging
import os
import time

import pytest

from nodecore.errors import CommandFailed
from nodecore.runner import DryRunRunner, HostRunner, LocalRunner, RecordingRunner
from nodecore.secrets import MASK, Secret, redact


def test_local_runner_captures_output_and_exit_code():
    result = LocalRunner().run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_local_runner_raises_with_argv_rc_and_stderr_tail():
    with pytest.raises(CommandFailed) as info:
        LocalRunner().run(["sh", "-c", "for i in $(seq 1 40); do echo line$i >&2; done; exit 7"])
    exc = info.value
    assert exc.returncode == 7
    assert exc.argv[0] == "sh"
    assert "line40" in exc.stderr_tail() and "line10" not in exc.stderr_tail()
    assert "exited with code 7" in str(exc)


def test_local_runner_timeout():
    with pytest.raises(CommandFailed, match="timed out"):
        LocalRunner().run(["sleep", "5"], timeout=0.2)


def test_missing_command_is_a_clear_failure():
    with pytest.raises(CommandFailed, match="command not found"):
        LocalRunner().run(["no-such-command-hcinode"])


def test_quiet_runner_logs_the_command_at_debug_and_failures_as_ever(caplog):
    caplog.set_level(logging.INFO, logger="hcinode.runner")
    LocalRunner(quiet=True).run(["true"])
    assert caplog.records == []
    with pytest.raises(CommandFailed):
        LocalRunner(quiet=True).run(["sleep", "5"], timeout=0.2)
    assert [r.levelname for r in caplog.records] == ["ERROR"] and "timed out" in caplog.text
    caplog.clear()
    LocalRunner().run(["true"])
    assert [r.getMessage() for r in caplog.records] == ["run: true"]


def test_secret_goes_on_stdin_and_never_into_logs(caplog):
    secret = Secret("s3cret-Passw0rd")
    caplog.set_level(logging.DEBUG, logger="hcinode.runner")
    result = LocalRunner().run(["sh", "-c", "read pw; echo got $pw >&2; exit 1"], stdin=secret, check=False)
    assert "s3cret-Passw0rd" in result.stderr  # the command really received it
    assert "s3cret-Passw0rd" not in caplog.text
    with pytest.raises(CommandFailed) as info:
        LocalRunner().run(["sh", "-c", "read pw; echo bad password $pw >&2; exit 1"], stdin=secret)
    assert "s3cret-Passw0rd" not in str(info.value)
    assert MASK in str(info.value)


def test_secret_in_argv_is_refused():
    with pytest.raises(TypeError, match="stdin"):
        LocalRunner().run(["echo", Secret("pw-in-argv")])  # type: ignore[list-item]


def test_redact_masks_every_known_secret():
    Secret("tok-123456")
    assert redact("Authorization: tok-123456 ok") == f"Authorization: {MASK} ok"


def test_write_file_is_atomic_and_sets_mode(tmp_path):
    path = tmp_path / "etc" / "conf"
    LocalRunner().write_file(str(path), "a=1\n", mode=0o600)
    assert path.read_text() == "a=1\n"
    assert path.stat().st_mode & 0o777 == 0o600
    assert not list(path.parent.glob("*.hcinode-tmp"))


def test_recording_runner_records_and_answers_by_longest_prefix():
    runner = RecordingRunner()
    runner.respond(["pvs"], returncode=5)
    runner.respond(["pvs", "/dev/sdb"], stdout="  /dev/sdb vg\n")
    assert runner.run(["pvs", "/dev/sdb"]).stdout == "  /dev/sdb vg\n"
    assert runner.run(["pvs", "/dev/sdc"], check=False).returncode == 5
    runner.run(["chpasswd"], stdin=Secret("xyz-secret"))
    assert runner.argvs == [("pvs", "/dev/sdb"), ("pvs", "/dev/sdc"), ("chpasswd",)]
    assert runner.calls[-1].stdin == MASK
    with pytest.raises(CommandFailed):
        runner.run(["pvs", "/dev/sdd"])


def test_dry_run_runner_changes_nothing(tmp_path):
    lines = []
    runner = DryRunRunner(echo=lines.append)
    runner.run(["rm", "-rf", str(tmp_path)])
    runner.write_file(str(tmp_path / "x"), "data")
    assert tmp_path.exists() and not (tmp_path / "x").exists()
    assert lines[0].startswith("would run: rm -rf")
    assert lines[1].startswith("would write:")


def test_ssh_host_runner_quotes_the_remote_command_and_verifies_host_keys():
    inner = RecordingRunner()
    host = HostRunner.ssh("198.51.100.11", known_hosts="/k/known_hosts", identity="/k/id", inner=inner)
    host.run(["mkdir", "-p", "/gluster bricks/engine"])
    argv = inner.argvs[0]
    assert "StrictHostKeyChecking=yes" in argv and "UserKnownHostsFile=/k/known_hosts" in argv
    assert argv[-3:] == ("root@198.51.100.11", "--", "mkdir -p '/gluster bricks/engine'")


def test_namespace_host_runner_runs_for_real():
    # nsenter without namespaces runs in the current ones: proves the prefix/argv plumbing end to end
    host = HostRunner("self", ["env"])
    assert host.run(["echo", "hi"]).stdout == "hi\n"
    with pytest.raises(CommandFailed) as info:
        host.run(["false"])
    assert info.value.argv[0] == "[self]"


def test_host_runner_writes_files_through_the_wrapper(tmp_path):
    host = HostRunner("self", ["env"])
    target = tmp_path / "sub" / "file.conf"
    host.write_file(str(target), "x=1\n", mode=0o640)
    assert target.read_text() == "x=1\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert host.read_file(str(target)) == b"x=1\n"


def test_commands_never_get_the_callers_terminal() -> None:
    # the console's stdin is a raw-mode terminal: a command reading it would hang the install
    master, slave = os.openpty()
    saved = os.dup(0)
    try:
        os.dup2(slave, 0)  # like the console: stdin is a terminal nobody types into for `cat`
        started = time.monotonic()
        result = LocalRunner().run(["cat"], timeout=10)
        assert result.ok and result.stdout == "" and time.monotonic() - started < 5
        assert LocalRunner().run(["cat"], stdin="given").stdout == "given"
    finally:
        os.dup2(saved, 0)
        for fd in (saved, master, slave):
            os.close(fd)


def test_local_write_file_never_follows_a_planted_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    target = tmp_path / "etc" / "app.conf"
    target.parent.mkdir()
    # the old fixed temporary name, planted by someone who can write the directory
    (tmp_path / "etc" / "app.conf.hcinode-tmp").symlink_to(victim)
    LocalRunner().write_file(str(target), "new\n", mode=0o600)
    assert victim.read_text() == "precious\n"
    assert target.read_text() == "new\n" and target.stat().st_mode & 0o777 == 0o600
    # a symlink at the path itself is replaced, not written through
    link = tmp_path / "etc" / "link.conf"
    link.symlink_to(victim)
    LocalRunner().write_file(str(link), "other\n")
    assert victim.read_text() == "precious\n" and not link.is_symlink() and link.read_text() == "other\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["app.conf", "app.conf.hcinode-tmp", "link.conf"]


def test_host_write_file_never_follows_a_planted_symlink_and_quotes_nothing_into_the_script(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    inner = LocalRunner()
    host = HostRunner("self", ["env"], inner=inner)
    odd = tmp_path / "it's; touch pwned"
    target = odd / "a\nb.conf"
    odd.mkdir()
    (odd / "a\nb.conf.hcinode-tmp").symlink_to(victim)
    host.write_file(str(target), "x\n", mode=0o640)
    assert victim.read_text() == "precious\n" and target.read_text() == "x\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert not (tmp_path / "pwned").exists() and not os.path.exists("pwned")


def test_private_dir_refuses_what_others_could_control(tmp_path):
    from nodecore.runner import UnsafeDirectory, private_dir

    made = tmp_path / "ssh"
    assert private_dir(str(made)) == str(made) and made.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    with pytest.raises(UnsafeDirectory, match="mode 755"):
        private_dir(str(loose))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(UnsafeDirectory, match="not a directory"):
        private_dir(str(tmp_path / "link"))
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # world-writable without the sticky bit: anyone could swap "ssh" below it
    with pytest.raises(UnsafeDirectory, match="other users"):
        private_dir(str(shared / "ssh"))


def test_ssh_runner_checks_its_control_directory(tmp_path):
    from nodecore.runner import UnsafeDirectory

    loose = tmp_path / "control"
    loose.mkdir()
    loose.chmod(0o777)
    with pytest.raises(UnsafeDirectory):
        HostRunner.ssh("198.51.100.11", known_hosts="/k", control_dir=str(loose), inner=RecordingRunner())
    ok = HostRunner.ssh("198.51.100.11", known_hosts="/k", control_dir=str(tmp_path / "c"), inner=RecordingRunner())
    assert f"ControlPath={tmp_path / 'c'}/%C" in ok.prefix and ok.prefix[-2:] == ("root@198.51.100.11", "--")


def test_run_interactive_returns_the_exit_code_and_127_for_a_missing_command() -> None:
    from nodecore.runner import run_interactive

    assert run_interactive(["sh", "-c", "exit 3"]) == 3
    assert run_interactive(["hcinode-no-such-command"]) == 127
