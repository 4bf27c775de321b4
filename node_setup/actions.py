"""Named actions for node_setup plans (files and services); they only use the step's Runner."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from node_setup.identity import set_shadow_hash
from nodecore.executor import Action
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import Secret

log = logging.getLogger("hcinode.node_setup")


def _text(value: Any) -> str:
    return value.reveal() if isinstance(value, Secret) else str(value)


def write_file(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.write_file(params["path"], _text(params["content"]), int(params.get("mode", 0o644)))


def symlink(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.run(["mkdir", "-p", params["path"].rsplit("/", 1)[0] or "/"])
    runner.run(["ln", "-sfn", params["target"], params["path"]])


def remove(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.run(["rm", "-f", params["path"]])


def _systemd_running(runner: Runner) -> bool:
    return runner.run(["test", "-d", "/run/systemd/system"], check=False).ok


def try_restart(runner: Runner, params: Mapping[str, Any]) -> None:
    """Restart a unit if it runs; without systemd as PID 1 (a container, a dev machine) say so and go on."""
    if not _systemd_running(runner):
        log.warning("systemd is not running: %s takes the new settings when it is next started", params["unit"])
        return
    runner.run(["systemctl", "try-restart", params["unit"]])


def restart(runner: Runner, params: Mapping[str, Any]) -> None:
    """(Re)start a unit whether it runs or not: a unit that failed before its settings existed (rsyslog
    with no target has nothing to do and exits) gets its failure count cleared and starts now."""
    if not _systemd_running(runner):
        log.warning("systemd is not running: %s takes the new settings when it is next started", params["unit"])
        return
    runner.run(["systemctl", "reset-failed", params["unit"]], check=False)
    runner.run(["systemctl", "restart", params["unit"]])


def service_enable(runner: Runner, params: Mapping[str, Any]) -> None:
    if not _systemd_running(runner):
        log.warning("systemd is not running: cannot %s %s now", "enable" if params["enable"] else "disable",
                    params["unit"])
        return
    runner.run(["systemctl", "enable" if params["enable"] else "disable", "--now", params["unit"]])


def shadow_hash(runner: Runner, params: Mapping[str, Any]) -> None:
    path = params["path"]
    try:
        shadow = runner.read_file(path).decode()
    except FileNotFoundError:
        shadow = ""
    runner.write_file(path, set_shadow_hash(shadow, params["user"], _text(params["hash"])), 0o640)


ACTIONS: dict[str, Action] = {
    "write_file": write_file,
    "symlink": symlink,
    "remove": remove,
    "try_restart": try_restart,
    "restart": restart,
    "service_enable": service_enable,
    "set_shadow_hash": shadow_hash,
}


def read_back_files(runner: Runner, plan: Plan) -> ValidationReport:
    """The verify of a node_setup plan: every file a write_file step wrote is read back and compared
    (names the path, never the content: it may be a secret)."""
    report = ValidationReport("read back")
    for step in plan.steps:
        if step.action != "write_file":
            continue
        path = str(step.params["path"])
        try:
            ok = runner.read_file(path) == _text(step.params["content"]).encode()
        except OSError as exc:
            report.error(path, f"cannot be read back after writing it: {exc.strerror or exc}")
            continue
        if not ok:
            report.error(path, "does not hold what was written (another process changed it?)")
    return report
