"""Plan and Step: the inspectable description of a change, made by pure functions.

A Step either runs an argv or calls a named action (a function registered with the executor,
for work that is not one command: writing a file, waiting for a condition). Its id is a hash
of its canonical JSON, so the same step has the same id in every run and the journal can tell
which steps a crashed apply already finished (osbuild does the same for its stages). A secret
enters the id as its keyed fingerprint (nodecore.secrets): never the value, never the constant
mask, so a step with a new password is a new step. Everything a plan prints goes through redact().
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodecore.secrets import MASK, Secret, redact


def _jsonable(value: Any, identity: bool = False) -> Any:
    """JSON-ready data; a Secret becomes the mask (for showing) or its fingerprint (identity=True)."""
    if isinstance(value, Secret):
        return value.fingerprint() if identity else MASK
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, identity) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, identity) for v in value]
    return value


def canonical_json(value: Any, identity: bool = False) -> str:
    return json.dumps(_jsonable(value, identity), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Step:
    title: str
    argv: tuple[str, ...] = ()
    action: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    # argv whose exit code 0 means "already done": the executor then skips the step (idempotent re-run)
    check: tuple[str, ...] = ()
    host: str = ""  # empty: the local machine; otherwise the name of a runner the executor is given
    stdin: str | Secret | None = None  # the only way a secret reaches a command (never argv)
    timeout: float | None = None
    # runs every time its plan runs (reboot, power off, a network test): never skipped by a journal
    one_shot: bool = False

    def __post_init__(self) -> None:
        if bool(self.argv) == bool(self.action):
            raise ValueError(f"step {self.title!r} needs exactly one of argv or action")
        object.__setattr__(self, "argv", tuple(self.argv))
        object.__setattr__(self, "check", tuple(self.check))
        for arg in self.argv + self.check:
            if not isinstance(arg, str):
                raise TypeError(f"step {self.title!r}: argv items must be str (secrets go on stdin)")

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title}
        if self.host:
            data["host"] = self.host
        if self.argv:
            data["argv"] = list(self.argv)
        else:
            data["action"] = self.action
            data["params"] = _jsonable(self.params)
        if self.check:
            data["check"] = list(self.check)
        if self.one_shot:
            data["one_shot"] = True
        if self.stdin is not None:
            data["stdin"] = MASK if isinstance(self.stdin, Secret) else self.stdin
        return data

    @property
    def id(self) -> str:
        content: dict[str, Any] = {"title": self.title, "argv": self.argv, "action": self.action,
                                   "params": self.params, "check": self.check, "host": self.host}
        if self.stdin is not None:  # (absent when None: ids of steps without stdin stay as they were)
            content["stdin"] = self.stdin
        return hashlib.sha256(canonical_json(content, identity=True).encode()).hexdigest()[:16]

    def describe(self) -> str:
        """One line: the command, or the action with its parameters."""
        if self.argv:
            return redact(shlex.join(self.argv))
        args = ", ".join(f"{k}={_short(v)}" for k, v in sorted(_jsonable(self.params).items()))
        return redact(f"{self.action}({args})")


def _short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class Plan:
    title: str
    steps: tuple[Step, ...]
    # Resolved inputs worth showing with the plan (the storage layout, the target disks, ...)
    summary: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        seen: dict[str, str] = {}
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"plan {self.title!r}: duplicate step {step.title!r} (same id as "
                                 f"{seen[step.id]!r}); make the titles or commands distinct")
            seen[step.id] = step.title

    @property
    def id(self) -> str:
        return hashlib.sha256(canonical_json([s.id for s in self.steps]).encode()).hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.steps)

    def render_text(self) -> str:
        lines = [f"Plan: {self.title} ({len(self.steps)} steps, id {self.id})"]
        for key, value in _jsonable(self.summary).items():
            if isinstance(value, (dict, list)):
                lines.append(f"  {key}:")
                lines.extend("    " + line for line in _render_value(value))
            else:
                lines.append(f"  {key}: {value}")
        width = len(str(len(self.steps)))
        for i, step in enumerate(self.steps, 1):
            where = f"[{step.host}] " if step.host else ""
            lines.append(f"{i:>{width}}. {where}{step.title}")
            lines.append(f"{' ' * width}    $ {step.describe()}")
        return redact("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "id": self.id, "summary": _jsonable(self.summary),
                "steps": [s.to_dict() for s in self.steps]}

    def to_json(self) -> str:
        return redact(json.dumps(self.to_dict(), indent=2, ensure_ascii=False))


def _render_value(value: Any) -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                out.append(f"{k}:")
                out.extend("  " + line for line in _render_value(v))
            else:
                out.append(f"{k}: {v}")
        return out
    if isinstance(value, list):
        out = []
        for item in value:
            sub = _render_value(item) if isinstance(item, (dict, list)) else [str(item)]
            out.append("- " + sub[0])
            out.extend("  " + line for line in sub[1:])
        return out
    return [str(value)]

