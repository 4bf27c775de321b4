"""The one operation pipeline every change goes through: validate -> plan -> apply -> verify.

    result = pipeline.run(name="install", validate=lambda: report, plan=lambda: make_plan(),
                          runners=LocalRunner(), actions=ACTIONS, progress=print_progress,
                          verify=read_back)
    result = pipeline.apply(plan, runners, name="node", actions=..., journal=False, verify=...)

Every CLI verb and console page that changes a system calls `run` (or `apply`, when it has made
and shown its plan already); nothing else builds an Executor. `verify(plan)` reads the result back
(NetworkManager's profiles, the files written, the cluster's volume info) and returns a
ValidationReport; an error there fails the operation (exit 1) although every step ran.

Journal policy (one for all plans):

- Where: `<state dir>/journal/<name>-<plan id>.jsonl`; the state dir is /var/lib/hcinode (root) or
  $HCINODE_STATE_DIR. The plan id hashes every step id, so a changed plan never skips a step of
  another plan, and a re-run of the same plan resumes after its last finished step.
- What: one fsynced line per step: "done" (skipped next time), "failed", "interrupted", or "ran"
  for a one-shot step (`Step.one_shot`: reboot, power off, a network test), which no journal
  ever skips.
- Closed: when the plan completes (every step done or skipped) its journal is closed: moved to
  `<state dir>/journal/done/` (kept for the record, never read again). From then on the same plan
  runs from its first step again, and steps already in place skip by their own checks. A failed or
  interrupted run leaves the journal open, so the same command resumes.
- Opting out (`journal=False`) is for plans where a journal of step ids would lie: node_setup's
  network apply (a NetworkManager checkpoint rolls a crashed apply back, so "done" steps would be
  undone), gluster (steps check the live cluster; a teardown between runs would make a journal's
  "done" bricks wrong), image builds (content-keyed caches notice changed inputs) and writes into a
  target root (cheap and idempotent).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from nodecore.errors import HcinodeError
from nodecore.executor import Action, ExecutionResult, Executor, Journal, ProgressCallback
from nodecore.paths import journal_path
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import Runner

log = logging.getLogger("hcinode.pipeline")

Verify = Callable[[Plan], ValidationReport]


class VerifyFailed(HcinodeError):
    """Every step ran, but reading the result back shows it did not take."""

    def __init__(self, plan: Plan, report: ValidationReport, log_path: str | None = None) -> None:
        self.plan = plan
        self.report = report
        self.changed = True
        lines = [f"{plan.title}: every step ran, but reading the result back found:", report.render_text()]
        if log_path:
            lines.append(f"log: {log_path}")
        lines.append("what to do: fix the cause, then re-run the same command")
        super().__init__("\n".join(lines))


def journal_for(name: str, plan: Plan) -> Journal:
    """The open journal of this plan (see the policy above)."""
    return Journal(journal_path(f"{name}-{plan.id}"))


def close_journal(journal: Journal) -> None:
    """The plan completed: its journal stops applying (kept under done/ for the record)."""
    if not os.path.exists(journal.path):
        return
    done_dir = os.path.join(os.path.dirname(journal.path), "done")
    os.makedirs(done_dir, exist_ok=True)
    os.replace(journal.path, os.path.join(done_dir, os.path.basename(journal.path)))


def apply(plan: Plan, runners: Runner | Mapping[str, Runner], *, name: str,
          actions: Mapping[str, Action] | None = None, progress: ProgressCallback | None = None,
          log_path: str | None = None, journal: bool = True, verify: Verify | None = None) -> ExecutionResult:
    """Apply a plan that was validated and shown already; then verify it.

    Raises ApplyFailed (a step failed: journaled, named; `changed` says whether anything ran) or
    VerifyFailed (the read-back disagrees).
    """
    open_journal = journal_for(name, plan) if journal else None
    executor = Executor(runners, actions=actions, journal=open_journal, progress=progress, log_path=log_path)
    result = executor.execute(plan)
    if open_journal is not None:
        close_journal(open_journal)
    if verify is not None:
        report = verify(plan)
        if not report.ok:
            log.error("verify %s: %s", plan.title, report.render_text())
            raise VerifyFailed(plan, report, log_path)
    return result


def run(*, name: str, validate: Callable[[], ValidationReport], plan: Callable[[], Plan],
        runners: Runner | Mapping[str, Runner], actions: Mapping[str, Action] | None = None,
        progress: ProgressCallback | None = None, log_path: str | None = None, journal: bool = True,
        verify: Verify | None = None) -> tuple[Plan, ExecutionResult]:
    """The whole shape: every problem at once before anything is written (InvalidInput, exit 2),
    then the plan, apply with progress and journal, and the read-back."""
    validate().raise_if_errors()
    made = plan()
    return made, apply(made, runners, name=name, actions=actions, progress=progress, log_path=log_path,
                       journal=journal, verify=verify)

