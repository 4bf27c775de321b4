"""What a re-run and a failure tell the technician: pure functions, so every message is unit-tested.

Interruptions and what happens next:

- a failed step (a `%post --erroronfail`, a full disk, ...): the machine stays up on the live
  system, `%onerror` runs, the logs go onto the target, and the same command resumes at the
  failed step (the journal in /var/lib/hcinode/journal/ lists the finished ones);
- the installer killed or the target unmounted by hand, same boot: the re-run resumes from the
  journal and mounts the new file systems again first (`resume_decision`);
- a power loss (after partitioning, during the payload copy, before GRUB): the live system's
  journal is gone with its RAM, so the re-run starts over; a kickstart that clears the disk
  installs again, one that does not is refused with the exact `clearpart` line to add
  (installer.storage). Until the install's last steps GRUB refuses to boot the disk, so the
  machine comes back to the install media rather than to a half-installed system.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nodecore.plan import Step
from nodecore.secrets import mask_url, redact

TARGET_LOG_DIR = "/var/log/hcinode-install"


@dataclass(frozen=True)
class Resume:
    first_step: int  # 1-based index of the first step to run; 0: every step is done
    remount: bool  # mount the target's file systems again before running it
    message: str  # '' for a fresh install


def resume_decision(steps: Sequence[Step], done: Collection[str], target_mounted: bool) -> Resume:
    """Where a re-run of the same plan starts, given the ids the journal lists as done."""
    if not any(s.id in done for s in steps):
        return Resume(1, False, "")
    pending = [i for i, s in enumerate(steps, 1) if s.id not in done]
    if not pending:
        return Resume(0, False, "every step of this install is already done (journal); nothing to do")
    first = pending[0]
    mount_at = next((i for i, s in enumerate(steps, 1) if s.action == "mount_target"), 0)
    remount = bool(mount_at) and first > mount_at and not target_mounted
    message = (f"resuming the install at step {first}/{len(steps)}: {steps[first - 1].title} "
               f"(steps 1-{first - 1} finished in an earlier run)")
    if remount:
        message += "; the new file systems are mounted again first"
    return Resume(first, remount, message)


def failure_lines(*, step_index: int, total: int, step_title: str, cause: str,
                  onerror: Sequence[tuple[int, int | None, str]], kept_on: str, log_path: str,
                  kickstart: str, retry: str = "", clearpart: str = "") -> list[str]:
    """The console's account of a failed install: the step, why, every log, and what to do.

    `kept_on`: the device holding /var/log/hcinode-install on the target, '' when the target was
    not mounted yet (the logs are then only on the live system). `retry`: how to run it again when
    that is not the `hcinode install` command (the console's F10). `clearpart`: for a failed storage
    step, the clearpart line that erases what may have been left on the disks."""
    lines = [f"the install FAILED at step {step_index}/{total}: {step_title}"]
    lines += [f"  {line}" for line in redact(cause).splitlines() if line.strip()]
    for index, rc, path in onerror:
        outcome = f"exit code {rc}" if rc is not None else "could not run"
        lines.append(f"  %onerror script {index} ran ({outcome}); its log: {path}")
    if log_path:
        lines.append(f"  installer log: {log_path}")
    if kept_on:
        lines.append(f"  the logs are kept on the target disk in {TARGET_LOG_DIR} (on {kept_on})")
    else:
        lines.append("  nothing of the target was mounted yet: the logs are only on this live system; "
                     "copy them before it reboots")
    lines.append("  this machine does not reboot, and the disk does not boot until an install finishes")
    if clearpart:
        lines.append(f"  if the disks still hold old partitions, LVM or RAID signatures, add '{clearpart}' "
                     "to the kickstart")
    lines.append(f"  fix the cause and run again to resume at step {step_index}: "
                 + (retry or f"hcinode install --kickstart {mask_url(kickstart)}"))
    return lines
