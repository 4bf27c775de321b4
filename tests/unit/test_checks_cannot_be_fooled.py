"""The checks themselves: CI runs every gate, and no test hides a broken import behind a skip."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_setup_test_check_and_e2e_in_order() -> None:
    steps = re.findall(r"^echo \"== (make [\w-]+)\"", (ROOT / ".ci" / "run").read_text(), re.M)
    assert steps == ["make setup", "make test", "make check", "make e2e"]


def test_no_test_skips_itself_when_an_import_fails() -> None:
    # A broken import must fail the run: importorskip, or a skip in an ImportError handler, hides it.
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == Path(__file__).name:
            continue
        if "importorskip(" in text or re.search(r"except (ModuleNotFoundError|ImportError).*:\n\s+pytest\.skip", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_one_golden_helper() -> None:
    # Golden comparisons go through tests/goldenfiles.py (diff on mismatch, pytest --regenerate).
    allowed = ("goldenfiles.py", Path(__file__).name)
    users = [str(p.relative_to(ROOT)) for p in sorted((ROOT / "tests").rglob("*.py"))
             if "HCINODE_REGENERATE_GOLDEN" in p.read_text(encoding="utf-8") and p.name not in allowed]
    assert users == []
