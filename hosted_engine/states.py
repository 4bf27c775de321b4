"""The HA agent's state machine as one pure function (docs/hosted-engine.md "States").

    step(machine, observation, now) -> Decision(machine', actions, score, reason)

`machine` is everything the agent remembers between ticks (state, when it was entered, the
observer's own history of every peer's slot sequence, failed starts); `observation` is what the
agent read this tick (local VM, engine health, its score, maintenance flags, the VM lease, the
peers' metadata slots); `now` is the agent's monotonic clock. Nothing here does I/O, so recorded
input sequences replay exactly (tests/unit/hosted_engine/test_states.py).

The states and timeouts are oVirt's (ovirt-hosted-engine-ha). Liveness of a peer is judged only
from the change of its slot's sequence number in this observer's own monotonic history: no host
compares its clock with another's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from hosted_engine import score as scoring


class State(StrEnum):
    REINITIALIZE = "ReinitializeFSM"
    ENGINE_DOWN = "EngineDown"
    ENGINE_START = "EngineStart"
    ENGINE_STARTING = "EngineStarting"
    ENGINE_UP = "EngineUp"
    ENGINE_UP_BAD_HEALTH = "EngineUpBadHealth"
    ENGINE_STOP = "EngineStop"
    ENGINE_FORCE_STOP = "EngineForceStop"
    ENGINE_MAYBE_AWAY = "EngineMaybeAway"
    ENGINE_UNEXPECTEDLY_DOWN = "EngineUnexpectedlyDown"
    GLOBAL_MAINTENANCE = "GlobalMaintenance"
    LOCAL_MAINTENANCE = "LocalMaintenance"
    UNKNOWN_LOCAL_VM_STATE = "UnknownLocalVmState"
    AGENT_STOPPED = "AgentStopped"


# seconds in a state before its timeout transition (oVirt's constants)
TIMEOUTS = {
    State.ENGINE_STARTING: 600.0,  # boot + engine start; then the start counts as failed and we stop it
    State.ENGINE_UP_BAD_HEALTH: 300.0,  # then stop it so it restarts (here or on a better host)
    State.ENGINE_STOP: 300.0,  # graceful shutdown; then EngineForceStop (destroy)
    State.ENGINE_MAYBE_AWAY: 40.0,  # the VM left this host: give another host time to show it up
    State.ENGINE_UNEXPECTEDLY_DOWN: 560.0,  # score 0 so a better host restarts it
}
ALIVE_WINDOW = 60.0  # a host whose slot was not rewritten for this many seconds is stale (the bound)
TICK = 10.0  # the agent's loop (ha_agent.INTERVAL): an observer sees a write up to one tick after it
# A peer is alive while this observer saw its sequence change less than SEEN_WINDOW s ago. The write
# happened up to one TICK before the observer saw it, and a verdict is given only at the observer's
# ticks, so 60 s would make a dead host stale up to 60 + 2 ticks after its last write (measured: 64 s).
# 45 s gives the verdict at the 5th tick after the observer saw the last change: at most 60 s after
# the write; the 5 s below 50 absorb the jitter of a tick's start (a Gluster read), so the verdict does
# not slip a tick. A live host rewrites its slot every tick: 45 s is still 4 missed writes.
SEEN_WINDOW = ALIVE_WINDOW - TICK - 5.0
HISTORY_NEEDED = 60.0  # no start before this host has watched the others this long

# actions the agent performs after a step (ha_agent.Actions)
START_VM = "start_vm"
STOP_VM = "stop_vm"  # graceful (ACPI shutdown)
DESTROY_VM = "destroy_vm"

# states whose published score is 0: they ask the other hosts to take over (oVirt)
ZERO_SCORE = {State.REINITIALIZE, State.LOCAL_MAINTENANCE, State.ENGINE_UP_BAD_HEALTH,
              State.ENGINE_UNEXPECTEDLY_DOWN, State.AGENT_STOPPED}


@dataclass(frozen=True)
class Peer:
    """Another host's metadata slot as read this tick (only slots that decoded: never garbage)."""

    host_id: int
    hostname: str
    sequence: int
    score: int
    engine_vm: str = "down"  # up / down / unknown on that host
    engine_health: str = "unknown"
    local_maintenance: bool = False
    stopped: bool = False


