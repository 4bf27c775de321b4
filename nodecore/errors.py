"""Error classes and the exit codes every `hcinode` verb uses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nodecore.secrets import redact

if TYPE_CHECKING:
    from nodecore.report import ValidationReport

EXIT_OK = 0
EXIT_FAILED = 1  # failed while applying; the journal says what was done, a re-run resumes
EXIT_INVALID = 2  # invalid input; nothing was changed


class HcinodeError(Exception):
    exit_code = EXIT_FAILED


class InvalidInput(HcinodeError):
    """Input was rejected before anything changed. Carries the full report."""

    exit_code = EXIT_INVALID
    # what the CLI says after the report; a caller that ran something first (an install's %pre
    # scripts) says so instead, because "nothing was changed" is printed only when it is true
    note = "nothing was changed"

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.render_text())


class CommandFailed(HcinodeError):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: str = "", stderr: str = "",
                 timed_out: bool = False) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = redact(stdout)
        self.stderr = redact(stderr)
        self.timed_out = timed_out
        super().__init__(self.describe())

    def stderr_tail(self, lines: int = 15) -> str:
        return "\n".join((self.stderr or self.stdout).rstrip().splitlines()[-lines:])

    def describe(self) -> str:
        from nodecore.runner import format_argv

        what = "timed out" if self.timed_out else f"exited with code {self.returncode}"
        text = f"command {what}: {format_argv(self.argv)}"
        tail = self.stderr_tail()
        if tail:
            text += "\n" + "\n".join("  | " + line for line in tail.splitlines())
        return text


class ApplyFailed(HcinodeError):
    """A step of a plan failed. Names the step, the cause, where the log and journal are and what to do.

    `changed`: whether the machine may have been changed (a step of this plan ran, in this run or an
    earlier one). Only when it is False may a caller say "nothing was changed".
    `hint`: what to do, when the caller knows better than "re-run" (the installer names the
    clearpart line for a storage failure).
    """

    def __init__(self, step_index: int, step_title: str, cause: BaseException,
                 log_path: str | None = None, journal_path: str | None = None, *,
                 changed: bool = True, hint: str = "") -> None:
        self.step_index = step_index
        self.step_title = step_title
        self.cause = cause
        self.log_path = log_path
        self.journal_path = journal_path
        self.changed = changed
        self.hint = hint
        super().__init__("\n".join(self.lines()))

    def what_to_do(self) -> str:
        if self.hint:
            return self.hint
        if self.journal_path:
            return ("fix the cause, then re-run the same command to resume (completed steps are recorded "
                    f"in {self.journal_path})")
        return "fix the cause, then re-run the same command (steps already in place are skipped)"

    def lines(self) -> list[str]:
        cause = str(self.cause) if isinstance(self.cause, HcinodeError) else \
            f"{type(self.cause).__name__}: {self.cause}"
        lines = [f"step {self.step_index} failed: {self.step_title}", redact(cause)]
        if self.log_path:
            lines.append(f"log: {self.log_path}")
        lines.append(("" if self.changed else "nothing was changed; ") + "what to do: " + self.what_to_do())
        return lines

    def with_hint(self, hint: str) -> ApplyFailed:
        """The same failure with a more specific "what to do"."""
        return ApplyFailed(self.step_index, self.step_title, self.cause, self.log_path, self.journal_path,
                           changed=self.changed, hint=hint)
