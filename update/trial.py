"""The trial boot: its state file and the pure decision of each boot.

`update apply` arms the trial: GRUB's `next_entry` boots the new image exactly once (GRUB clears it
before booting), and trial.json (state dir, on /var: every image sees it) says "armed". At every
boot `hcinode update confirm-boot` reads it with the health facts and `decide` says:

- commit: the trial image reached healthy within the bound: it becomes GRUB's saved default;
- rollback: the trial image runs but is not healthy when the bound passes, or its boot finished
  with failed units ("degraded": waiting changes nothing, systemd says so only when the boot's
  jobs are done and a failed unit stays failed): reboot; the next boot is the saved default, the
  previous image (nothing has to be undone: the trial never became it);
- failed: we run the previous image although a trial was armed or trying: the trial boot panicked,
  hung (a watchdog or a power cut reset it) or was rolled back; record why, once;
- wait: the trial image runs, not healthy yet, time is left;
- none: no trial in progress.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from typing import Any

from nodecore.paths import state_dir

TRIAL_FILE = "trial.json"
DEFAULT_BOUND = 600.0  # seconds from boot to healthy; under TCG a node is up in about 2-3 minutes
STATES = ("armed", "trying", "committed", "rolled-back", "failed")


def update_dir(base: str | None = None) -> str:
    return os.path.join(base or state_dir(), "update")


def trial_path(base: str | None = None) -> str:
    return os.path.join(update_dir(base), TRIAL_FILE)


@dataclass(frozen=True)
class TrialState:
    version: str  # the image on trial
    previous: str  # the image it replaces (the saved default while the trial runs)
    state: str = "armed"
    boots: int = 0  # boots of the trial image seen by confirm-boot (the boot counter)
    max_boots: int = 1
    bound: float = DEFAULT_BOUND
    reason: str = ""  # why it failed or rolled back, in words the console shows
    boot_id: str = ""  # the last boot that counted (/proc/sys/kernel/random/boot_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialState:
        state = str(data.get("state", "armed"))
        if state not in STATES:
            raise ValueError(f"trial state {state!r} is not one of {', '.join(STATES)}")
        return cls(str(data["version"]), str(data["previous"]), state, int(data.get("boots", 0)),
                   int(data.get("max_boots", 1)), float(data.get("bound", DEFAULT_BOUND)), str(data.get("reason", "")),
                   str(data.get("boot_id", "")))

    @property
    def in_progress(self) -> bool:
        return self.state in ("armed", "trying")


def load(path: str) -> TrialState | None:
    try:
        with open(path, encoding="utf-8") as f:
            return TrialState.from_dict(json.load(f))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a trial state ({exc}); remove it to forget the trial") from None


@dataclass(frozen=True)
class Health:
    system_state: str  # what `systemctl is-system-running` printed (running, starting, degraded, ...)
    network_up: bool  # the management network has its address (NetworkManager connected)
    joined: bool
    agent_up: bool  # only counts when joined
    failed_units: tuple[str, ...] = ()  # `systemctl --failed`: named in the reason

    @property
    def system_running(self) -> bool:
        return self.system_state == "running"

    @property
    def healthy(self) -> bool:
        return self.system_running and self.network_up and (self.agent_up or not self.joined)

    def missing(self) -> list[str]:
        out = []
        if not self.system_running:
            # what systemd said: "starting" (boot not done) is not "degraded" (a unit failed)
            said = f"the system is {self.system_state or 'not running'}"
            if self.failed_units:
                said += f" (failed units: {', '.join(self.failed_units)})"
            out.append(said)
        if not self.network_up:
            out.append("the management network is not up")
        if self.joined and not self.agent_up:
            out.append("the node agent is not up")
        return out


@dataclass(frozen=True)
class Decision:
    action: str  # commit | rollback | failed | wait | none
    state: TrialState | None  # the state to write ("none": unchanged)
    reason: str = ""


def decide(trial: TrialState | None, running: str, health: Health, uptime: float, boot_id: str) -> Decision:
    """Pure: what this boot does about the trial (see the module docstring)."""
    if trial is None or not trial.in_progress:
        return Decision("none", trial)
    if running != trial.version:
        what = ("never reached the system (a panic or a boot-loader failure before the system started)"
                if trial.state == "armed" else
                "did not report healthy (a hang, a panic or a power cut during the trial)")
        reason = f"the trial boot of {trial.version} {what}; back on {running}"
        return Decision("failed", replace(trial, state="failed", reason=reason), reason)
    # the boot counter counts boots, not calls: confirm-boot asks again and again within one boot
    boots = trial.boots + 1 if boot_id != trial.boot_id else trial.boots
    trying = replace(trial, state="trying", boots=boots, boot_id=boot_id)
    if boots > trial.max_boots:
        reason = f"{trial.version} was booted {boots} times without reaching healthy"
        return Decision("rollback", replace(trying, state="rolled-back", reason=reason), reason)
    if health.healthy:
        return Decision("commit", replace(trying, state="committed", reason=""), f"{trial.version} is healthy")
    if health.system_state == "degraded" or uptime >= trial.bound:
        why = ("finished its boot unhealthy" if health.system_state == "degraded" else
               f"was not healthy {trial.bound:.0f}s after boot")
        reason = f"{trial.version} {why}: " + "; ".join(health.missing())
        return Decision("rollback", replace(trying, state="rolled-back", reason=reason), reason)
    return Decision("wait", trying, "; ".join(health.missing()))


def describe(trial: TrialState | None) -> str:
    """One line for `update status` and the console."""
    if trial is None:
        return "no update tried on this node"
    text = {"armed": f"{trial.version} is armed: the next boot tries it once (then back to {trial.previous} "
                     "unless it is healthy)",
            "trying": f"{trial.version} is on trial (boot {trial.boots}): waiting for healthy",
            "committed": f"{trial.version} reached healthy and is the default",
            "rolled-back": f"{trial.version} was rolled back: {trial.reason}",
            "failed": f"{trial.version} failed its trial: {trial.reason}"}[trial.state]
    return text
