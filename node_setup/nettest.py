"""Test the management network, like a server console's "test management network": ping the
gateways, ping given hosts (e.g. the engine), resolve a name. Used by `hcinode network test` and
the console's Test network page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nodecore.errors import HcinodeError
from nodecore.runner import Runner


@dataclass(frozen=True)
class ProbeResult:
    check: str  # "gateway" | "host" | "resolve"
    target: str
    ok: bool
    detail: str  # the last line the probe printed


def probe_argv(check: str, target: str) -> list[str]:
    if check == "resolve":
        return ["getent", "hosts", target]
    return ["ping", "-n", "-c", "3", "-W", "1", target]


def test_network(runner: Runner, gateways: Sequence[str], hosts: Sequence[str] = (),
                 resolve: str = "") -> list[ProbeResult]:
    probes = [("gateway", g) for g in gateways] + [("host", h) for h in hosts]
    if resolve:
        probes.append(("resolve", resolve))
    results = []
    for check, target in probes:
        try:
            result = runner.run(probe_argv(check, target), check=False, timeout=15)
            ok, out = result.ok, (result.stdout.strip() or result.stderr.strip())
        except (HcinodeError, OSError) as exc:
            ok, out = False, str(exc)
        results.append(ProbeResult(check, target, ok, (out.splitlines() or [""])[-1][:120]))
    return results


# pytest would collect a module-level test_* function imported into a test module
test_network.__test__ = False  # type: ignore[attr-defined]
