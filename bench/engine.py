"""Engine benchmarks on loopback (bounded, prints one JSON object per measurement).

- Join latency: POST /api/v1/join (token check, CSR signing, host row), CA fetch excluded.
- Heartbeat capacity: a fleet of N simulated agents, each on its own kept-alive mutual-TLS connection,
  each sending a heartbeat every 10 s at a random phase (seeded), its counters growing every time (so the
  report differs from the last one, as a real agent's does). The largest N whose p99 stays under 200 ms
  with no error is the capacity, on SQLite and on PostgreSQL (fsync on, as in the appliance; the tests'
  PostgreSQL runs with fsync off, which would flatter it).

How it simulates a fleet larger than one cluster can hold: a cluster has at most 250 hosts (the sanlock
host id is 1..250), so the bench joins 250 real hosts (each its own key, certificate and host row) and
agent i presents host i % 250's certificate over its own connection. The engine does the same work for
every heartbeat whichever host sends it (one row read, one row update, one commands query, one commit);
the shortcut makes the hosts table smaller (250 rows instead of 2,000, a few B-tree pages either way) and
makes agents of the same host update the same row, which can only add lock waits. Connections, TLS
sessions and the request rate are the fleet's.

Each level first brings the agents up over RAMP_INTERVALS intervals (agent i's first heartbeat, and so its
TLS handshake, at a random time in that ramp; then one every interval): a running fleet's connections are
already open, and its handshakes are not what a heartbeat costs. Then it measures two intervals, in which
every agent is up and beating. (All 2,000 agents reconnecting within one interval, after an engine
restart, is a storm of handshakes that the agents' backoff spreads out; this bench does not measure it.)
The load generator (one asyncio loop, a small hand-written HTTP/1.1 client to keep its own CPU cost
low) shares the machine's cores with the engine and the database, and a generator that falls behind
sends late: `send_lag_p99_ms` says how far, and `rate_per_s` is the rate it really sent. CPU per
heartbeat (engine process, PostgreSQL's processes, this generator) is measured over the same window,
and the load average printed with every level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from tests import engine_harness as h  # noqa: E402
from tests.engine_client import Node, join  # noqa: E402

HOSTS = 250  # the cluster's limit (engine.service.MAX_SANLOCK_ID)
INTERVAL = 10.0
MEASURED_INTERVALS = 2
RAMP_INTERVALS = 3
FLEETS = (250, 500, 1000, 1500, 2000, 3000)
P99_LIMIT_MS = 200.0
TIMEOUT = 10.0
VMS = 4
RECONNECT = False  # --new-connection-per-heartbeat: a TLS handshake per heartbeat (the agent before this)


def p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * q))] if values else 0.0


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process that is gone counts 0)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its children, live (their own time) or ended (the parent's cutime and
    cstime): PostgreSQL's backends are children of the postmaster."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == pid:
                total += sum(int(x) for x in fields[11:15])
            elif int(fields[1]) == pid:
                total += int(fields[11]) + int(fields[12])
    return total / tick


def postmaster(db_url: str) -> int | None:
    if "host=" not in db_url:
        return None
    with open(os.path.join(db_url.split("host=")[1], "data", "postmaster.pid")) as f:
        return int(f.readline())


def report(agent: int, beat: int) -> bytes:
    """What a host with VMS running VMs and one Gluster volume sends; the counters grow every beat."""
    n = beat + 1
    vms = [{"name": f"vm{i}", "uuid": f"00000000-0000-0000-{agent:04d}-{i:012d}", "state": "running", "vcpus": 2,
            "memory_kib": 4194304, "cpu_time_ns": n * 10**10 + i,
            "disks": [{"name": "vda", "rd_bytes": n * 4096, "wr_bytes": n * 8192}],
            "nics": [{"name": "vnet0", "rx_bytes": n * 1500, "tx_bytes": n * 900}]} for i in range(VMS)]
    body = {"agent_version": "bench", "facts": {"cpus": 16, "memory_mib": 65536, "uptime_s": n * 10},
            "vms": vms, "gluster": {"peers": [{"host": "peer", "connected": True}],
                                    "volumes": [{"name": "engine", "status": "Started", "heal_pending": 0,
                                                 "bricks": [{"host": "h", "path": "/b", "online": True}]}]},
            "ha": None}
    return json.dumps(body).encode()


@dataclass
class Stats:
    latencies: list[float]
    lags: list[float]
    errors: int = 0


class SimAgent:
    """One agent's connection: HTTP/1.1 keep-alive over mutual TLS, one request at a time."""

    def __init__(self, index: int, ctx: ssl.SSLContext, host: str, port: int) -> None:
        self.index, self.ctx, self.host, self.port = index, ctx, host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.beats = 0

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, ssl=self.ctx,
                                                                 server_hostname=self.host)

    async def heartbeat(self) -> int:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None and self.writer is not None
        body = report(self.index, self.beats)
        self.beats += 1
        self.writer.write(b"POST /api/v1/agent/heartbeat HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json"
                          b"\r\nContent-Length: %d\r\n\r\n%s" % (self.host.encode(), self.port, len(body), body))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def run_agent(agent: SimAgent, first: float, measure_from: float, end: float, stats: Stats) -> None:
    loop = asyncio.get_running_loop()
    due = first
    while due < end:
        await asyncio.sleep(max(0.0, due - loop.time()))
        sent = loop.time()
        measured = due >= measure_from
        try:
            ok = await asyncio.wait_for(agent.heartbeat(), TIMEOUT) == 200
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
            ok = False
            agent.close()  # a real agent reconnects on the next beat
        if RECONNECT:
            agent.close()
        if measured:
            stats.latencies.append((loop.time() - sent) * 1000)
            stats.lags.append((sent - due) * 1000)
            stats.errors += not ok
        due += INTERVAL


