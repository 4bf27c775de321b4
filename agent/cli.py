"""`hcinode join`, `hcinode agent`, `hcinode leave` (docs/cluster.md "CLI").

A token typed on the command line shows in `ps` and shell history while the command runs; that is
the issue's form, so it is accepted, but `--token-file FILE`, `hcinode join -` (the join string on
stdin) and `--from-file FILE` keep it out of the process list. Every token or join string given is
a Secret from the moment argparse reads it, so the log line of the command masks it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from agent import join as joining
from agent.state import ClusterFiles, default_state_dir
from agent.status import agent_path, cluster_line, read_status
from nodecore.cli import add_dry_run, add_json, print_progress
from nodecore.errors import EXIT_FAILED, EXIT_OK, InvalidInput
from nodecore.report import ValidationReport
from nodecore.secrets import Secret

log = logging.getLogger("hcinode.agent")

DEFAULT_RETRY_FOR = 0.0


def register(subparsers: Any) -> None:
    join = subparsers.add_parser(
        "join", help="join a cluster engine (pinned CA, one-time token)",
        description="Join the engine: JOIN-STRING (from `hcinode engine token create`; '-' reads it from "
                    "stdin) or --engine, --token/--token-file and --ca-pin. --token on the command line "
                    "is visible in `ps` while it runs: prefer --token-file, '-' or --from-file.")
    join.add_argument("join_string", nargs="?", metavar="JOIN-STRING", type=Secret,
                      help="hcinode-join:v1:...; '-': read it from stdin")
    join.add_argument("--engine", metavar="URL", help="the engine's URL (https://...)")
    join.add_argument("--token", type=Secret, metavar="T", help="the join token ID.SECRET (visible in ps)")
    join.add_argument("--token-file", metavar="FILE", help="read the join token from FILE")
    join.add_argument("--ca-pin", metavar="sha256:HEX", help="the engine CA's pin")
    join.add_argument("--from-file", metavar="FILE",
                      help="a first-boot join file (JSON) or a file with a join string; deleted after a join")
    join.add_argument("--retry-for", type=float, default=DEFAULT_RETRY_FOR, metavar="SECONDS",
                      help="retry an unreachable or failing engine with backoff for this long (unattended)")
    join.add_argument("--replace", action="store_true", help="replace the host of this name on the engine")
    join.add_argument("--state-dir", metavar="DIR", help="where the cluster state goes (default: /var/lib/hcinode)")
    join.add_argument("--no-start", action="store_true", help="do not enable and start hcinode-agent.service")
    add_json(join)
    join.set_defaults(func=_join)

    agent = subparsers.add_parser("agent", help="run the node agent (heartbeat to the engine)")
    agent.add_argument("--state-dir", metavar="DIR", help="the cluster state (default: /var/lib/hcinode)")
    agent.add_argument("--once", action="store_true", help="one heartbeat, print the outcome, exit")
    agent.add_argument("--interval", type=float, default=10.0, metavar="S", help="seconds between heartbeats")
    agent.add_argument("--run-dir", metavar="DIR", help="where agent.json goes (default: /run/hcinode)")
    add_json(agent)
    agent.set_defaults(func=_agent)

    leave = subparsers.add_parser("leave", help="forget the cluster on this node (stop the agent, drop the key)")
    leave.add_argument("--state-dir", metavar="DIR", help="the cluster state (default: /var/lib/hcinode)")
    leave.add_argument("--no-stop", action="store_true", help="do not stop and disable hcinode-agent.service")
    add_dry_run(leave)
    add_json(leave)
    leave.set_defaults(func=_leave)


def _invalid(field: str, message: str, hint: str = "") -> InvalidInput:
    report = ValidationReport(joining.SOURCE)
    report.error(field, message, hint)
    return InvalidInput(report)


def _read_secret_file(path: str, what: str) -> Secret:
    try:
        with open(path, encoding="utf-8") as f:
            return Secret(f.read().strip())
    except OSError as exc:
        raise _invalid(what, f"cannot read {path}: {exc.strerror}") from None


def request_from_args(args: argparse.Namespace) -> joining.JoinRequest:
    options: dict[str, Any] = {"replace": args.replace, "start": not args.no_start and joining.systemd_running()}
    if args.state_dir:
        options["state_dir"] = args.state_dir
    given = [name for name, value in (("JOIN-STRING", args.join_string), ("--engine", args.engine),
                                       ("--from-file", args.from_file)) if value]
    if len(given) != 1:
        raise _invalid("join", "give one of JOIN-STRING, --engine (with --token and --ca-pin) or --from-file",
                       "e.g. hcinode join hcinode-join:v1:... (from `hcinode engine token create`)")
    if args.from_file:
        return joining.request_from_file(args.from_file, **options)
    if args.join_string:
        text = args.join_string.reveal()
        if text == "-":
            text = sys.stdin.readline().strip()
        return joining.request_from_join_string(text, **options)
    if args.token_file:
        token = _read_secret_file(args.token_file, "token-file")
    elif args.token:
        token = args.token
    else:
        raise _invalid("token", "--engine needs --token or --token-file")
    if not args.ca_pin:
        raise _invalid("ca-pin", "--engine needs --ca-pin sha256:HEX (the engine prints it with the token)",
                       "never join without the pin: it is what proves this is your engine")
    return joining.request_from_parts(args.engine, token, args.ca_pin, **options)


def _join(args: argparse.Namespace) -> int:
    request = request_from_args(args)

    def discovered(d: joining.Discovery) -> None:
        if not args.json:
            print(f"the engine at {d.url} presents the pinned CA {d.pin}", file=sys.stderr, flush=True)

    kwargs: dict[str, Any] = {"progress": None if args.json else print_progress, "log_path": args.log_path,
                              "on_discovered": discovered}
    if args.from_file or args.retry_for:
        result = joining.join_with_retries(request, retry_for=args.retry_for, **kwargs)
    else:
        result = joining.join(request, **kwargs)
    if args.from_file:
        os.remove(args.from_file)  # it holds the token, which is used up now
    reg = result.registration
    started = request.start
    if args.json:
        print(json.dumps({"engine_url": reg.url, "ca_pin": result.discovery.pin, "host_id": reg.host_id,
                          "name": reg.name, "sanlock_host_id": reg.sanlock_host_id,
                          "cert_expires_at": reg.expires_at, "agent_started": started}, indent=2))
        return EXIT_OK
    print(f"joined {reg.url} as {reg.name} (host {reg.host_id}, sanlock host id {reg.sanlock_host_id}); "
          f"certificate until {reg.expires_at}")
    if started:
        print("hcinode-agent.service is enabled and running")
    else:
        print("the agent was not started: run `hcinode agent` (or systemctl enable --now hcinode-agent.service)")
    return EXIT_OK


def _agent(args: argparse.Namespace) -> int:
    from agent.daemon import Agent

    files = ClusterFiles(args.state_dir or default_state_dir())
    if not files.joined():
        raise _invalid("state-dir", f"this node has not joined a cluster (no {files.engine})",
                       "run `hcinode join` first")
    if args.interval <= 0:
        raise _invalid("interval", "must be more than 0 seconds")
    agent = Agent(files, status_file=agent_path(args.run_dir), interval=args.interval)
    if args.once:
        outcome = agent.run(once=True)
        status = read_status(args.run_dir)
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            print(cluster_line(status, interval=args.interval))
        return EXIT_OK if outcome.ok else EXIT_FAILED
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("agent: heartbeat to %s every %.0f s", agent.url, args.interval)
    agent.run(stop)
    return EXIT_OK


def _leave(args: argparse.Namespace) -> int:
    files = ClusterFiles(args.state_dir or default_state_dir())
    stop = not args.no_stop and joining.systemd_running()
    if args.dry_run:
        plan = joining.plan_leave(files, stop=stop)
        print(plan.to_json() if args.json else plan.render_text())
        return EXIT_OK
    record, _result = joining.leave(files.state_dir, stop=stop, log_path=args.log_path,
                                    progress=None if args.json else print_progress, agent_file=agent_path())
    name = record.name if record else "this host"
    where = record.urls[0] if record else "the engine"
    if args.json:
        print(json.dumps({"left": True, "name": name, "engine_url": where}))
    else:
        print(f"left the cluster; the engine still lists {name}: remove it there "
              f"(hcinode engine hosts remove {name}) or join again with --replace")
    return EXIT_OK

