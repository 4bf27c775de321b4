"""sanlock for real: two daemons (two run dirs, as two hosts) on one XFS loop file.

Each daemon is started as DESIGN.md says for machines without full capabilities
(SANLOCK_PRIVILEGED=0, -w 0: no watchdog here). libsanlock finds its daemon through
$SANLOCK_RUN_DIR and remembers the socket for the life of the process, so each "host" is its own
Python process with its own SANLOCK_RUN_DIR running hosted_engine.lockspace.
Proves: both join with different host ids and see each other live; the VM lease acquired by one
is refused to the other with -243; closing the holder's fd releases it; leave keeps a host id whose
lease is held.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

if os.geteuid() != 0 or not shutil.which("sanlock") or not shutil.which("mkfs.xfs"):
    pytest.skip("needs root, sanlock and xfsprogs", allow_module_level=True)

from tests.integration.xfs_loop import xfs_mount  # noqa: E402

REPO = str(Path(__file__).resolve().parents[2])
IO_TIMEOUT = 2

# what one host runs: a JSON line per answer (lockspace calls, or holding the lease until stdin closes)
HOST_SCRIPT = r"""
import json, os, sys
import sanlock
from hosted_engine import lockspace as L
cmd, d, hid = sys.argv[1], sys.argv[2], int(sys.argv[3])
ls = L.Lockspace(os.path.join(d, "lockspace"), hid, io_timeout=IO_TIMEOUT)
lease = os.path.join(d, "vm.lease")
def say(**kw): print(json.dumps(kw), flush=True)
if cmd == "init":
    L.init_lockspace(ls.path, int(sys.argv[4]), IO_TIMEOUT); L.init_lease(lease, int(sys.argv[4])); say(ok=True)
elif cmd == "join":
    ls.join(timeout=120, poll=0.5); say(joined=ls.joined())
elif cmd == "hosts":
    try:
        ls.hosts()
    except L.LockspaceError as e:
        say(error=e.errno); sys.exit(0)
    say(hosts={h: s.status for h, s in ls.hosts().items()}, owners=L.lease_owners(lease),
        lease=L.lease_state(hid, L.lease_owners(lease), ls.hosts()))
elif cmd == "hold":
    fd = sanlock.register()
    try:
        sanlock.acquire(L.LOCKSPACE_NAME.encode(), L.RESOURCE_NAME.encode(), [(lease, 0)], slkfd=fd)
    except sanlock.SanlockException as e:
        say(acquired=False, errno=e.errno); sys.exit(0)
    say(acquired=True)
    sys.stdin.read()
elif cmd == "leave":
    say(left=ls.leave())
""".replace("IO_TIMEOUT", str(IO_TIMEOUT))


class Host:
    def __init__(self, name: str, work: str) -> None:
        self.name = name
        self.run_dir = os.path.join(work, f"run-{name}")
        os.makedirs(self.run_dir)
        self.env = {**os.environ, "SANLOCK_RUN_DIR": self.run_dir, "SANLOCK_PRIVILEGED": "0", "PYTHONPATH": REPO}
        with open(os.path.join(work, f"{name}.log"), "wb") as daemon_log:  # the child keeps its own copy
            self.daemon = subprocess.Popen(
                ["sanlock", "daemon", "-D", "-w", "0", "-l", "0", "-h", "0", "-L", "-1", "-S", "-1", "-e", name,
                 "-o", str(IO_TIMEOUT)], env=self.env, stdout=subprocess.DEVNULL, stderr=daemon_log)
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(self.run_dir, "sanlock.sock")):
            assert time.monotonic() < deadline, f"sanlock daemon {name} did not start"
            time.sleep(0.1)

    def call(self, *args: object) -> dict[str, object]:
        out = subprocess.run([sys.executable, "-c", HOST_SCRIPT, *map(str, args)], env=self.env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.splitlines()[-1])

    def holder(self, d: str, host_id: int) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, "hold", d, str(host_id)], env=self.env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def stop(self) -> None:
        subprocess.run(["sanlock", "shutdown", "-f", "1"], env=self.env, capture_output=True, timeout=30)
        try:
            self.daemon.wait(10)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait(10)


@pytest.fixture(scope="module")
def hosts() -> Iterator[tuple[str, Host, Host]]:
    work = tempfile.mkdtemp(prefix="hcinode-he-sanlock-")
    with xfs_mount() as mnt:
        a = Host("hostA", work)
        b = Host("hostB", work)
        try:
            yield mnt, a, b
        finally:
            a.stop()
            b.stop()
            shutil.rmtree(work, ignore_errors=True)


def test_lockspace_and_lease_between_two_hosts(hosts: tuple[str, Host, Host]) -> None:
    mnt, a, b = hosts
    d = os.path.join(mnt, "dep512")
    os.makedirs(d)
    assert a.call("init", d, 1, 512) == {"ok": True}
    join_a = subprocess.Popen([sys.executable, "-c", HOST_SCRIPT, "join", d, "1"], env=a.env, stdout=subprocess.PIPE)
    assert b.call("join", d, 2) == {"joined": True}
    assert join_a.wait(180) == 0
    # each daemon learns the other from its renewals on disk
    deadline = time.monotonic() + 60
    while True:
        seen = b.call("hosts", d, 2)
        if seen.get("hosts") == {"1": "live", "2": "live"}:
            break
        assert time.monotonic() < deadline, seen
        time.sleep(1)
    assert seen["lease"] == "free"

    holder = a.holder(d, 1)
    assert holder.stdout is not None
    assert json.loads(holder.stdout.readline()) == {"acquired": True}
    assert b.call("hosts", d, 2)["lease"] == "other"
    assert a.call("hosts", d, 1)["owners"] == [1]
    assert b.call("hold", d, 2) == {"acquired": False, "errno": -243}  # "Lease is held by another host"
    assert a.call("leave", d, 1) == {"left": False}  # a held lease keeps the host id (and its holder alive)
    assert holder.poll() is None

    assert holder.stdin is not None
    holder.stdin.close()  # the holder exits: its registered fd closes and sanlock releases the lease
    assert holder.wait(30) == 0
    deadline = time.monotonic() + 30
    while b.call("hosts", d, 2).get("lease") != "free":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    taker = b.holder(d, 2)
    assert taker.stdout is not None and json.loads(taker.stdout.readline()) == {"acquired": True}
    assert taker.stdin is not None
    taker.stdin.close()
    assert taker.wait(30) == 0
    assert a.call("leave", d, 1) == {"left": True}
    assert b.call("leave", d, 2) == {"left": True}


def test_4k_sector_layout_initializes(hosts: tuple[str, Host, Host]) -> None:
    mnt, a, _b = hosts
    d = os.path.join(mnt, "dep4k")
    os.makedirs(d)
    assert a.call("init", d, 1, 4096) == {"ok": True}
    assert os.path.getsize(os.path.join(d, "lockspace")) >= 1048576
