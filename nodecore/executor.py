"""The executor: runs a Plan step by step through runners, with progress and a journal.

The journal is an append-only JSON-lines file, keyed by step id; a finished step's record is
written after os.sync() (its writes are durable) and fsynced. A re-run of the same plan skips what
the journal (or a step's own check) says is done, so an apply interrupted by a crash or a power cut
completes on the next run. Where journals live and when they are closed is `nodecore.pipeline`'s
policy; the executor only reads and appends.

Every exception a step raises (a failed command, blivet's StorageError, an InvalidInput found
by an action, a bug) becomes that step's failure: journaled as "failed", reported as "failed"
progress and raised as ApplyFailed naming the step, so callers run their failure handling
(%onerror, keeping logs) for all of them. KeyboardInterrupt and SystemExit are journaled as
"interrupted" and re-raised unchanged: the user (or the process) asked to stop, and the step
is not done, so a re-run runs it again.

A one-shot step (Step.one_shot: reboot, power off, a network test) is journaled as "ran", never
as "done": no journal ever skips it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nodecore.errors import ApplyFailed, HcinodeError
from nodecore.plan import Plan, Step
from nodecore.runner import Runner
from nodecore.secrets import redact

log = logging.getLogger("hcinode.executor")

# A named action receives the runner of the step's host and the step's params.
Action = Callable[[Runner, Mapping[str, Any]], None]


@dataclass(frozen=True)
class Progress:
    index: int  # 1-based
    total: int
    title: str
    state: str  # "running" | "done" | "skipped" | "failed"

    @property
    def percent(self) -> int:
        finished = self.index if self.state in ("done", "skipped") else self.index - 1
        return int(100 * finished / self.total) if self.total else 100

    def line(self) -> str:
        return f"[{self.index}/{self.total} {self.percent:3d}%] {self.state:8s} {self.title}"


ProgressCallback = Callable[[Progress], None]


class Journal:
    """Which step ids of which plan are done. Kept across runs; survives a crash."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._done: set[str] = set()
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line from a crash: that step is simply not done
            if entry.get("state") == "done" and "id" in entry:
                self._done.add(entry["id"])
        if text and not text.endswith("\n"):
            with open(path, "a", encoding="utf-8") as f:  # end the torn line so new entries stay parseable
                f.write("\n")

    def is_done(self, step: Step) -> bool:
        return not step.one_shot and step.id in self._done

    def any_done(self) -> bool:
        """Did an earlier run finish a step of this plan (so the machine was changed already)?"""
        return bool(self._done)

    def record(self, step: Step, state: str, **extra: Any) -> None:
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        if state in ("done", "ran") and not extra.get("skipped"):
            # what the step wrote must be on disk before the journal says so: after a power cut a
            # re-run trusts "done" (found by the update e2e: a copy journaled done 20 s before the
            # cut had left the new root's kernel and initrd empty)
            os.sync()
        entry = {"id": step.id, "title": step.title, "state": state, "time": round(time.time(), 3), **extra}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if state == "done" and not step.one_shot:
            self._done.add(step.id)

    def clear(self) -> None:
        if os.path.exists(self.path):
            os.remove(self.path)
        self._done.clear()


@dataclass
class ExecutionResult:
    done: list[Step] = field(default_factory=list)
    skipped: list[Step] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # step title -> seconds

    @property
    def changed(self) -> bool:
        """A step ran (rather than being skipped as already done): the machine may have changed."""
        return bool(self.done)


class Executor:
    def __init__(self, runners: Runner | Mapping[str, Runner], *, actions: Mapping[str, Action] | None = None,
                 journal: Journal | None = None, progress: ProgressCallback | None = None,
                 log_path: str | None = None) -> None:
        self.runners: Mapping[str, Runner] = runners if isinstance(runners, Mapping) else {"": runners}
        self.actions = dict(actions or {})
        self.journal = journal
        self.progress = progress or (lambda p: None)
        self.log_path = log_path

    def runner_for(self, step: Step) -> Runner:
        try:
            return self.runners[step.host]
        except KeyError:
            raise KeyError(f"no runner for host {step.host!r} (step {step.title!r})") from None

    def _already_done(self, step: Step, runner: Runner) -> bool:
        if self.journal and self.journal.is_done(step):
            return True
        if step.check:
            return runner.run(step.check, check=False, timeout=step.timeout).ok
        return False

    def _run_step(self, step: Step, runner: Runner) -> None:
        if step.argv:
            runner.run(step.argv, stdin=step.stdin, timeout=step.timeout)
            return
        try:
            action = self.actions[step.action]
        except KeyError:
            raise KeyError(f"unknown action {step.action!r}") from None
        action(runner, step.params)

    def execute(self, plan: Plan) -> ExecutionResult:
        result = ExecutionResult()
        total = len(plan.steps)
        # an earlier run of this plan that finished steps changed the machine already
        changed_before = bool(self.journal and self.journal.any_done())
        log.info("apply plan %s: %s (%d steps)", plan.id, plan.title, total)
        for index, step in enumerate(plan.steps, 1):
            started_step = False
            try:
                runner = self.runner_for(step)
                if self._already_done(step, runner):
                    log.info("skip (done): %s", step.title)
                    result.skipped.append(step)
                    self.progress(Progress(index, total, step.title, "skipped"))
                    if self.journal and not self.journal.is_done(step) and not step.one_shot:
                        self.journal.record(step, "done", skipped=True)
                    continue
                self.progress(Progress(index, total, step.title, "running"))
                log.info("step %d/%d: %s", index, total, step.title)
                started = time.monotonic()
                started_step = True
                self._run_step(step, runner)
            except Exception as exc:  # noqa: BLE001 - whatever a step raises is that step's failure
                self._failed(step, index, total, exc, "failed")
                raise ApplyFailed(index, step.title, exc, self.log_path,
                                  self.journal.path if self.journal else None,
                                  changed=changed_before or started_step or bool(result.done)) from exc
            except BaseException as exc:  # KeyboardInterrupt, SystemExit: stop as asked, but say where
                self._failed(step, index, total, exc, "interrupted")
                raise
            elapsed = time.monotonic() - started
            result.timings[step.title] = round(elapsed, 3)
            result.done.append(step)
            if self.journal:
                self.journal.record(step, "ran" if step.one_shot else "done", seconds=round(elapsed, 3))
            self.progress(Progress(index, total, step.title, "done"))
        return result

    def _failed(self, step: Step, index: int, total: int, exc: BaseException, state: str) -> None:
        """Journal and report a step that did not finish; never let that bookkeeping hide `exc`."""
        what = f"{type(exc).__name__}: {exc}" if not isinstance(exc, HcinodeError) else str(exc)
        try:
            self.progress(Progress(index, total, step.title, "failed"))
        except Exception:  # noqa: BLE001 - a broken progress callback must not replace the step's error
            log.exception("progress callback failed")
        if self.journal:
            try:
                self.journal.record(step, state, error=redact(what)[-500:])
            except OSError as err:
                log.error("could not journal the %s step: %s", state, err)
        log.error("step %d %s: %s: %s", index, state, step.title, redact(what))
