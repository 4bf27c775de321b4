"""ValidationReport: every problem with its field path, collected before anything changes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

from nodecore.secrets import redact

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    severity: Severity
    field: str  # dotted path into the input, e.g. "hosts[1].disks[0]" or "kickstart:12"
    message: str
    hint: str = ""  # how to fix it

    def render(self) -> str:
        text = f"{self.severity}: {self.field}: {redact(self.message)}"
        if self.hint:
            text += f" ({redact(self.hint)})"
        return text


@dataclass
class ValidationReport:
    source: str = ""
    problems: list[Problem] = field(default_factory=list)

    def error(self, field_path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem("error", field_path, message, hint))

    def warning(self, field_path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem("warning", field_path, message, hint))

    def extend(self, other: ValidationReport, prefix: str = "") -> None:
        for p in other.problems:
            path = f"{prefix}.{p.field}" if prefix and p.field else (prefix or p.field)
            self.problems.append(Problem(p.severity, path, p.message, p.hint))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def raise_if_errors(self) -> None:
        from nodecore.errors import InvalidInput

        if not self.ok:
            raise InvalidInput(self)

    def render_text(self) -> str:
        """CLI form: a headline, then one line per problem, errors first."""
        source = redact(self.source or "input")  # a kickstart URL given on the command line
        if not self.problems:
            return f"{source}: valid"
        head = f"{source}: {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        ordered = self.errors + self.warnings
        return "\n".join([head] + ["  " + p.render() for p in ordered])

    def render_lines(self, width: int) -> list[str]:
        """TUI form: problems wrapped to `width` columns, continuation lines indented."""
        out: list[str] = []
        for p in self.errors + self.warnings:
            words = p.render().split(" ")
            line = ""
            for word in words:
                if line and len(line) + 1 + len(word) > width:
                    out.append(line)
                    line = "    " + word
                else:
                    line = f"{line} {word}" if line else word
            out.append(line)
        return out

    def to_json(self) -> str:
        # all of it redacted: the source (a URL), fields and hints can carry a secret as much as a message
        return redact(json.dumps({"source": self.source, "ok": self.ok,
                                  "problems": [asdict(p) for p in self.problems]}, indent=2, ensure_ascii=False))
