"""%pre, %post and %onerror scripts: run through the runner, every output kept in a log.

Each script's output goes to `<log_dir>/ks-script-<kind>-<n>.log` (the install copies that
directory onto the target, so logs survive a failed install) and, with `--log=PATH`, also to
PATH (for %post in the chroot: PATH inside the target, as anaconda does).
"""

from __future__ import annotations

import logging
import os

from installer.config import InstallConfig, Script
from nodecore.errors import CommandFailed
from nodecore.runner import Runner

log = logging.getLogger("hcinode.installer.scripts")


class ScriptFailed(RuntimeError):
    pass


def _log_text(script: Script, rc: int, stdout: str, stderr: str) -> str:
    return (f"# %{script.kind} (kickstart line {script.lineno}) interpreter {script.interpreter}: exit code {rc}\n"
            f"{stdout}{stderr}")


def run_script(script: Script, index: int, runner: Runner, *, log_dir: str, target: str = "",
               env: dict[str, str] | None = None) -> int:
    """Run one script; returns its exit code. Raises ScriptFailed for --erroronfail."""
    in_chroot = bool(target) and script.kind == "post" and not script.nochroot
    name = f"ks-script-{script.kind}-{index}"
    if in_chroot:
        runner.write_file(os.path.join(target, "tmp", name), script.body, 0o700)
        argv: list[str] = ["chroot", target, script.interpreter, f"/tmp/{name}"]
    else:
        path = os.path.join(log_dir, f"{name}.script")
        runner.write_file(path, script.body, 0o700)
        argv = [script.interpreter, path]
    try:
        result = runner.run(argv, check=False, timeout=3600, env=env)
        rc, out, err = result.returncode, result.stdout, result.stderr
    except CommandFailed as exc:  # timeout or interpreter missing
        rc, out, err = exc.returncode, exc.stdout, exc.stderr
    text = _log_text(script, rc, out, err)
    runner.write_file(script_log(log_dir, script.kind, index), text, 0o600)
    if script.log:
        runner.write_file((target + script.log) if in_chroot else script.log, text, 0o600)
    if in_chroot:
        runner.run(["rm", "-f", os.path.join(target, "tmp", name)], check=False)
    if rc != 0:
        log.warning("%%%s script %d exited with %d", script.kind, index, rc)
        if script.erroronfail:
            raise ScriptFailed(f"%{script.kind} script {index} (kickstart line {script.lineno}) failed with exit "
                               f"code {rc}; its log: {script_log(log_dir, script.kind, index)}")
    return rc


def run_pre_scripts(config: InstallConfig, runner: Runner, *, log_dir: str) -> None:
    os.makedirs(log_dir, exist_ok=True)
    for i, script in enumerate(config.scripts_of("pre"), 1):
        run_script(script, i, runner, log_dir=log_dir)


def script_log(log_dir: str, kind: str, index: int) -> str:
    return os.path.join(log_dir, f"ks-script-{kind}-{index}.log")


def run_onerror_scripts(config: InstallConfig, runner: Runner, *, log_dir: str,
                        target: str = "") -> list[tuple[int, int | None, str]]:
    """Run every %onerror script (in the installer's environment, as anaconda does; HCINODE_TARGET
    names the target root when it is mounted). Returns (index, exit code or None, log path)."""
    os.makedirs(log_dir, exist_ok=True)
    ran: list[tuple[int, int | None, str]] = []
    for i, script in enumerate(config.scripts_of("onerror"), 1):
        rc: int | None
        try:
            rc = run_script(script, i, runner, log_dir=log_dir, env={"HCINODE_TARGET": target} if target else None)
        except (ScriptFailed, OSError) as exc:  # an %onerror must never hide the original failure
            log.error("%%onerror script %d: %s", i, exc)
            rc = None
        ran.append((i, rc, script_log(log_dir, "onerror", i)))
    return ran