@dataclass(frozen=True)
class Observation:
    """What this host saw this tick."""

    vm: str  # the engine VM on this host: up / down / unknown (libvirt unreachable)
    health: str  # the engine's /health as this host sees it: good / bad / unknown
    score: int  # score.compute() for this tick
    global_maintenance: bool | None  # None: slot 0 unreadable (do not act)
    local_maintenance: bool = False
    lease: str = "free"  # the VM lease: free / mine / other / unknown
    peers: tuple[Peer, ...] = ()
    penalties: tuple[tuple[str, int], ...] = ()  # score.penalties(): shown in the status, not decided on


@dataclass(frozen=True)
class Seen:
    host_id: int
    sequence: int
    changed_at: float  # our monotonic time when we first saw this sequence


@dataclass(frozen=True)
class Machine:
    state: State = State.REINITIALIZE
    entered_at: float = 0.0
    history_since: float | None = None  # our first tick
    seen: tuple[Seen, ...] = ()
    failed_starts: tuple[float, ...] = ()  # monotonic times of failed starts (score penalty)


@dataclass(frozen=True)
class Decision:
    machine: Machine
    actions: tuple[str, ...]
    score: int  # what this host publishes in its slot
    reason: str
    nowait: bool = False  # run the next tick at once (after a start or stop action)

    @property
    def state(self) -> State:
        return self.machine.state


def update_seen(seen: tuple[Seen, ...], peers: tuple[Peer, ...], now: float) -> tuple[Seen, ...]:
    """The observer's history: a peer's changed_at moves to `now` whenever its sequence changed.
    A slot that did not decode this tick drops out (its host is then not alive to us)."""
    before = {s.host_id: s for s in seen}
    out = []
    for p in sorted(peers, key=lambda p: p.host_id):
        old = before.get(p.host_id)
        out.append(old if old is not None and old.sequence == p.sequence else Seen(p.host_id, p.sequence, now))
    return tuple(out)


def live_peers(machine: Machine, peers: tuple[Peer, ...], now: float) -> tuple[Peer, ...]:
    changed = {s.host_id: s.changed_at for s in machine.seen}
    return tuple(p for p in peers if not p.stopped and p.host_id in changed
                 and now - changed[p.host_id] < SEEN_WINDOW)


def _published(state: State, observed: int) -> int:
    return 0 if state in ZERO_SCORE else observed


@dataclass
class _Tick:
    """The working data of one step (not kept)."""

    m: Machine
    obs: Observation
    now: float
    live: tuple[Peer, ...]

    def go(self, state: State, reason: str, actions: tuple[str, ...] = (), nowait: bool = False,
           failed_start: bool = False) -> Decision:
        m = self.m
        if failed_start:
            m = replace(m, failed_starts=(*m.failed_starts, self.now))
        if state != m.state:
            m = replace(m, state=state, entered_at=self.now)
        return Decision(m, actions, _published(state, self.obs.score), reason, nowait)

    def stay(self, reason: str, actions: tuple[str, ...] = ()) -> Decision:
        return self.go(self.m.state, reason, actions)

    def timed_out(self) -> bool:
        limit = TIMEOUTS.get(self.m.state)
        return limit is not None and self.now - self.m.entered_at >= limit

    def engine_elsewhere(self) -> Peer | None:
        return next((p for p in self.live if p.engine_vm == "up"), None)

    def best_peer(self) -> Peer | None:
        candidates = [p for p in self.live if not p.local_maintenance]
        if not candidates:
            return None
        return max(candidates, key=lambda p: (p.score, -p.host_id))

    def takers(self) -> list[Peer]:
        """Live peers that could start the engine (a score above 0, not in local maintenance)."""
        return [p for p in self.live if p.score > 0 and not p.local_maintenance]

    def much_better_peer(self, my_score: int) -> Peer | None:
        best = self.best_peer()
        if best is not None and best.score >= my_score + scoring.MIGRATION_THRESHOLD:
            return best
        return None


def step(machine: Machine, obs: Observation, now: float) -> Decision:
    """One tick of the state machine."""
    m = replace(machine, history_since=now if machine.history_since is None else machine.history_since,
                seen=update_seen(machine.seen, obs.peers, now))
    if m.failed_starts and scoring.failed_start_count(m.failed_starts, now) == 0:
        m = replace(m, failed_starts=())
    tick = _Tick(m, obs, now, live_peers(m, obs.peers, now))
    decision = _decide(tick)
    if decision.state == State.REINITIALIZE:
        # ReinitializeFSM only picks the real state: do that in the same tick (it never returns
        # to ReinitializeFSM, so this is one hop)
        follow = _decide(_Tick(decision.machine, obs, now, tick.live))
        decision = replace(follow, reason=f"{decision.reason}; {follow.reason}",
                           actions=decision.actions + follow.actions, nowait=decision.nowait or follow.nowait)
    return decision