async def level_async(contexts: list[ssl.SSLContext], host: str, port: int, fleet: int, seed: int,
                      engine_pid: int, db_pid: int | None) -> dict[str, Any]:
    rng = random.Random(seed + fleet)
    agents = [SimAgent(i, contexts[i % len(contexts)], host, port) for i in range(fleet)]
    stats = Stats([], [])
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    measure_from = start + INTERVAL * RAMP_INTERVALS
    end = measure_from + INTERVAL * MEASURED_INTERVALS
    cpu: dict[str, float] = {}

    async def sample_cpu() -> None:  # CPU spent in the measured window, by the engine, PostgreSQL, this bench
        await asyncio.sleep(measure_from - loop.time())
        before = cpu_seconds([engine_pid]), tree_cpu_seconds(db_pid) if db_pid else 0.0, time.process_time()
        await asyncio.sleep(end - loop.time())
        after = cpu_seconds([engine_pid]), tree_cpu_seconds(db_pid) if db_pid else 0.0, time.process_time()
        cpu.update(engine=after[0] - before[0], db=after[1] - before[1], bench=after[2] - before[2])

    await asyncio.gather(sample_cpu(), *(run_agent(a, start + rng.uniform(0, INTERVAL * RAMP_INTERVALS),
                                                   measure_from, end, stats) for a in agents))
    for a in agents:
        a.close()
    seconds = INTERVAL * MEASURED_INTERVALS
    return {"fleet": fleet, "rate_per_s": round(len(stats.latencies) / seconds, 1), "requests": len(stats.latencies),
            "errors": stats.errors, "p50_ms": round(p(stats.latencies, 0.5), 1),
            "p99_ms": round(p(stats.latencies, 0.99), 1), "max_ms": round(max(stats.latencies, default=0.0), 1),
            "send_lag_p99_ms": round(p(stats.lags, 0.99), 1),
            **{f"cpu_ms_per_heartbeat_{k}": round(v * 1000 / max(1, len(stats.latencies)), 2) for k, v in cpu.items()},
            "load_avg": load()}


def client_context(node: Node) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(node.ca_file)
    ctx.load_cert_chain(node.cert_file, node.key_file)
    return ctx


def run(backend: str, db_url: str, root: str, fleets: tuple[int, ...], seed: int) -> dict[str, Any]:
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
        joined = {"bench": "engine.join", "db": backend, "joins": HOSTS, "p50_ms": round(statistics.median(join_ms), 1),
                  "p99_ms": round(p(join_ms, 0.99), 1), "load_avg": load()}
        print(json.dumps(joined), flush=True)
        contexts = [client_context(n) for n in nodes]
        host, port = url.removeprefix("https://").rsplit(":", 1)
        best = 0
        for fleet in fleets:
            assert engine.proc is not None
            result = asyncio.run(level_async(contexts, host, int(port), fleet, seed, engine.proc.pid,
                                             postmaster(db_url)))
            print(json.dumps({"bench": "engine.heartbeat", "db": backend, **result}), flush=True)
            if result["p99_ms"] >= P99_LIMIT_MS or result["errors"]:
                break
            best = fleet
        capacity = {"bench": "engine.heartbeat_capacity", "db": backend, "interval_s": INTERVAL,
                    "largest_fleet_p99_under_200ms": best, "tested": list(fleets), "hosts_joined": HOSTS,
                    "join_p50_ms": joined["p50_ms"], "load_avg": load()}
        print(json.dumps(capacity), flush=True)
        return capacity


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--fleets", default=",".join(map(str, FLEETS)), help="comma-separated fleet sizes, ascending")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--new-connection-per-heartbeat", action="store_true",
                    help="a new TLS connection for every heartbeat (agents that did not keep their connection)")
    args = ap.parse_args(argv)
    global RECONNECT
    RECONNECT = args.new_connection_per_heartbeat
    fleets = tuple(int(x) for x in args.fleets.split(","))
    with tempfile.TemporaryDirectory(prefix="hcinode-bench-") as root:
        if args.db in ("sqlite", "both"):
            run("sqlite", "", root, fleets, args.seed)
        if args.db in ("postgresql", "both"):
            with h.postgres(durable=True) as pg:
                run("postgresql", h.create_db(pg, "bench"), root, fleets, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
