"""One install orchestration, used by `hcinode install` and by the console installer alike.

    result = run_install(Install(config, plan, paths, source=...), runner, progress=..., say=...)

The faces (installer/cli.py, tui/pages/install.py) only show what happens; everything an install
does around its plan lives here:

- before the first step: the log directory, the kickstart as it was understood (`hcinode-ks.cfg`,
  passwords as hashes only, as anaconda keeps anaconda-ks.cfg), and where a re-run resumes (the
  new file systems are mounted again when the journal would skip the mount steps);
- the plan goes through the nodecore pipeline with the "install" journal;
- when any step fails (a command, blivet, a check an action makes, a bug): `%onerror` runs, every
  log is kept on the target disk when its root is mounted (with `install-failed.txt`), the machine
  is never rebooted, and InstallFailed carries the whole account (the step, why, each log, what to
  do: re-run, or for a storage step which clearpart line to add) for the face to show.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from installer.config import InstallConfig
from installer.plan import Paths
from nodecore import pipeline
from nodecore.errors import ApplyFailed, HcinodeError
from nodecore.executor import Action, ExecutionResult, ProgressCallback
from nodecore.plan import Plan
from nodecore.runner import Runner

log = logging.getLogger("hcinode.installer")

JOURNAL_NAME = "install"
STORAGE_ACTIONS = ("storage_apply",)


@dataclass(frozen=True)
class Install:
    config: InstallConfig
    plan: Plan
    paths: Paths
    source: str = ""  # the kickstart location (how to run it again); '' from the console
    retry: str = ""  # how to run it again when that is not `hcinode install --kickstart SOURCE`
    disks: tuple[str, ...] = ()  # the target disks (named in a storage failure's clearpart line)


class InstallFailed(ApplyFailed):
    """A step of the install failed; `account` is what the technician is told (also on the target)."""

    def __init__(self, failure: ApplyFailed, account: Sequence[str]) -> None:
        super().__init__(failure.step_index, failure.step_title, failure.cause, failure.log_path,
                         failure.journal_path, changed=failure.changed, hint=failure.hint)
        self.account = list(account)

    def __str__(self) -> str:
        return "\n".join(self.account)


def _say_nothing(_line: str) -> None:
    pass


def run_install(install: Install, runner: Runner, *, actions: Mapping[str, Action] | None = None,
                progress: ProgressCallback | None = None, say: Callable[[str], None] = _say_nothing,
                log_path: str | None = None) -> ExecutionResult:
    """Prepare, apply the plan, and on failure run %onerror and keep the logs. Raises InstallFailed."""
    from installer import kickstart
    from installer.target import ACTIONS

    paths = install.paths
    os.makedirs(paths.log_dir, exist_ok=True)
    runner.write_file(os.path.join(paths.log_dir, "hcinode-ks.cfg"), kickstart.render(install.config), 0o600)
    prepare_resume(install.plan, paths, runner, say)
    actions = dict(ACTIONS if actions is None else actions)
    if log_path and "keep_logs" in actions:
        # our own log (INFO, redacted) is kept on the target after a good install too, not only a failed one
        keep = actions["keep_logs"]
        actions["keep_logs"] = lambda r, params: keep(r, {**params, "extra": [log_path]})
    try:
        return pipeline.apply(install.plan, runner, name=JOURNAL_NAME, actions=actions, progress=progress,
                              log_path=log_path)
    except ApplyFailed as exc:
        account = after_failure(exc, install, runner, log_path)
        for line in account:
            log.error("%s", line)
        raise InstallFailed(exc, account) from exc.cause


def prepare_resume(plan: Plan, paths: Paths, runner: Runner, say: Callable[[str], None]) -> None:
    """A re-run of the same plan in the same boot: say where it resumes, and mount the target again
    when the journal would skip the mount steps but nothing is mounted any more."""
    from installer.recovery import resume_decision
    from installer.target import bind_system, mount_target, target_root_mounted

    journal = pipeline.journal_for(JOURNAL_NAME, plan)
    done = {s.id for s in plan.steps if journal.is_done(s)}
    decision = resume_decision(plan.steps, done, target_root_mounted(paths.target))
    if decision.message:
        say(decision.message)
        log.info("%s", decision.message)
    if decision.remount:
        mount_target(runner, {"target": paths.target, "devices_file": paths.devices_file})
        bind_system(runner, {"target": paths.target})


def after_failure(exc: ApplyFailed, install: Install, runner: Runner, log_path: str | None) -> list[str]:
    """A step failed: run %onerror, keep every log on the target disk when it is mounted, never reboot
    or power off (the kickstart's reboot/poweroff is for a finished install). Returns what to say."""
    from installer.recovery import TARGET_LOG_DIR, failure_lines
    from installer.scripts import run_onerror_scripts
    from installer.target import keep_logs_on_target, mounted_device, target_root_mounted

    paths, plan = install.paths, install.plan
    mounted = target_root_mounted(paths.target)
    onerror = run_onerror_scripts(install.config, runner, log_dir=paths.log_dir,
                                  target=paths.target if mounted else "")
    kept_on = ""
    if mounted:
        try:
            dest = keep_logs_on_target(runner, paths.target, paths.log_dir, [log_path] if log_path else [])
            kept_on = mounted_device(dest)
        except OSError as err:  # a full or broken target must not hide the original failure
            log.error("could not copy the logs onto the target: %s", err)
    failed_step = plan.steps[exc.step_index - 1] if 0 < exc.step_index <= len(plan.steps) else None
    clearpart = ""
    if failed_step is not None and failed_step.action in STORAGE_ACTIONS and install.disks and not install.retry:
        names = [d.removeprefix("/dev/") for d in install.disks]  # clearpart names disks as sda, nvme0n1
        clearpart = f"clearpart --all --initlabel --drives={','.join(names)}"
    # a foreign exception (blivet's StorageError, a bug) is named by its class: its text alone may be empty
    cause = str(exc.cause) if isinstance(exc.cause, HcinodeError) else f"{type(exc.cause).__name__}: {exc.cause}"
    lines = failure_lines(step_index=exc.step_index, total=len(plan.steps), step_title=exc.step_title,
                          cause=cause, onerror=onerror, kept_on=kept_on, log_path=log_path or "",
                          kickstart=install.source, retry=install.retry, clearpart=clearpart)
    if kept_on:
        try:
            runner.write_file(os.path.join(paths.target, TARGET_LOG_DIR.lstrip("/"), "install-failed.txt"),
                              "\n".join(lines) + "\n")
            runner.run(["sync"], check=False)
        except OSError as err:
            log.error("could not write install-failed.txt onto the target: %s", err)
    return lines
