"""The connectivity check that decides whether an apply may stay (through a RecordingRunner)."""

from __future__ import annotations

import pytest

from node_setup.nm import CheckFailed, PendingStatus, connectivity_check
from nodecore.runner import RecordingRunner


def test_all_answer() -> None:
    runner = RecordingRunner()
    connectivity_check(runner, {"gateways": ["198.51.100.1"], "hosts": ["198.51.100.20"],
                                "resolve": "engine.example.com", "timeout": 1})
    assert runner.argvs == [("ping", "-n", "-c", "1", "-W", "1", "198.51.100.1"),
                            ("ping", "-n", "-c", "1", "-W", "1", "198.51.100.20"),
                            ("getent", "hosts", "engine.example.com")]


def test_silent_gateway_fails_after_timeout_naming_it() -> None:
    runner = RecordingRunner()
    runner.respond(["ping", "-n", "-c", "1", "-W", "1", "198.51.100.200"], returncode=1)
    with pytest.raises(CheckFailed, match="gateway 198.51.100.200"):
        connectivity_check(runner, {"gateways": ["198.51.100.200"], "timeout": 1})
    assert len(runner.argvs) >= 2  # retried until the timeout


def test_pending_status_for_the_console() -> None:
    status = PendingStatus("pending", "/org/freedesktop/NetworkManager/Checkpoint/1", 120, 87.25)
    assert status.pending and status.to_dict()["seconds_remaining"] == 87.2
    assert not PendingStatus("expired").pending
