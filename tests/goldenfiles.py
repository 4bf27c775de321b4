"""The one golden-file helper: compare generated text with tests/golden/..., show a diff on mismatch.

After an intended change, rewrite the files with `pytest --regenerate` (or HCINODE_REGENERATE_GOLDEN=1)
and review the diff in git, as virt-install's test suite does.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

GOLDEN = Path(__file__).resolve().parent / "golden"
ENV = "HCINODE_REGENERATE_GOLDEN"


def regenerating() -> bool:
    return os.environ.get(ENV) == "1"


def _diff(expected: str, actual: str, name: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                        f"golden/{name}", "generated"))


def assert_golden(name: str, text: str) -> None:
    """Compare TEXT (a trailing newline is added) with tests/golden/NAME."""
    path = GOLDEN / name
    actual = text + "\n"
    if regenerating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path}: run pytest --regenerate to create it, then review it")
    expected = path.read_text(encoding="utf-8")
    if actual != expected:
        pytest.fail(f"{name} differs from its golden file (pytest --regenerate to accept):\n"
                    + _diff(expected, actual, name), pytrace=False)


def assert_golden_dir(name: str, files: dict[str, str], pattern: str = "*") -> None:
    """Compare a set of generated files (file name -> text, kept as is) with the folder tests/golden/NAME."""
    folder = GOLDEN / name
    if regenerating():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(pattern):
            old.unlink()
        for file_name, text in files.items():
            (folder / file_name).write_text(text, encoding="utf-8")
        return
    expected = {p.name: p.read_text(encoding="utf-8") for p in folder.glob(pattern)}
    problems = []
    if sorted(files) != sorted(expected):
        problems.append(f"files: golden {sorted(expected)}, generated {sorted(files)}")
    for file_name in sorted(set(files) & set(expected)):
        if files[file_name] != expected[file_name]:
            problems.append(_diff(expected[file_name], files[file_name], f"{name}/{file_name}"))
    if problems:
        pytest.fail(f"{name} differs from its golden files (pytest --regenerate to accept):\n" + "\n".join(problems),
                    pytrace=False)
