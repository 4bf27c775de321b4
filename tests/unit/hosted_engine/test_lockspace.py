"""The VM lease as the state machine sees it (hosted_engine.lockspace.lease_state): held elsewhere
until sanlock itself calls the owner dead."""

from __future__ import annotations

import pytest

from hosted_engine.lockspace import HostStatus, lease_state


def hosts(**status: str) -> dict[int, HostStatus]:
    return {int(k[1:]): HostStatus(int(k[1:]), v, 1, 0) for k, v in status.items()}


@pytest.mark.parametrize(("owner_status", "expected"), [
    ("live", "other"), ("fail", "other"),
    # right after this host (re)joined, sanlock has not watched the owner long enough: it may
    # still run the engine (found on the namespaced hosts: a survivor saw "free" at its first poll)
    ("unknown", "other"),
    ("dead", "free"), ("free", "free"),
])
def test_another_owner_holds_the_lease_until_sanlock_calls_it_dead(owner_status: str, expected: str) -> None:
    assert lease_state(2, [1], hosts(h1=owner_status, h2="live")) == expected


def test_an_owner_sanlock_does_not_list_still_holds_it() -> None:
    assert lease_state(2, [1], hosts(h2="live")) == "other"


def test_mine_and_free() -> None:
    assert lease_state(2, [2], hosts(h2="live")) == "mine"
    assert lease_state(2, [], hosts(h1="live", h2="live")) == "free"
