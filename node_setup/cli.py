"""`hcinode network ...` and `hcinode node ...` verbs."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from dataclasses import replace
from typing import Any

from node_setup import apply as node_apply
from node_setup.model import NetworkConfig, NodeConfig, Ssh, Syslog
from node_setup.plan import DEFAULT_ROLLBACK_TIMEOUT
from node_setup.validate import validate
from nodecore import rules
from nodecore.cli import add_dry_run, add_json, print_progress
from nodecore.config import load_config, load_yaml_file
from nodecore.errors import EXIT_FAILED, EXIT_OK, InvalidInput
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner
from nodecore.secrets import Secret

NETWORK_KEYS = {"interfaces", "bonds", "vlans", "bridges", "dns", "check"}


def load_file(path: str, network_only: bool = False) -> NodeConfig:
    """A node settings file, or a network-only file (the keys of `network:` at the top)."""
    data = load_yaml_file(path)
    report = ValidationReport(path)
    if isinstance(data, dict) and data and set(data) <= NETWORK_KEYS:
        data = {"network": data}
    config = load_config(NodeConfig, data, report)
    report.raise_if_errors()
    assert config is not None
    report.extend(validate(config))
    report.raise_if_errors()
    for problem in report.warnings:
        if network_only and not problem.field.startswith("network"):
            continue
        print(problem.render(), file=sys.stderr)
    return config


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def _status_text(status: Any) -> str:
    if status.state == "pending":
        return (f"network change PENDING: confirm within {status.seconds_remaining:.0f} s with "
                "`hcinode network confirm` (or `hcinode network rollback`); otherwise it is rolled back")
    if status.state == "expired":
        return "the last network change was not confirmed in time and has been rolled back"
    return "no network change pending"


def _apply(args: argparse.Namespace, desired: NodeConfig, only: tuple[str, ...] | None = None) -> int:
    # `network apply` and `node apply` alike: the rollback safety net cannot be turned off
    report = ValidationReport("--rollback-timeout")
    if rules.add(report, "--rollback-timeout", rules.rollback_timeout(args.rollback_timeout)):
        raise InvalidInput(report)
    kwargs: dict[str, Any] = {"rollback_timeout": args.rollback_timeout, "check": not args.no_check}
    if only is not None:
        kwargs["only"] = only
    plan = node_apply.plan_for(desired, offline_ok=args.dry_run, **kwargs)
    if args.dry_run:
        print(plan.to_json() if args.json else plan.render_text())
        return EXIT_OK
    if not plan.steps:
        print("nothing to change: the node already has these settings")
        return EXIT_OK
    outcome = node_apply.apply(desired, plan=plan, progress=print_progress, log_path=args.log_path, **kwargs)
    status: Any = outcome.status
    if status.pending and args.confirm:
        saved = node_apply.confirm()
        print("confirmed and saved: " + (", ".join(saved) or "-"))
        return EXIT_OK
    _print(args, {"plan": plan.id, "status": status.to_dict()}, _status_text(status))
    return EXIT_OK


def _add_apply_options(parser: argparse.ArgumentParser) -> None:
    add_dry_run(parser)
    add_json(parser)
    parser.add_argument("--rollback-timeout", type=int, default=DEFAULT_ROLLBACK_TIMEOUT, metavar="S",
                        help=f"seconds until an unconfirmed change is rolled back (default {DEFAULT_ROLLBACK_TIMEOUT})")
    parser.add_argument("--no-check", action="store_true", help="skip the connectivity check after activation")
    parser.add_argument("--confirm", action="store_true",
                        help="keep the change at once when the connectivity check passed (scripts)")


def _cmd_network_apply(args: argparse.Namespace) -> int:
    desired = load_file(args.file, network_only=True)
    base = node_apply.confirmed_config()
    # `network apply` changes the network only; identity settings in the file are ignored here
    desired = replace(base or NodeConfig(), network=desired.network)
    return _apply(args, desired, only=())


def _cmd_network_show(args: argparse.Namespace) -> int:
    from node_setup.nm import NMBackend

    backend = NMBackend()
    devices = backend.devices()
    status = backend.status()
    profiles = [{"id": p.id, "uuid": p.uuid, "type": p.type, "active": p.active, "hcinode": p.managed}
                for p in backend.read_state().profiles]
    if args.json:
        print(json.dumps({"devices": devices, "profiles": profiles, "pending": status.to_dict()}, indent=2))
        return EXIT_OK
    for d in devices:
        addrs = " ".join(d["ipv4"] + d["ipv6"]) or "-"
        print(f"{d['name']:14s} {d['type']:10s} {d['mac']:17s} {d['state']:14s} {d['connection'] or '-':14s} "
              f"{addrs}" + (f" via {d['ipv4_gateway']}" if d["ipv4_gateway"] else ""))
    print(_status_text(status))
    return EXIT_OK


def _cmd_network_status(args: argparse.Namespace) -> int:
    status: Any = node_apply.pending_status()
    _print(args, status.to_dict(), _status_text(status))
    return EXIT_OK


def _cmd_network_confirm(args: argparse.Namespace) -> int:
    saved = node_apply.confirm()
    print("confirmed; saved to disk: " + (", ".join(saved) or "-"))
    return EXIT_OK


def _cmd_network_rollback(args: argparse.Namespace) -> int:
    node_apply.rollback()
    print("rolled back to the previous network settings")
    return EXIT_OK


def _cmd_network_test(args: argparse.Namespace) -> int:
    """Like a server console's "test management network": ping the gateways, resolve a name, reach hosts."""
    from node_setup.nettest import test_network
    from node_setup.nm import NMBackend

    gateways = [d["ipv4_gateway"] for d in NMBackend().devices() if d["ipv4_gateway"]]
    results = [vars(r) for r in test_network(LocalRunner(), gateways, args.host, args.resolve or "")]
    if not results:
        results.append({"check": "gateway", "target": "-", "ok": False, "detail": "no default gateway configured"})
    ok = all(r["ok"] for r in results)
    text = "\n".join(f"{'ok  ' if r['ok'] else 'FAIL'} {r['check']:8s} {r['target']}  {r['detail']}" for r in results)
    _print(args, {"ok": ok, "results": results}, text)
    return EXIT_OK if ok else EXIT_FAILED


