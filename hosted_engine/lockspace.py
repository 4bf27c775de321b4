"""sanlock for the hosted engine: the lockspace (host ids) and the VM lease (docs/hosted-engine.md).

Through python3-sanlock (Debian's binding to libsanlock), which talks to the local sanlock daemon
over its socket: $SANLOCK_RUN_DIR/sanlock.sock, /run/sanlock/sanlock.sock by default (the variable
is read by libsanlock at each call, so the test harness points one process at several daemons).

- The lockspace `hosted-engine` (file `lockspace`): a host that holds host id N in it may write
  metadata slot N; sanlock renews it every 2*io_timeout and the daemon kills the lease holders
  (and, with the watchdog, resets the host) when it cannot.
- The resource `engine-vm` (file `vm.lease`): held for the qemu process by libvirt's sanlock lock
  manager, so a second start anywhere fails with -243 "Lease is held by another host". The agent
  only reads who owns it.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hosted_engine.layout import LOCKSPACE_NAME
from hosted_engine.layout import MAX_HOST_ID as MAX_HOSTS
from hosted_engine.layout import VM_LEASE_NAME as RESOURCE_NAME
from nodecore.errors import HcinodeError

ALIGN = 1048576  # 1 MiB: 2000 hosts at 512-byte sectors, 250 at 4096 (sanlock's rule), enough for both
SECTORS = (512, 4096)
JOIN_TIMEOUT = 300.0  # add_lockspace takes ~3*io_timeout+; a host id another live host holds never comes
EAGAIN_HELD = -243  # sanlock's SANLK_ACQUIRE_IDLIVE: "Lease is held by another host"

# sanlock.HOST_* (get_hosts flags)
HOST_FLAGS = {1: "unknown", 2: "free", 3: "live", 4: "fail", 5: "dead"}


class LockspaceError(HcinodeError):
    """A sanlock call failed; `errno` is sanlock's (negative for its own codes, e.g. -243)."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.errno = code


def _sanlock() -> Any:
    import sanlock  # python3-sanlock (Debian); the venv sees it through --system-site-packages

    return sanlock


def _fail(what: str, exc: Exception) -> LockspaceError:
    raw = getattr(exc, "errno", None)
    code = raw if isinstance(raw, int) else 0
    text = exc.args[1] if len(exc.args) > 1 else str(exc)
    hint = ""
    if code in (errno.ECONNREFUSED, errno.ENOENT):
        hint = " (is the sanlock daemon running? systemctl start sanlock)"
    return LockspaceError(f"sanlock {what}: {text} [{code}]{hint}", code)


def _check_sector(sector: int) -> None:
    if sector not in SECTORS:
        raise LockspaceError(f"sector size {sector} is not one of {SECTORS}")


def _ensure_file(path: str, size: int) -> None:
    """sanlock writes into an existing file: make it (ALIGN bytes) when it is not there."""
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)


def init_lockspace(path: str, sector: int = 512, io_timeout: int = 10) -> None:
    """Write an empty lockspace (every host id free) into `path`. Destroys any lockspace there."""
    _check_sector(sector)
    _ensure_file(path, ALIGN)
    try:
        _sanlock().write_lockspace(LOCKSPACE_NAME.encode(), path, offset=0, max_hosts=MAX_HOSTS,
                                   iotimeout=io_timeout, align=ALIGN, sector=sector)
    except Exception as exc:  # sanlock.SanlockException; the module may not be importable in a fake
        raise _fail(f"write_lockspace {path}", exc) from None


def init_lease(path: str, sector: int = 512) -> None:
    """Write the free `engine-vm` resource into `path`."""
    _check_sector(sector)
    _ensure_file(path, ALIGN)
    try:
        _sanlock().write_resource(LOCKSPACE_NAME.encode(), RESOURCE_NAME.encode(), [(path, 0)],
                                  max_hosts=MAX_HOSTS, align=ALIGN, sector=sector)
    except Exception as exc:
        raise _fail(f"write_resource {path}", exc) from None


@dataclass(frozen=True)
class HostStatus:
    host_id: int
    status: str  # live / fail / dead / free / unknown
    generation: int
    timestamp: int  # the host's last renewal on the lockspace (its own clock, display only)

    @property
    def alive(self) -> bool:
        """Still to be treated as running: a failing host may yet hold leases (until host_dead), and
        so may one sanlock has not watched long enough to judge ("unknown": right after this host
        joined or rejoined the lockspace). Only "dead" and "free" mean its leases are gone."""
        return self.status not in ("dead", "free")


