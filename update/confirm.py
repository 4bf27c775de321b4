"""`hcinode update confirm-boot`: run at every boot (hcinode-update-confirm.service in the image,
see docs/update.md); asks trial.decide until it commits, rolls back, or there is no trial."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from nodecore.runner import Runner
from update.images import entry_id, load_registry
from update.plan import GRUBENV, UpdatePaths
from update.trial import Decision, Health, TrialState, decide, load

log = logging.getLogger("hcinode.update")
POLL = 10.0


def health(runner: Runner, joined: bool) -> Health:
    state = runner.run(["systemctl", "is-system-running"], check=False).stdout.strip()
    failed = runner.run(["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"],
                        check=False).stdout.split("\n")
    network = runner.run(["nmcli", "-t", "-f", "STATE", "general"], check=False).stdout.strip() == "connected"
    agent = runner.run(["systemctl", "is-active", "hcinode-agent.service"], check=False).stdout.strip() == "active"
    return Health(state, network, joined, agent, tuple(line.split()[0] for line in failed if line.strip()))


def uptime() -> float:
    with open("/proc/uptime", encoding="utf-8") as f:
        return float(f.read().split()[0])


def _write_state(runner: Runner, paths: UpdatePaths, state: TrialState) -> None:
    runner.write_file(paths.trial, json.dumps(state.to_dict(), indent=1, sort_keys=True) + "\n")


def carry_out(decision: Decision, runner: Runner, paths: UpdatePaths) -> None:
    """Make a decision true: the state file, GRUB's default, the image list; a reboot to roll back."""
    if decision.state is None or decision.action == "none":
        return
    _write_state(runner, paths, decision.state)
    if decision.action in ("commit", "rollback", "failed"):
        registry = load_registry(paths.registry)
        if registry is not None:
            found = registry.find(decision.state.version)
            if found is not None:
                good = decision.action == "commit"
                registry = registry.with_image(replace(found, state="good" if good else "failed"))
                if good:
                    registry = replace(registry, default=found.version)
                runner.write_file(paths.registry, registry.to_json())
    if decision.action == "commit":
        runner.run(["grub-editenv", GRUBENV, "set", f"saved_entry={entry_id(decision.state.version)}"])
    if decision.action == "rollback":
        log.error("update: %s; rebooting into %s", decision.reason, decision.state.previous)
        runner.run(["grub-editenv", GRUBENV, "unset", "next_entry"], check=False)
        runner.run(["systemctl", "reboot"], check=False)


def confirm_boot(runner: Runner, paths: UpdatePaths, running: str, boot_id: str, joined: bool, *,
                 clock: Callable[[], float] = uptime, sleep: Callable[[float], None] = time.sleep,
                 once: bool = False) -> Decision:
    while True:
        decision = decide(load(paths.trial), running, health(runner, joined), clock(), boot_id)
        if decision.action != "wait" or once:
            carry_out(decision, runner, paths)
            if decision.action != "none":
                log.info("update confirm-boot: %s (%s)", decision.action, decision.reason)
            return decision
        if decision.state is not None:
            _write_state(runner, paths, decision.state)  # the boot counter, at once
        sleep(POLL)
