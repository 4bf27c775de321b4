"""Fixtures for the agent: a real HTTPS fake engine on loopback and a state dir per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.agent.fake_engine import FakeEngine

FACTS = {"hostname": "node01.lab.example", "memory_bytes": 1 << 30}


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as e:
        yield e


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HCINODE_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("HCINODE_LOG_DIR", str(tmp_path / "log"))
    return tmp_path / "state"