@dataclass
class Lockspace:
    """This host's view of the `hosted-engine` lockspace at `path`, as `host_id`."""

    path: str
    host_id: int
    io_timeout: int = 10
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if not 1 <= self.host_id <= MAX_HOSTS:
            raise LockspaceError(f"host id {self.host_id} is outside 1..{MAX_HOSTS}")

    @property
    def _ls(self) -> bytes:
        return LOCKSPACE_NAME.encode()

    def joined(self) -> bool | None:
        """True: this host holds its id; False: not; None: a join (or leave) is still going on."""
        try:
            result = _sanlock().inq_lockspace(self._ls, self.host_id, self.path, 0, wait=False)
        except Exception as exc:
            raise _fail("inq_lockspace", exc) from None
        return None if result is None else bool(result)

    def start_join(self) -> None:
        """Ask the daemon for our host id without waiting (it takes ~3*io_timeout or longer)."""
        try:
            _sanlock().add_lockspace(self._ls, self.host_id, self.path, 0, iotimeout=self.io_timeout, wait=False)
        except Exception as exc:
            if getattr(exc, "errno", None) == errno.EEXIST:
                return  # already joined, or joining: inq says which
            raise _fail(f"add_lockspace host id {self.host_id}", exc) from None

    def join(self, timeout: float = JOIN_TIMEOUT, poll: float = 1.0) -> None:
        """Hold our host id, waiting at most `timeout` seconds (never blocking inside sanlock: the
        agent's signal handlers stay responsive and a stuck join becomes an error, not a hang)."""
        if self.joined():
            return
        self.start_join()
        deadline = self.clock() + timeout
        while True:
            state = self.joined()
            if state:
                return
            if state is False:
                # the daemon gave up (e.g. another live host holds this id: its delta lease renews)
                raise LockspaceError(f"could not take host id {self.host_id} in {self.path}: another host "
                                     "may hold it (is the host id unique?) or the storage is unreachable")
            if self.clock() >= deadline:
                raise LockspaceError(f"host id {self.host_id} in {self.path}: not joined after {timeout:.0f} s")
            self.sleep(poll)

    def leave(self) -> bool:
        """Release our host id unless a lease in the lockspace is held (unused=True: the daemon would
        otherwise kill the engine's qemu, which holds the VM lease). True when released."""
        try:
            _sanlock().rem_lockspace(self._ls, self.host_id, self.path, 0, wait=True, unused=True)
        except Exception as exc:
            code = getattr(exc, "errno", None)
            if code == errno.EBUSY:
                return False
            if code == errno.ENOENT:
                return True  # not joined
            raise _fail("rem_lockspace", exc) from None
        return True

    def hosts(self) -> dict[int, HostStatus]:
        """Every host id sanlock knows in this lockspace, live or dead (needs our own id joined).
        Right after a join the daemon answers EAGAIN until it has read the other hosts' delta
        leases once: that is an error here (callers then treat the lease as unknown, never free)."""
        try:
            rows = _sanlock().get_hosts(self._ls, 0)
        except Exception as exc:
            raise _fail("get_hosts", exc) from None
        out = {}
        for row in rows:
            hid = int(row["host_id"])
            out[hid] = HostStatus(hid, HOST_FLAGS.get(int(row["flags"]), "unknown"), int(row["generation"]),
                                  int(row["timestamp"]))
        return out


def join_lockspace(path: str, host_id: int, io_timeout: int = 10) -> None:
    """The deploy's step: hold `host_id` in the lockspace before libvirt starts the engine (the VM
    lease lives in this lockspace, so its holder must have joined it)."""
    Lockspace(path, host_id, io_timeout).join()


def leave_lockspace(path: str, host_id: int) -> None:
    """The cleanup's step (after the engine VM is stopped: a held lease keeps the host id)."""
    if not Lockspace(path, host_id).leave():
        raise LockspaceError(f"cannot leave the lockspace {path}: a lease in it is still held (stop the engine VM)")


def lease_owners(lease_path: str, sector: int = 512) -> list[int]:
    """Host ids written as owners of the VM lease (sanlock does not filter out failed or dead ones)."""
    try:
        rows = _sanlock().read_resource_owners(LOCKSPACE_NAME.encode(), RESOURCE_NAME.encode(),
                                               [(lease_path, 0)], align=ALIGN, sector=sector)
    except Exception as exc:
        raise _fail(f"read_resource_owners {lease_path}", exc) from None
    return sorted(int(r["host_id"]) for r in rows)


def lease_state(my_host_id: int, owners: list[int], hosts: dict[int, HostStatus]) -> str:
    """The VM lease as the state machine needs it: "free", "mine" or "other" (held by a host that is
    live or failing: it may still run the engine until sanlock declares it dead)."""
    others = [h for h in owners if h != my_host_id and (h not in hosts or hosts[h].alive)]
    if others:
        return "other"
    return "mine" if my_host_id in owners else "free"
