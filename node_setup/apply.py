"""Entry points for changing a running node (CLI and console use these; nothing else does it).

    outcome = apply(desired, rollback_timeout=120, check=True)   # validate, plan, checkpoint, activate, check
    outcome.status.pending, outcome.status.seconds_remaining      # the console's countdown
    confirm() / rollback() / pending_status()                     # finish or undo it (any process)

A failed step or a failed connectivity check rolls back at once and raises ApplyFailed; the
keyfiles on disk are never touched before `confirm`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from node_setup.actions import ACTIONS, read_back_files
from node_setup.identity import CONCERNS
from node_setup.model import NetworkConfig, NodeConfig
from node_setup.plan import DEFAULT_ROLLBACK_TIMEOUT, plan_apply, storable
from node_setup.validate import validate
from nodecore import pipeline, rules
from nodecore.config import load_config, load_yaml_file
from nodecore.errors import ApplyFailed
from nodecore.executor import ProgressCallback
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner

if TYPE_CHECKING:
    from node_setup.nm import LiveDevice

log = logging.getLogger("hcinode.node_setup")


@dataclass(frozen=True)
class ApplyOutcome:
    plan: Plan
    status: object  # node_setup.nm.PendingStatus (pending: confirm within status.seconds_remaining)
    rolled_back: bool = False


def confirmed_config() -> NodeConfig | None:
    """The last confirmed config (network + identity, without the password), if any."""
    from node_setup.nm import last_good_path

    path = last_good_path()
    if not os.path.exists(path):
        return None
    report = ValidationReport(path)
    config = load_config(NodeConfig, load_yaml_file(path), report)
    if not report.ok:
        log.warning("ignoring unreadable %s: %s", path, report.render_text())
        return None
    return config


def live_network() -> list[LiveDevice]:
    """Every device as NetworkManager has it now (applied gateway, DNS, routes; the active
    profile's settings). Raises NetworkError when NetworkManager cannot be asked."""
    from node_setup.nm import NMBackend

    return NMBackend().live_devices()


def merge_network(base: NodeConfig | None, desired: NodeConfig) -> NodeConfig:
    """`desired` with identity fields it leaves empty taken from `base` (a network-only file keeps the hostname)."""
    if base is None:
        return desired
    return replace(desired, hostname=desired.hostname or base.hostname,
                   ntp_servers=desired.ntp_servers or base.ntp_servers,
                   timezone=desired.timezone or base.timezone, keyboard=desired.keyboard or base.keyboard)


def plan_for(desired: NodeConfig, *, rollback_timeout: int = DEFAULT_ROLLBACK_TIMEOUT, check: bool = True,
             only: tuple[str, ...] = CONCERNS, backend: object = None, offline_ok: bool = False) -> Plan:
    """Validate and plan against what NetworkManager has now (what --dry-run and the console show).

    With `offline_ok` (a dry run on a machine without NetworkManager) the plan is made against the
    last confirmed config instead, and a warning says so.
    """
    report = validate(desired, source="node settings")
    rules.add(report, "--rollback-timeout", rules.rollback_timeout(rollback_timeout))
    report.raise_if_errors()
    state = None
    if desired.network.devices():
        from node_setup.nm import NetworkError, NMBackend

        try:
            nm = backend if backend is not None else NMBackend()
            state = nm.read_state()  # type: ignore[attr-defined]
        except (NetworkError, RuntimeError) as exc:
            if not offline_ok:
                raise
            log.warning("planning without NetworkManager (%s): against the last confirmed config", exc)
            print(f"warning: {exc}; planned against the last confirmed config", file=sys.stderr)
    return plan_apply(confirmed_config(), desired, rollback_timeout=rollback_timeout, check=check,
                      current_state=state, only=only)


def apply(desired: NodeConfig, *, rollback_timeout: int = DEFAULT_ROLLBACK_TIMEOUT, check: bool = True,
          only: tuple[str, ...] = CONCERNS, runner: Runner | None = None, progress: ProgressCallback | None = None,
          log_path: str | None = None, plan: Plan | None = None) -> ApplyOutcome:
    """Apply `desired` to this node; network changes stay pending until `confirm()`."""
    from node_setup.nm import NMBackend, PendingStatus, network_actions

    backend = NMBackend() if desired.network.devices() else None
    if plan is None:
        plan = plan_for(desired, rollback_timeout=rollback_timeout, check=check, only=only, backend=backend)
    base = confirmed_config()
    stored = storable(desired if desired.network.devices() or base is None
                      else replace(desired, network=base.network))
    actions = dict(ACTIONS)
    if backend is not None:
        actions.update(network_actions(backend, stored))
    runner = runner or LocalRunner()

    def verify(applied: Plan) -> ValidationReport:
        report = read_back_files(runner, applied)
        if backend is not None and any(s.action.startswith("nm_") for s in applied.steps):
            report.extend(read_back_network(backend, desired))
        return report

    # no journal (nodecore.pipeline): a NetworkManager checkpoint rolls a crashed apply back, so a
    # journal's "done" steps would be undone ones; the plan is made against the live state instead
    try:
        pipeline.apply(plan, runner, name="node", actions=actions, progress=progress, log_path=log_path,
                       journal=False, verify=verify)
    except (ApplyFailed, pipeline.VerifyFailed):
        if backend is not None and backend.status().pending:
            log.error("apply failed: rolling back the network change")
            backend.rollback()
        raise
    if backend is not None and any(s.action == "nm_checkpoint" for s in plan.steps):
        return ApplyOutcome(plan, backend.status())
    if not any(s.action == "nm_checkpoint" for s in plan.steps):
        _save_confirmed(stored)
    return ApplyOutcome(plan, PendingStatus("none"))


def read_back_network(backend: object, desired: NodeConfig) -> ValidationReport:
    """NetworkManager's profiles read back: each profile of `desired` is there exactly as written."""
    from node_setup.plan import plan_network

    report = ValidationReport("NetworkManager")
    left = plan_network(backend.read_state(), desired.network, check=False)  # type: ignore[attr-defined]
    # only the profiles: activations are planned whenever anything differs, and profiles to remove
    # go at `confirm` (until then a rollback needs them)
    for step in left:
        if step.action == "nm_put":
            report.error(f"network.{step.params.get('id', '')}",
                         f"NetworkManager does not show the change after applying it: {step.title}")
    return report


def _save_confirmed(text: str) -> None:
    from node_setup.nm import _atomic_write, last_good_path

    _atomic_write(last_good_path(), text)


def pending_status() -> object:
    """PendingStatus: state "none" | "pending" (with seconds_remaining) | "expired" (already rolled back)."""
    from node_setup.nm import NMBackend

    return NMBackend().status()


def confirm() -> list[str]:
    """Keep the pending network change; writes the profiles to disk. Returns the saved profile ids."""
    from node_setup.nm import NMBackend

    return NMBackend().confirm()


def rollback() -> None:
    """Undo the pending network change now."""
    from node_setup.nm import NMBackend

    NMBackend().rollback()


def extend_rollback(seconds: int) -> None:
    """Restart the pending change's rollback timer with `seconds` (the console's "more time")."""
    from node_setup.nm import NMBackend

    NMBackend().extend(seconds)


def wait_for_decision(seconds_left: Callable[[float], None] | None = None) -> None:
    """Block until the pending change is confirmed elsewhere or rolled back, reporting seconds left."""
    import time

    from node_setup.nm import NMBackend

    backend = NMBackend()
    while True:
        status = backend.status()
        if not status.pending:
            return
        if seconds_left:
            seconds_left(status.seconds_remaining)
        time.sleep(1)


def network_only(config: NodeConfig | NetworkConfig) -> NodeConfig:
    return config if isinstance(config, NodeConfig) else NodeConfig(network=config)