def _cmd_node_apply(args: argparse.Namespace) -> int:
    return _apply(args, load_file(args.file))


def _read_password(args: argparse.Namespace) -> Secret:
    if args.stdin or not sys.stdin.isatty():
        return Secret(sys.stdin.readline().rstrip("\n"))
    first = getpass.getpass("New admin password: ")
    if getpass.getpass("Again: ") != first:
        report = ValidationReport("password")
        report.error("admin_password", "the two passwords differ")
        raise InvalidInput(report)
    return Secret(first)


def _cmd_node_set(args: argparse.Namespace) -> int:
    base = node_apply.confirmed_config() or NodeConfig()
    base = replace(base, network=NetworkConfig())  # `node set` never touches the network
    what = args.what
    if what == "hostname":
        desired = replace(base, hostname=args.name)
    elif what == "ntp":
        desired = replace(base, ntp_servers=tuple(args.servers))
    elif what == "timezone":
        desired = replace(base, timezone=args.zone)
    elif what == "keyboard":
        desired = replace(base, keyboard=args.layout)
    elif what == "password":
        desired = replace(base, admin_password=_read_password(args))
    elif what == "ssh":
        ssh = base.ssh or Ssh()
        desired = replace(base, ssh=Ssh(enabled=ssh.enabled if args.enabled is None else args.enabled == "on",
                                        password_login=ssh.password_login if args.password_login is None
                                        else args.password_login == "on",
                                        root_login=ssh.root_login,
                                        authorized_keys=tuple(args.key) if args.key else ssh.authorized_keys))
    else:
        desired = replace(base, syslog=Syslog(args.host, args.port, args.protocol))
    args.rollback_timeout, args.no_check, args.confirm = DEFAULT_ROLLBACK_TIMEOUT, True, False
    return _apply(args, desired, only=("ssh",) if what == "ssh" else (what,))


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    net = sub.add_parser("network", help="show, apply (with automatic rollback), confirm and test the network")
    verbs = net.add_subparsers(dest="network_command", metavar="VERB", required=True)
    p = verbs.add_parser("show", help="devices, addresses, profiles and any pending change")
    add_json(p)
    p.set_defaults(func=_cmd_network_show)
    p = verbs.add_parser("apply", help="apply a network YAML; it stays only when confirmed")
    p.add_argument("file", metavar="FILE")
    _add_apply_options(p)
    p.set_defaults(func=_cmd_network_apply)
    p = verbs.add_parser("status", help="is a change pending, and for how many seconds")
    add_json(p)
    p.set_defaults(func=_cmd_network_status)
    p = verbs.add_parser("confirm", help="keep the pending change and save it to disk")
    p.set_defaults(func=_cmd_network_confirm)
    p = verbs.add_parser("rollback", help="undo the pending change now")
    p.set_defaults(func=_cmd_network_rollback)
    p = verbs.add_parser("test", help="ping the gateways, resolve a name, reach hosts")
    p.add_argument("--host", action="append", default=[], help="an address that must answer (repeatable)")
    p.add_argument("--resolve", default="", metavar="NAME", help="a name to resolve")
    add_json(p)
    p.set_defaults(func=_cmd_network_test)

    node = sub.add_parser("node", help="host name, NTP, time zone, keyboard, admin password, SSH, remote syslog")
    nverbs = node.add_subparsers(dest="node_command", metavar="VERB", required=True)
    p = nverbs.add_parser("apply", help="apply a whole node settings YAML (network + identity)")
    p.add_argument("file", metavar="FILE")
    _add_apply_options(p)
    p.set_defaults(func=_cmd_node_apply)
    setp = nverbs.add_parser("set", help="change one setting")
    what = setp.add_subparsers(dest="what", metavar="SETTING", required=True)
    p = what.add_parser("hostname")
    p.add_argument("name")
    p = what.add_parser("ntp", help="NTP servers for chrony")
    p.add_argument("servers", nargs="+")
    p = what.add_parser("timezone")
    p.add_argument("zone")
    p = what.add_parser("keyboard")
    p.add_argument("layout")
    p = what.add_parser("password", help="admin (root) password: prompted twice, or one line on stdin")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin (never from argv)")
    p = what.add_parser("ssh")
    p.add_argument("enabled", nargs="?", choices=["on", "off"])
    p.add_argument("--password-login", choices=["on", "off"])
    p.add_argument("--key", action="append", help="authorized public key (repeatable; replaces the list)")
    p = what.add_parser("syslog", help="remote syslog target")
    p.add_argument("host")
    p.add_argument("--port", type=int, default=514)
    p.add_argument("--protocol", choices=["udp", "tcp"], default="udp")
    for choice in what.choices.values():
        add_dry_run(choice)
        add_json(choice)
        choice.set_defaults(func=_cmd_node_set)