def _decide(t: _Tick) -> Decision:
    obs, state = t.obs, t.m.state
    if obs.global_maintenance is None:
        return t.go(State.GLOBAL_MAINTENANCE, "the global metadata slot is unreadable: not acting on it")
    if obs.global_maintenance:
        return t.go(State.GLOBAL_MAINTENANCE, "global maintenance: nobody acts on the engine VM")
    if obs.vm == "unknown":
        return t.go(State.UNKNOWN_LOCAL_VM_STATE, "the local VM state is unknown (libvirt unreachable?)")
    if obs.local_maintenance:
        if obs.vm != "up":
            return t.go(State.LOCAL_MAINTENANCE, "local maintenance")
        if state not in (State.ENGINE_STOP, State.ENGINE_FORCE_STOP):
            if t.takers():
                return t.go(State.ENGINE_STOP, "local maintenance: stopping the engine here so another host runs it",
                            (STOP_VM,), nowait=True)
            # stopping it now would leave the engine down everywhere: keep it (score 0 meanwhile, so
            # the first live host that can take it over makes this branch stop it)
            decision = _BY_STATE[state](t)
            return replace(decision, reason="local maintenance waits: no other live host can take the engine; "
                           + decision.reason)
    return _BY_STATE[state](t)


def _passive(t: _Tick) -> Decision:
    # GlobalMaintenance, LocalMaintenance, UnknownLocalVmState and AgentStopped: the condition that
    # held us here is gone (the checks in _decide came first), start over
    return t.go(State.REINITIALIZE, f"leaving {t.m.state}")


def _reinitialize(t: _Tick) -> Decision:
    if t.obs.vm == "up":
        if t.obs.health == "good":
            return t.go(State.ENGINE_UP, "the engine VM runs here and is healthy")
        return t.go(State.ENGINE_STARTING, "the engine VM runs here, waiting for its health")
    return t.go(State.ENGINE_DOWN, "the engine VM does not run here")


def _engine_down(t: _Tick) -> Decision:
    obs = t.obs
    if obs.vm == "up":
        return _reinitialize(t)
    elsewhere = t.engine_elsewhere()
    if elsewhere is not None:
        return t.stay(f"the engine VM runs on host {elsewhere.hostname} (id {elsewhere.host_id})")
    since = t.m.history_since
    history = 0.0 if since is None else t.now - since
    if history < HISTORY_NEEDED:
        return t.stay(f"the engine is down; watching the other hosts ({history:.0f} of {HISTORY_NEEDED:.0f} s)")
    if obs.lease not in ("free", "mine"):
        why = "held by another host" if obs.lease == "other" else "unreadable"
        return t.stay(f"the engine is down here but the VM lease is {why}: not starting it")
    if obs.score <= 0:
        return t.stay("the engine is down; this host's score is 0")
    best = t.best_peer()
    if best is not None and best.score > obs.score:
        return t.stay(f"the engine is down; host {best.hostname} (id {best.host_id}) has a better score "
                      f"({best.score} > {obs.score})")
    # the best score, or a tie: every tied host tries and the VM lease lets exactly one start it
    return t.go(State.ENGINE_START, f"the engine is down and this host has the best score ({obs.score}): starting it",
                (START_VM,), nowait=True)


def _engine_start(t: _Tick) -> Decision:
    if t.obs.vm == "up":
        return t.go(State.ENGINE_STARTING, "the engine VM started, waiting for its health")
    return t.go(State.ENGINE_DOWN, "the engine VM did not start (lease held elsewhere, or libvirt failed)",
                failed_start=True)


def _engine_starting(t: _Tick) -> Decision:
    if t.obs.vm != "up":
        return t.go(State.ENGINE_DOWN, "the engine VM stopped while starting", failed_start=True)
    if t.obs.health == "good":
        return t.go(State.ENGINE_UP, "the engine is healthy")
    if t.timed_out():
        return t.go(State.ENGINE_STOP, f"the engine was not healthy {TIMEOUTS[State.ENGINE_STARTING]:.0f} s after "
                    "its start: stopping it", (STOP_VM,), nowait=True, failed_start=True)
    return t.stay("waiting for the engine's health")


