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
    """A step of a plan failed. Names the step, the cause and where the log and journal are."""

    def __init__(self, step_index: int, step_title: str, cause: BaseException,
                 log_path: str | None = None, journal_path: str | None = None) -> None:
        self.step_index = step_index
        self.step_title = step_title
        self.cause = cause
        self.log_path = log_path
        self.journal_path = journal_path
        lines = [f"step {step_index} failed: {step_title}", redact(str(cause))]
        if log_path:
            lines.append(f"log: {log_path}")
        if journal_path:
            lines.append(f"journal: {journal_path} (completed steps are recorded; re-run the same "
                         "command to resume)")
        super().__init__("\n".join(lines))
