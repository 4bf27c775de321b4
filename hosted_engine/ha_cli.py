"""The HA verbs of `hcinode hosted-engine`: `agent` and `status`.

hosted_engine/cli.py (the deploy's) owns the `hosted-engine` parser and calls
`register(hosted_engine_subparsers)` here, the same `register(subparsers)` shape every package's
cli.py has (nodecore/cli.py), one level down.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
from typing import Any

from hosted_engine import ha_agent
from hosted_engine import status as he_status
from hosted_engine.layout import host_state_path
from nodecore.cli import add_json
from nodecore.errors import EXIT_OK, HcinodeError

log = logging.getLogger("hcinode.hosted_engine.ha")


def register(subparsers: Any) -> None:
    agent = subparsers.add_parser("agent", help="run the hosted-engine HA agent on this host (a systemd service)")
    agent.add_argument("--host-file", metavar="FILE",
                       help="this host's hosted-engine state (default: /var/lib/hcinode/hosted-engine/host.json)")
    agent.add_argument("--run-dir", metavar="DIR", help="where hosted-engine.json goes (default: /run/hcinode)")
    agent.add_argument("--interval", type=float, default=ha_agent.INTERVAL, metavar="S",
                       help="seconds between ticks (10)")
    agent.add_argument("--once", action="store_true", help="one tick, print the decision, exit")
    agent.set_defaults(func=cmd_agent)

    status = subparsers.add_parser("status", help="every hosted-engine host's state, score and engine status")
    status.add_argument("--host-file", metavar="FILE", help="this host's hosted-engine state (host.json)")
    status.add_argument("--run-dir", metavar="DIR", help="where this host's agent writes hosted-engine.json")
    add_json(status)
    status.set_defaults(func=cmd_status)


def cmd_agent(args: argparse.Namespace) -> int:
    agent = ha_agent.build(args.host_file, args.run_dir)
    agent.interval = args.interval
    if args.once:
        decision = agent.run(ticks=1)
        print(ha_agent.describe(decision))
        return EXIT_OK
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("hosted-engine HA agent: host id %d, deployment %s", agent.host.host_id, agent.host.deployment)
    try:
        agent.run(stop)
    finally:
        agent.stop()
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    host = ha_agent.HostConfig.load(args.host_file or host_state_path())
    try:
        result = he_status.collect(host.paths.metadata, host.deployment, my_host_id=host.host_id,
                                   agent_file=ha_agent.status_path(args.run_dir))
    except HcinodeError as exc:
        raise HcinodeError(f"{exc} (is the engine volume mounted at {host.mount}?)") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(he_status.render_text(result))
    return EXIT_OK
