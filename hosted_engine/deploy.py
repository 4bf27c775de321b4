"""Run a hosted-engine deploy: preflight -> plan -> apply (journal, progress) -> verify, through
nodecore.pipeline; and the named actions the plan's steps call.

The engine is reached over HTTPS only, verified against the CA this deploy made (agent.transport's
tls_context with that one CA): /health to wait for it, the admin API (HTTP Basic with the password
from the spec's file) for this host's join token, which agent/join then uses (checking the same CA
pin before it sends the token).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import json
import logging
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from hosted_engine import layout, lockspace, preflight
from hosted_engine.plan import deploy_plan, paths_for
from hosted_engine.seed import build_seed, read_secret_file
from hosted_engine.spec import BridgeSpec, HostedEngineSpec
from nodecore import pipeline
from nodecore.errors import HcinodeError
from nodecore.executor import Action, ExecutionResult, ProgressCallback
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import Secret

log = logging.getLogger("hcinode.hosted_engine")

JOURNAL = "hosted-engine"
POLL_SECONDS = 10.0
TOKEN_TTL = 3600


class EngineUnhealthy(HcinodeError):
    """The engine VM did not answer /health in time (the message says what was checked)."""


class EnrolFailed(HcinodeError):
    pass


# --- HTTPS to the new engine ---------------------------------------------------------------------

Http = Callable[..., tuple[int, dict[str, Any]]]


def https_json(method: str, url: str, *, ca_pem: str, body: Mapping[str, Any] | None = None,
               auth: tuple[str, Secret] | None = None, timeout: float = 20.0) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) of one request, the server verified against `ca_pem` alone. OSError
    (refused, unreachable, TLS failure) propagates."""
    from agent.transport import tls_context

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if auth is not None:
        user, password = auth
        request.add_header("Authorization", "Basic " + base64.b64encode(
            f"{user}:{password.reveal()}".encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=tls_context(ca_pem)) as answer:  # noqa: S310
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


# --- actions ----------------------------------------------------------------------------------------

def write_file(runner: Runner, params: Mapping[str, Any]) -> None:
    runner.write_file(str(params["path"]), str(params["content"]), int(str(params.get("mode", "0644")), 8))


def hosts_entries(runner: Runner, params: Mapping[str, Any]) -> None:
    """Append the missing `address name` lines to /etc/hosts (existing lines are left alone)."""
    path = str(params["path"])
    try:
        text = runner.read_file(path).decode()
    except FileNotFoundError:
        text = ""
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in params["lines"] if line not in present]
    if missing:
        text = (text if not text or text.endswith("\n") else text + "\n") + "".join(f"{m}\n" for m in missing)
        runner.write_file(path, text, 0o644)


def check_sha256(runner: Runner, params: Mapping[str, Any]) -> None:
    path, wanted = str(params["path"]), str(params["sha256"])
    got = (runner.run(["sha256sum", path], timeout=1800).stdout.split() or [""])[0]
    if got != wanted:
        raise HcinodeError(f"{path}: sha256 is {got}, the spec says {wanted}: the appliance is damaged or "
                           "another build; fetch it again (its partial copy is not used)")


def make_ca(runner: Runner, params: Mapping[str, Any]) -> None:
    from engine.ca import make_ca as new_ca

    cert, key = new_ca(str(params["fqdn"]))
    runner.write_file(str(params["key"]), key, 0o600)
    runner.write_file(str(params["cert"]), cert, 0o644)


def _say(message: str) -> None:
    """A progress line inside a long step (the executor reports only the step's start and end)."""
    log.info("%s", message)
    print(message, file=sys.stderr, flush=True)