def _engine_up(t: _Tick) -> Decision:
    if t.obs.vm != "up":
        return t.go(State.ENGINE_MAYBE_AWAY, "the engine VM is gone from this host")
    my_score = _published(t.m.state, t.obs.score)
    better = t.much_better_peer(my_score)
    if better is not None:
        return t.go(State.ENGINE_STOP, f"host {better.hostname} (id {better.host_id}) scores {better.score}, "
                    f"{scoring.MIGRATION_THRESHOLD}+ above this host's {my_score}: stopping the engine here",
                    (STOP_VM,), nowait=True)
    if t.obs.health != "good":
        if t.m.state == State.ENGINE_UP_BAD_HEALTH:
            if t.timed_out():
                return t.go(State.ENGINE_STOP, f"the engine stayed unhealthy for "
                            f"{TIMEOUTS[State.ENGINE_UP_BAD_HEALTH]:.0f} s: stopping it", (STOP_VM,), nowait=True)
            return t.stay("the engine VM runs here but the engine is not healthy")
        return t.go(State.ENGINE_UP_BAD_HEALTH, "the engine VM runs here but the engine is not healthy")
    return t.go(State.ENGINE_UP, "the engine runs here and is healthy")


def _engine_maybe_away(t: _Tick) -> Decision:
    if t.obs.vm == "up":
        return _reinitialize(t)
    elsewhere = t.engine_elsewhere()
    if elsewhere is not None:
        return t.go(State.ENGINE_DOWN, f"the engine VM moved to host {elsewhere.hostname} (id {elsewhere.host_id})")
    if t.timed_out():
        return t.go(State.ENGINE_UNEXPECTEDLY_DOWN, "the engine VM died on this host")
    return t.stay("the engine VM left this host; waiting for another host to show it up")


def _engine_unexpectedly_down(t: _Tick) -> Decision:
    if t.obs.vm == "up":
        return _reinitialize(t)
    if t.timed_out():
        return t.go(State.ENGINE_DOWN, "the unexpected-shutdown penalty expired")
    # score 0 here hands the engine to a better host; when no other live host could take it,
    # waiting out the penalty only keeps the engine down, so this host restarts it (its failed
    # starts still count: a VM that keeps dying ends at score 0 until FAILED_START_RESET)
    if not t.takers():
        return t.go(State.ENGINE_DOWN, "the engine VM died and no other live host can start it")
    return t.stay("the engine VM died here: score 0 so another host starts it")


def _engine_stop(t: _Tick) -> Decision:
    if t.obs.vm != "up":
        return t.go(State.ENGINE_DOWN, "the engine VM is stopped")
    if t.timed_out():
        return t.go(State.ENGINE_FORCE_STOP, f"the engine VM did not shut down in "
                    f"{TIMEOUTS[State.ENGINE_STOP]:.0f} s: destroying it", (DESTROY_VM,), nowait=True)
    return t.stay("waiting for the engine VM to shut down")


def _engine_force_stop(t: _Tick) -> Decision:
    if t.obs.vm != "up":
        return t.go(State.ENGINE_DOWN, "the engine VM is destroyed")
    return t.stay("the engine VM is still running: destroying it again", (DESTROY_VM,))


_BY_STATE = {
    State.REINITIALIZE: _reinitialize,
    State.ENGINE_DOWN: _engine_down,
    State.ENGINE_START: _engine_start,
    State.ENGINE_STARTING: _engine_starting,
    State.ENGINE_UP: _engine_up,
    State.ENGINE_UP_BAD_HEALTH: _engine_up,
    State.ENGINE_STOP: _engine_stop,
    State.ENGINE_FORCE_STOP: _engine_force_stop,
    State.ENGINE_MAYBE_AWAY: _engine_maybe_away,
    State.ENGINE_UNEXPECTEDLY_DOWN: _engine_unexpectedly_down,
    State.GLOBAL_MAINTENANCE: _passive,
    State.LOCAL_MAINTENANCE: _passive,
    State.UNKNOWN_LOCAL_VM_STATE: _passive,
    State.AGENT_STOPPED: _passive,
}


def stopped(machine: Machine, now: float) -> Machine:
    """The machine the agent publishes when it exits cleanly (the engine VM, if it runs here, keeps
    running: its lease is held by qemu, not by the agent)."""
    return replace(machine, state=State.AGENT_STOPPED, entered_at=now)
