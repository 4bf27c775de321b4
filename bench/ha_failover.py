"""Hosted-engine failover time on three namespaced hosts (root; boots the engine VM under TCG).
Prints one JSON object per io_timeout.

    .venv/bin/python bench/ha_failover.py [--io-timeout 10 --io-timeout 5]

It takes /tmp/hcinode-vm.lock itself (the machine runs one VM test at a time): do not wrap it in
`flock` (set HCINODE_VM_LOCK_HELD=1 when the caller holds the lock already). Each io_timeout takes a
fresh test bed (deploy ~150 s, two more hosts, the failover): about 10 minutes under TCG.

The test bed and the fault are the HA integration test's (tests/integration/hosted_engine_hosts.py):
the engine on host 1, hosts 2 and 3 added; host 1 dies (its link down, every process of its
namespaces killed). From that moment, by stage:

- `detection_s`: until a surviving agent calls host 1 not alive (its slot's sequence did not change
  for 60 s in that agent's own monotonic history);
- `lease_expiry_s`: from there until a survivor sees the VM lease free (sanlock calls host 1 dead at
  host_dead = 8*io_timeout + 60 s after its last renewal; the one stage io_timeout shortens);
- `vm_start_s`: from there until an engine qemu runs on a survivor (its next tick, the start);
- `engine_health_s`: from there until the engine answers /health over its pinned TLS (the guest's
  boot and the engine's start: what TCG makes slow and KVM hardware makes short);
- `total_s`: host death to a healthy engine (the goal on KVM hardware: 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

IO_TIMEOUTS = (10, 5)
# stage -> the mark (seconds after the death, hosted_engine_hosts.watch_failover's) that ends it
STAGES = (("detection_s", "detection_s"), ("lease_expiry_s", "lease_free_s"), ("vm_start_s", "vm_start_s"),
          ("engine_health_s", "healthy_s"))


def split(marks: Mapping[str, float]) -> dict[str, float]:
    """The length of each stage from the marks. A stage whose mark is missing or came before the
    previous one (a lease seen free in the same poll as the death's detection) is 0 long; the
    stages add up to `total_s`. Pure."""
    out = {}
    previous = 0.0
    for name, key in STAGES:
        at = marks.get(key, previous)
        out[name] = round(max(at - previous, 0.0), 1)
        previous = max(previous, at)
    out["total_s"] = round(marks.get("healthy_s", previous), 1)
    return out


def one(io_timeout: int) -> dict[str, object]:
    from tests.integration import hosted_engine_hosts as he

    with he.cluster(he.WORKDIR + "-failover", io_timeout=io_timeout) as c:
        started = time.monotonic()
        ids = he.setup_ha(c)
        setup_s = time.monotonic() - started
        monitor = he.EngineMonitor(c).start()
        try:
            dead = he.engine_host(c)
            assert dead is not None, "the engine runs nowhere after the deploy"
            survivors = [h for h in c.hosts if h is not dead]
            he.kill_host(c, dead)
            t0 = time.monotonic()
            marks = he.watch_failover(c, dead, ids[dead.index], survivors, t0, monitor)
        finally:
            monitor.stop()
        monitor.check()
        return {"bench": "ha_failover", "virtualization": "TCG", "io_timeout": io_timeout,
                "host_dead_s": he.host_dead(io_timeout), **split(marks), "taken_by_host": marks["taken_by"],
                "setup_s": round(setup_s, 1), "max_engines_at_once": monitor.max_running,
                "loadavg": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--io-timeout", type=int, action="append", metavar="S",
                        help="sanlock io_timeout to measure (repeatable; default 10 and 5)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print(json.dumps({"bench": "ha_failover", "skipped": "needs root"}))
        return 0
    from tests.integration import hosted_engine_hosts as he

    with he.vm_lock():
        for io_timeout in args.io_timeout or IO_TIMEOUTS:
            try:
                print(json.dumps(one(io_timeout)), flush=True)
            except AssertionError as exc:
                print(json.dumps({"bench": "ha_failover", "io_timeout": io_timeout, "error": str(exc)[-2000:]}))
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