def wait_health(runner: Runner, params: Mapping[str, Any], *, http: Http = https_json,
                clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                say: Callable[[str], None] = _say) -> None:
    """Poll the engine's /health until it answers 200 {"status": "ok"}; fail early when the domain
    stops running; on timeout say exactly what was checked."""
    url, domain, timeout = str(params["url"]), str(params["domain"]), float(params["timeout"])
    with open(str(params["ca_cert"]), encoding="utf-8") as f:
        ca_pem = f.read()
    started = clock()
    last = "no answer yet"
    polls = 0
    while True:
        polls += 1
        try:
            status, body = http("GET", url, ca_pem=ca_pem, timeout=20.0)
            if status == 200 and body.get("status") == "ok":
                say(f"the engine is healthy after {clock() - started:.0f} s")
                return
            last = f"HTTP {status} {json.dumps(body)[:200]}"
        except (OSError, ssl.SSLError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
        state = runner.run(["virsh", "domstate", domain], check=False).stdout.strip()
        elapsed = clock() - started
        if state and state != "running":
            raise EngineUnhealthy(f"the engine VM {domain} is {state}, not running, after {elapsed:.0f} s; last "
                                  f"answer from {url}: {last}. Its console log: {params['console_log']} "
                                  "(hcinode hosted-engine console)")
        if elapsed >= timeout:
            raise EngineUnhealthy(
                f"the engine did not become healthy within {timeout:.0f} s. Checked {polls} times: GET {url} "
                f"(TLS verified against the deploy's CA {params['ca_cert']}; {params['fqdn']} as this host "
                f"resolves it); last answer: {last}; the domain {domain} is {state or 'unknown'}. Look at the "
                f"engine's console log {params['console_log']} or `hcinode hosted-engine console`; a re-run "
                "of the same deploy waits again")
        if polls % 6 == 1:
            say(f"waiting for {url}: {elapsed:.0f} s of {timeout:.0f} s, last: {last}")
        sleep(POLL_SECONDS)


def enrol(runner: Runner, params: Mapping[str, Any], *, http: Http = https_json,
          join: Callable[..., Any] | None = None) -> None:
    """A one-use join token from the engine's admin API, then agent/join with it; host.json last
    (the marker the seed and enrol steps check)."""
    from agent import join as joining

    url = str(params["engine_url"])
    with open(str(params["ca_cert"]), encoding="utf-8") as f:
        ca_pem = f.read()
    password = read_secret_file(str(params["admin_password_file"]))
    status, body = http("POST", url + "/api/v1/tokens", ca_pem=ca_pem, body={"ttl_seconds": TOKEN_TTL, "uses": 1},
                        auth=("admin", password))
    if status != 201 or "join" not in body:
        hint = " (the admin password in engine.admin_password_file is not the engine's)" if status == 401 else ""
        raise EnrolFailed(f"the engine refused to make a join token: HTTP {status} {body.get('detail', '')}{hint}")
    request = joining.request_from_join_string(Secret(str(body["join"])))
    result = (join or joining.join)(request, runner=runner)
    host_id = int(result.registration.sanlock_host_id)
    expected = int(params["expected_host_id"])
    if host_id != expected:
        raise EnrolFailed(f"the engine gave this host sanlock host id {host_id}, but the deploy holds the lockspace "
                          f"as host id {expected}: the engine already had hosts (a fresh engine gives 1 first)")
    # the HA agent's names (hosted_engine.ha_agent.HostConfig reads this file)
    state = {"host_id": host_id, "deployment": str(params["deployment_uuid"]), "mount": str(params["mount"]),
             "engine_url": url}
    runner.write_file(str(params["host_state"]), json.dumps(state, indent=2) + "\n", 0o600)


def bridge_network(net: Any, bridge: BridgeSpec) -> Any:
    """node_setup's NetworkConfig with the management bridge added: the addresses of the device it
    sits on (the NIC, the bond or the VLAN) move to the bridge; the device keeps no IP. Pure."""
    from node_setup.model import Bond, Bridge, Interface, IPv4, IPv6, Vlan

    lower = bridge.bond.name if bridge.bond is not None else bridge.nic
    interfaces = list(net.interfaces)
    bonds = list(net.bonds)
    vlans = list(net.vlans)
    if bridge.bond is not None and not any(b.name == lower for b in bonds):
        bonds.append(Bond(name=lower, slaves=tuple(bridge.bond.slaves), mode=bridge.bond.mode))  # type: ignore[arg-type]
        for nic in bridge.bond.slaves:
            if not any(i.name == nic for i in interfaces):
                interfaces.append(Interface(name=nic))
    elif bridge.bond is None and not any(d.name == lower for d in [*interfaces, *bonds]):
        interfaces.append(Interface(name=lower))
    port = lower
    if bridge.vlan:
        port = f"{lower}.{bridge.vlan}"
        if not any(v.name == port for v in vlans):
            vlans.append(Vlan(name=port, parent=lower, id=bridge.vlan))
    owner = next(d for d in [*interfaces, *bonds, *vlans] if d.name == port)
    ipv4, ipv6 = owner.ipv4, owner.ipv6

    def strip(devices: list[Any]) -> list[Any]:
        return [dataclasses.replace(d, ipv4=IPv4(), ipv6=IPv6()) if d.name == port else d for d in devices]

    bridges = [b for b in net.bridges if b.name != bridge.name]
    bridges.append(Bridge(name=bridge.name, ports=(port,), ipv4=ipv4, ipv6=ipv6))
    return dataclasses.replace(net, interfaces=tuple(strip(interfaces)), bonds=tuple(strip(bonds)),
                               vlans=tuple(strip(vlans)), bridges=tuple(bridges))


def make_bridge(runner: Runner, params: Mapping[str, Any]) -> None:
    """The management bridge through node_setup (NetworkManager checkpoint: a change that cuts this
    host off rolls back by itself), confirmed once its connectivity check passed."""
    from node_setup import apply as node_apply

    current = node_apply.confirmed_config()
    if current is None:
        raise HcinodeError("this node's network was never applied by hcinode, so the deploy cannot move its "
                           f"address onto the bridge {params['bridge']}: add the bridge with `hcinode network "
                           "apply` (docs/network.md), then re-run the deploy")
    bond = params.get("bond")
    spec = BridgeSpec(name=str(params["bridge"]), nic=str(params.get("nic") or ""), vlan=int(params.get("vlan") or 0),
                      bond=None if not bond else _bond_spec(bond))
    desired = dataclasses.replace(current, network=bridge_network(current.network, spec))
    node_apply.apply(desired, rollback_timeout=120, check=True, only=("network",), runner=runner)
    node_apply.confirm()


def _bond_spec(data: Mapping[str, Any]) -> Any:
    from hosted_engine.spec import BondSpec

    return BondSpec(name=str(data["name"]), slaves=tuple(data["slaves"]), mode=str(data.get("mode", "active-backup")))


def actions(spec: HostedEngineSpec) -> dict[str, Action]:
    from gluster_setup.apply import mount_volume

    table: dict[str, Action] = {
        "hosted_engine.write_file": write_file,
        "hosted_engine.hosts_entries": hosts_entries,
        "hosted_engine.check_sha256": check_sha256,
        "hosted_engine.make_ca": make_ca,
        "hosted_engine.build_seed": functools.partial(build_seed, spec=spec),
        "hosted_engine.wait_health": wait_health,
        "hosted_engine.enrol": enrol,
        "hosted_engine.make_bridge": make_bridge,
        "gluster_setup.mount_volume": mount_volume,
    }
    table.update(lockspace_actions())
    return table


LOCKSPACE_ACTIONS = ("init_lockspace", "init_lease", "join_lockspace", "leave_lockspace")


def lockspace_actions() -> dict[str, Action]:
    """The sanlock steps are the HA agent's module (hosted_engine.lockspace: one implementation of the
    on-disk format); each is called as fn(path=..., sector=... / host_id=..., io_timeout=...). Until
    the steps are plain functions of their params."""
    return {f"hosted_engine.lockspace.{name}": (lambda f: lambda _runner, p: f(**p))(getattr(lockspace, name))
            for name in LOCKSPACE_ACTIONS}


# --- the whole operation ----------------------------------------------------------------------------

def prepare(spec: HostedEngineSpec, runner: Runner) -> tuple[ValidationReport, Plan]:
    """Preflight (read-only) and the plan made from what it found."""
    state_dir = layout.host_state_dir()
    facts = preflight.probe(spec, runner, os.path.join(state_dir, layout.HOST_STATE_FILE))
    report, plan_facts = preflight.check(spec, facts, state_dir)
    return report, deploy_plan(spec, plan_facts)


def verify(spec: HostedEngineSpec, runner: Runner, state_dir: str) -> ValidationReport:
    """Read back: the shared files, the running domain, this host enrolled, no seed left."""
    paths = paths_for(spec)
    report = ValidationReport("hosted engine")
    for name in ("engine_disk", "lockspace", "vm_lease", "metadata", "vm_xml", "deployment_json"):
        path = getattr(paths, name)
        if not runner.run(["test", "-f", path], check=False).ok:
            report.error(name, f"{path} is missing")
    if runner.run(["test", "-e", paths.seed], check=False).ok:
        report.error("seed", f"{paths.seed} is still on the engine volume")
    state = runner.run(["virsh", "domstate", layout.DOMAIN_NAME], check=False).stdout.strip()
    if state != "running":
        report.error("domain", f"{layout.DOMAIN_NAME} is {state or 'not defined'}")
    enrolled = os.path.join(state_dir, layout.HOST_STATE_FILE)
    if not runner.run(["test", "-f", enrolled], check=False).ok:
        report.error("enrol", f"{enrolled} is missing: this host is not enrolled")
    return report


def run_deploy(spec: HostedEngineSpec, runner: Runner, report: ValidationReport, plan: Plan, *,
               progress: ProgressCallback | None, log_path: str | None) -> ExecutionResult:
    state_dir = layout.host_state_dir()
    _, result = pipeline.run(name=JOURNAL, validate=lambda: report, plan=lambda: plan, runners=runner,
                             actions=actions(spec), progress=progress, log_path=log_path, journal=True,
                             verify=lambda _plan: verify(spec, runner, state_dir))
    return result
