"""The state machine driven by recorded input sequences: each row is one agent tick
(monotonic time, what the agent observed) and the state and actions that must follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from hosted_engine.states import (
    DESTROY_VM,
    START_VM,
    STOP_VM,
    Decision,
    Machine,
    Observation,
    Peer,
    State,
    live_peers,
    step,
    stopped,
    update_seen,
)

S = State
UP_GOOD = dict(vm="up", health="good")
UP_BAD = dict(vm="up", health="bad")
DOWN = dict(vm="down", health="unknown")


def obs(**kw: Any) -> Observation:
    base: dict[str, Any] = dict(vm="down", health="unknown", score=3400, global_maintenance=False)
    base.update(kw)
    return Observation(**base)


def peer(host_id: int, seq: int, score: int = 3400, vm: str = "down", **kw: Any) -> Peer:
    return Peer(host_id, f"node{host_id}", seq, score, engine_vm=vm, **kw)


Row = tuple[float, dict[str, Any], State, tuple[str, ...]]


def replay(rows: Sequence[Row], machine: Machine | None = None) -> list[Decision]:
    m = machine or Machine()
    out = []
    for i, (now, seen, state, actions) in enumerate(rows):
        d = step(m, obs(**seen), now)
        assert (d.state, d.actions) == (state, actions), f"tick {i} at {now}s: {d.reason}"
        out.append(d)
        m = d.machine
    return out


def test_single_host_engine_vm_dies_and_is_restarted() -> None:
    rows: list[Row] = [
        (0, UP_GOOD, S.ENGINE_UP, ()),
        (10, UP_GOOD, S.ENGINE_UP, ()),
        (20, DOWN, S.ENGINE_MAYBE_AWAY, ()),  # qemu killed
        (30, DOWN, S.ENGINE_MAYBE_AWAY, ()),
        (59, DOWN, S.ENGINE_MAYBE_AWAY, ()),
        (60, DOWN, S.ENGINE_UNEXPECTEDLY_DOWN, ()),  # 40 s: nobody else shows it up
        (70, DOWN, S.ENGINE_DOWN, ()),  # no other live host could take it
        (80, DOWN, S.ENGINE_START, (START_VM,)),
        (80, {**UP_BAD, "score": 3400}, S.ENGINE_STARTING, ()),
        (90, UP_BAD, S.ENGINE_STARTING, ()),
        (130, UP_GOOD, S.ENGINE_UP, ()),
    ]
    decisions = replay(rows)
    assert decisions[5].score == 0  # EngineUnexpectedlyDown asks others to take over
    assert decisions[-1].machine.failed_starts == ()


def test_unhealthy_for_300_s_is_stopped_and_restarted() -> None:
    rows: list[Row] = [
        (0, UP_GOOD, S.ENGINE_UP, ()),
        (10, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
        (20, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
        (200, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
        (309, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
        (310, UP_BAD, S.ENGINE_STOP, (STOP_VM,)),  # 300 s after it turned bad
        (320, UP_BAD, S.ENGINE_STOP, ()),
        (330, DOWN, S.ENGINE_DOWN, ()),
        (340, DOWN, S.ENGINE_START, (START_VM,)),
        (340, UP_BAD, S.ENGINE_STARTING, ()),
    ]
    decisions = replay(rows)
    assert decisions[1].score == 0


def test_health_that_recovers_keeps_the_engine() -> None:
    replay([(0, UP_GOOD, S.ENGINE_UP, ()), (10, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
            (250, UP_GOOD, S.ENGINE_UP, ()), (260, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ()),
            (500, UP_BAD, S.ENGINE_UP_BAD_HEALTH, ())])  # the timeout starts again at each entry


def test_lease_held_elsewhere_never_starts() -> None:
    held = {**DOWN, "lease": "other"}
    rows: list[Row] = [(t, held, S.ENGINE_DOWN, ()) for t in range(0, 3600, 10)]
    decisions = replay(rows)
    assert "held by another host" in decisions[-1].reason
    # nor when the lease cannot be read
    replay([(t, {**DOWN, "lease": "unknown"}, S.ENGINE_DOWN, ()) for t in range(0, 200, 10)])
    # and an engine that died here waits for a lease still held elsewhere
    replay([(0, UP_GOOD, S.ENGINE_UP, ())] + [(t, held, s, ()) for t, s in
            ((10, S.ENGINE_MAYBE_AWAY), (50, S.ENGINE_UNEXPECTEDLY_DOWN), (60, S.ENGINE_DOWN))]
           + [(t, held, S.ENGINE_DOWN, ()) for t in range(70, 1500, 10)])


def test_no_start_before_60_s_of_history() -> None:
    replay([(0, DOWN, S.ENGINE_DOWN, ()), (30, DOWN, S.ENGINE_DOWN, ()), (59.9, DOWN, S.ENGINE_DOWN, ()),
            (60, DOWN, S.ENGINE_START, (START_VM,))])


def test_best_score_starts_ties_let_the_lease_decide() -> None:
    def rows(my_score: int, other: int) -> list[Row]:
        return [(t, {**DOWN, "score": my_score, "peers": (peer(2, t // 10, other),)}, S.ENGINE_DOWN, ())
                for t in range(0, 60, 10)]

    replay(rows(3000, 3400) + [(60, {**DOWN, "score": 3000, "peers": (peer(2, 6, 3400),)}, S.ENGINE_DOWN, ())])
    replay(rows(3400, 3400) + [(60, {**DOWN, "peers": (peer(2, 6),)}, S.ENGINE_START, (START_VM,))])
    # the tie's loser: the lease refused the start, the VM stays down: a failed start, -50 next time
    lost = replay(rows(3400, 3400) + [(60, {**DOWN, "peers": (peer(2, 6),)}, S.ENGINE_START, (START_VM,)),
                                      (60, {**DOWN, "peers": (peer(2, 6, vm="up"),)}, S.ENGINE_DOWN, ())])
    assert lost[-1].machine.failed_starts == (60,)
    # a peer in local maintenance is no candidate whatever it publishes
    replay(rows(3000, 3400)[:0] + [(t, {**DOWN, "score": 3000, "peers": (peer(2, t, 3400, local_maintenance=True),)},
                                    S.ENGINE_DOWN if t < 60 else S.ENGINE_START, () if t < 60 else (START_VM,))
                                   for t in range(0, 70, 10)])


def test_engine_on_a_live_peer_is_left_alone_and_a_dead_peer_is_not_trusted() -> None:
    # node2 reports the engine up while its sequence changes; then its agent dies (sequence frozen)
    rows: list[Row] = [(t, {**DOWN, "peers": (peer(2, t // 10, vm="up"),)}, S.ENGINE_DOWN, ())
                       for t in range(0, 200, 10)]
    frozen = peer(2, 19, vm="up")
    rows += [(t, {**DOWN, "peers": (frozen,)}, S.ENGINE_DOWN, ()) for t in range(200, 240, 10)]
    # seen changed at 190: dead at the 5th tick after (SEEN_WINDOW 45 s), <= 60 s after node2's last write
    rows += [(240, {**DOWN, "peers": (frozen,)}, S.ENGINE_START, (START_VM,))]
    decisions = replay(rows)
    assert "runs on host node2" in decisions[5].reason
    assert live_peers(decisions[-2].machine, (frozen,), 230) == (frozen,)  # 40 s: still alive
    assert live_peers(decisions[-1].machine, (frozen,), 240) == ()


def test_move_a_running_engine_only_for_800_more() -> None:
    def up_rows(my_score: int, peer_score: int, end: int) -> list[Row]:
        return [(t, {**UP_GOOD, "score": my_score, "peers": (peer(2, t, peer_score),)}, S.ENGINE_UP, ())
                for t in range(0, end, 10)]

    replay(up_rows(2601, 3400, 300))  # 799 better: stays
    replay(up_rows(2600, 3399, 20) + [(20, {**UP_GOOD, "score": 2600, "peers": (peer(2, 20),)}, S.ENGINE_STOP,
                                       (STOP_VM,))])


def test_stop_times_out_into_force_stop() -> None:
    replay([(0, UP_GOOD, S.ENGINE_UP, ()),
            (10, {**UP_GOOD, "score": 2000, "peers": (peer(2, 1),)}, S.ENGINE_STOP, (STOP_VM,)),
            (300, UP_GOOD, S.ENGINE_STOP, ()),
            (310, UP_GOOD, S.ENGINE_FORCE_STOP, (DESTROY_VM,)),
            (320, UP_GOOD, S.ENGINE_FORCE_STOP, (DESTROY_VM,)),
            (330, DOWN, S.ENGINE_DOWN, ())])


def test_starting_timeout_counts_a_failed_start() -> None:
    decisions = replay([(0, UP_BAD, S.ENGINE_STARTING, ()), (599, UP_BAD, S.ENGINE_STARTING, ()),
                        (600, UP_BAD, S.ENGINE_STOP, (STOP_VM,)), (610, DOWN, S.ENGINE_DOWN, ())])
    assert decisions[-1].machine.failed_starts == (600,)
    # forgotten 600 s after the last failure
    later = step(decisions[-1].machine, obs(**DOWN, lease="other"), 1201)
    assert later.machine.failed_starts == ()


def test_vm_that_dies_while_starting_is_a_failed_start() -> None:
    decisions = replay([(0, DOWN, S.ENGINE_DOWN, ()), (60, DOWN, S.ENGINE_START, (START_VM,)),
                        (60, UP_BAD, S.ENGINE_STARTING, ()), (70, DOWN, S.ENGINE_DOWN, ())])
    assert decisions[-1].machine.failed_starts == (70,)


def test_global_maintenance_does_nothing() -> None:
    g = {"global_maintenance": True}
    decisions = replay([(0, UP_GOOD, S.ENGINE_UP, ()), (10, {**UP_GOOD, **g}, S.GLOBAL_MAINTENANCE, ()),
                        (20, {**DOWN, **g}, S.GLOBAL_MAINTENANCE, ()),  # stopped by hand: stays stopped
                        (900, {**DOWN, **g}, S.GLOBAL_MAINTENANCE, ()),
                        (910, DOWN, S.ENGINE_DOWN, ()),  # `none`: it comes back
                        (920, DOWN, S.ENGINE_START, (START_VM,))])
    assert decisions[-2].reason == "leaving GlobalMaintenance; the engine VM does not run here"
    # an unreadable global slot is treated the same: no action on garbage
    replay([(0, {**DOWN, "global_maintenance": None}, S.GLOBAL_MAINTENANCE, ())])


def test_local_maintenance_moves_the_engine_first() -> None:
    lm = {"local_maintenance": True, "score": 0}

    def with_peer(now: float, seen: dict[str, Any]) -> dict[str, Any]:
        return {**seen, "peers": (peer(2, int(now)),)}  # a live peer: its sequence changes every tick

    decisions = replay([(0, with_peer(0, UP_GOOD), S.ENGINE_UP, ()),
                        (10, with_peer(10, {**UP_GOOD, **lm}), S.ENGINE_STOP, (STOP_VM,)),
                        (20, with_peer(20, {**UP_GOOD, **lm}), S.ENGINE_STOP, ()),
                        (30, with_peer(30, {**DOWN, **lm}), S.LOCAL_MAINTENANCE, ()),
                        (40, with_peer(40, {**DOWN, **lm}), S.LOCAL_MAINTENANCE, ())])
    assert decisions[-1].score == 0
    replay([(50, DOWN, S.ENGINE_DOWN, ()), (60, DOWN, S.ENGINE_START, (START_VM,))], decisions[-1].machine)


def test_local_maintenance_keeps_the_engine_when_no_other_host_can_take_it() -> None:
    lm = {"local_maintenance": True, "score": 0}
    peers = {"peers": (peer(2, 1, local_maintenance=True), peer(3, 1, score=0))}  # none can take it
    decisions = replay([(0, {**UP_GOOD, **peers}, S.ENGINE_UP, ()),
                        (10, {**UP_GOOD, **lm, **peers}, S.ENGINE_UP, ()),
                        (20, {**UP_GOOD, **lm}, S.ENGINE_UP, ())])
    assert decisions[-1].reason.startswith("local maintenance waits: no other live host can take the engine")
    assert decisions[-1].score == 0
    # a host that can take it shows up: now the engine moves
    replay([(30, {**UP_GOOD, **lm, "peers": (peer(4, 1),)}, S.ENGINE_STOP, (STOP_VM,))], decisions[-1].machine)


def test_global_maintenance_leaves_a_running_engine_alone() -> None:
    better = {"peers": (peer(2, 1, score=3400),)}
    replay([(0, {**UP_GOOD, "score": 1000}, S.ENGINE_UP, ()),
            (10, {**UP_BAD, "score": 1000, "global_maintenance": True, **better}, S.GLOBAL_MAINTENANCE, ()),
            (400, {**UP_BAD, "score": 1000, "global_maintenance": True, **better}, S.GLOBAL_MAINTENANCE, ()),
            (410, {**UP_BAD, "score": 0, "global_maintenance": True, "local_maintenance": True, **better},
             S.GLOBAL_MAINTENANCE, ())])


def test_unknown_local_vm_state_waits() -> None:
    replay([(0, UP_GOOD, S.ENGINE_UP, ()), (10, {"vm": "unknown"}, S.UNKNOWN_LOCAL_VM_STATE, ()),
            (20, {"vm": "unknown"}, S.UNKNOWN_LOCAL_VM_STATE, ()), (30, UP_GOOD, S.ENGINE_UP, ())])


def test_engine_running_here_unexpectedly_is_monitored() -> None:
    replay([(0, DOWN, S.ENGINE_DOWN, ()), (10, UP_GOOD, S.ENGINE_UP, ())])


def test_engine_moved_away_while_maybe_away() -> None:
    replay([(0, {**UP_GOOD, "peers": (peer(2, 0),)}, S.ENGINE_UP, ()),
            (10, {**DOWN, "peers": (peer(2, 1),)}, S.ENGINE_MAYBE_AWAY, ()),
            (20, {**DOWN, "peers": (peer(2, 2, vm="up"),)}, S.ENGINE_DOWN, ())])


def test_unexpectedly_down_waits_560_s_when_another_host_can_take_it() -> None:
    def p(t: float) -> dict[str, Any]:
        return {**DOWN, "peers": (peer(2, int(t), 3000),)}

    rows: list[Row] = [(0, {**UP_GOOD, "peers": (peer(2, 0, 3000),)}, S.ENGINE_UP, ()),
                       (10, p(10), S.ENGINE_MAYBE_AWAY, ()), (50, p(50), S.ENGINE_UNEXPECTEDLY_DOWN, ())]
    rows += [(t, p(t), S.ENGINE_UNEXPECTEDLY_DOWN, ()) for t in range(60, 610, 10)]
    rows += [(610, p(610), S.ENGINE_DOWN, ()), (620, p(620), S.ENGINE_START, (START_VM,))]
    replay(rows)


def test_stopped_agent_and_seen_history() -> None:
    m = stopped(Machine(), 5.0)
    assert m.state == S.AGENT_STOPPED
    assert step(m, obs(**UP_GOOD), 6.0).state == S.ENGINE_UP
    seen = update_seen((), (peer(2, 7),), 1.0)
    assert update_seen(seen, (peer(2, 7),), 50.0) == seen
    assert update_seen(seen, (peer(2, 8),), 50.0)[0].changed_at == 50.0
    assert update_seen(seen, (), 50.0) == ()
    assert live_peers(replace(Machine(), seen=seen), (peer(2, 7, stopped=True),), 2.0) == ()
