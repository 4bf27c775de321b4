"""Engine benchmarks on loopback (bounded, prints one JSON object per measurement):
- join latency (CA fetch excluded: POST /api/v1/join with CSR signing);
- heartbeat capacity: a fleet of N agents at 10 s intervals is N/10 heartbeats a second over kept-alive
  mutual-TLS connections (50 joined hosts share the load: each heartbeat does the same database work
  as any other host's); the largest N whose p99 stays under 200 ms, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests import engine_harness as h  # noqa: E402
from tests.engine_client import join  # noqa: E402

HOSTS = 50
LEVEL_SECONDS = 8
FLEETS = (250, 500, 1000, 2000, 4000)
P99_LIMIT_MS = 200.0
HEARTBEAT = {"agent_version": "bench", "facts": {"cpus": 16, "memory_mib": 65536},
             "vms": [{"name": f"vm{i}", "uuid": f"u{i}", "state": "running", "vcpus": 2, "memory_kib": 4194304,
                      "cpu_time_ns": 10**12, "disks": [{"name": "vda", "rd_bytes": 1, "wr_bytes": 2}],
                      "nics": [{"name": "vnet0", "rx_bytes": 3, "tx_bytes": 4}]} for i in range(4)],
             "gluster": {"peers": [], "volumes": [{"name": "engine", "status": "Started", "heal_pending": 0,
                                                   "bricks": [{"host": "h", "path": "/b", "online": True}]}]}}


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def level(nodes: list, fleet: int) -> dict:
    rate = fleet / 10.0
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    workers = min(len(nodes), max(4, int(rate / 5)))
    deadline = time.monotonic() + LEVEL_SECONDS

    def worker(k: int) -> None:
        my_nodes = nodes[k::workers]
        sessions = [n.session() for n in my_nodes]
        period = workers / rate
        nxt = time.monotonic() + period * k / workers
        i = 0
        while True:
            now = time.monotonic()
            if nxt > deadline:
                return
            if nxt > now:
                time.sleep(nxt - now)
            t0 = time.monotonic()
            try:
                r = my_nodes[i % len(my_nodes)].heartbeat(HEARTBEAT, session=sessions[i % len(sessions)])
                ok = r.status_code == 200
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append((time.monotonic() - t0) * 1000)
                errors[0] += not ok
            nxt += period
            i += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"fleet": fleet, "rate_per_s": rate, "requests": len(latencies), "errors": errors[0],
            "p50_ms": round(p(latencies, 0.5), 1), "p99_ms": round(p(latencies, 0.99), 1)}


def run(backend: str, db_url: str, root: str) -> None:
    data_dir = os.path.join(root, backend, "engine")
    os.makedirs(os.path.dirname(data_dir))
    url = h.init_engine(data_dir, db_url, join_rate_per_minute=100000)
    with h.served(data_dir, url) as engine:
        ca = requests.get(url + "/api/v1/ca", verify=engine.ca_file, timeout=10).json()["ca"]
        token = engine.token(uses=HOSTS)
        nodes, join_ms = [], []
        for i in range(HOSTS):
            t0 = time.monotonic()
            r, node = join(url, ca, token, f"bench-{i}", os.path.join(root, backend, f"n{i}"))
            join_ms.append((time.monotonic() - t0) * 1000)
            assert node, r.text
            nodes.append(node)
        print(json.dumps({"bench": "engine.join", "db": backend, "joins": HOSTS,
                          "p50_ms": round(statistics.median(join_ms), 1), "p99_ms": round(p(join_ms, 0.99), 1)}),
              flush=True)
        best = 0
        for fleet in FLEETS:
            result = level(nodes, fleet)
            print(json.dumps({"bench": "engine.heartbeat", "db": backend, **result}), flush=True)
            if result["p99_ms"] >= P99_LIMIT_MS or result["errors"]:
                break
            best = fleet
        print(json.dumps({"bench": "engine.heartbeat_capacity", "db": backend, "interval_s": 10,
                          "largest_fleet_p99_under_200ms": best, "tested": list(FLEETS)}), flush=True)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="hcinode-bench-") as root:
        run("sqlite", "", root)
        with h.postgres() as pg:
            run("postgresql", h.create_db(pg, "bench"), root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
