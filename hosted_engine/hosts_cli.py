"""The host-membership and maintenance verbs of `hcinode hosted-engine`: add-host, remove-host,
maintenance, reinitialize-lockspace (docs/hosted-engine.md "Hosts and maintenance").

hosted_engine/cli.py owns the `hosted-engine` parser and calls `register(verbs)` here, as it does
for ha_cli. The work is in hosted_engine.hosts and hosted_engine.maintenance; this module only
parses, prints and runs the pipeline.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from hosted_engine import hosts, layout
from hosted_engine import maintenance as maint
from hosted_engine.ha_agent import HostConfig
from nodecore import pipeline
from nodecore.cli import add_dry_run, add_json, print_progress
from nodecore.errors import EXIT_OK
from nodecore.plan import Plan
from nodecore.runner import LocalRunner, Runner

EXIT_REFUSED = 2


def _runner() -> Runner:
    return LocalRunner()


def register(subparsers: Any) -> None:
    add = subparsers.add_parser("add-host", help="serve the hosted engine from this joined node too (HA agent)")
    add.add_argument("--volume", required=True, metavar="SERVER:/NAME", help="the engine volume")
    add.add_argument("--backup-servers", default="", metavar="A,B", help="the volume's other servers")
    add.add_argument("--mount", default="", metavar="DIR",
                     help="where the engine volume is mounted (default: the deploy's, /mnt/glusterSD/<volume>)")
    add.add_argument("--deployment", default=None, metavar="UUID",
                     help="the deployment to serve, when the volume holds more than one")
    add_dry_run(add)
    add_json(add)
    add.set_defaults(func=cmd_add_host)

    remove = subparsers.add_parser("remove-host", help="stop serving the hosted engine from this node")
    add_dry_run(remove)
    add_json(remove)
    remove.set_defaults(func=cmd_remove_host)

    mode = subparsers.add_parser("maintenance", help="global (no agent acts), local (this host), none")
    mode.add_argument("mode", choices=maint.MODES)
    mode.add_argument("--run-dir", metavar="DIR", help="where this host's agent writes hosted-engine.json")
    mode.set_defaults(func=cmd_maintenance)

    reinit = subparsers.add_parser("reinitialize-lockspace",
                                   help="rewrite the sanlock lockspace and clear garbage metadata (global maintenance)")
    reinit.add_argument("--yes", action="store_true", help="confirm: every host's id in the lockspace is dropped")
    add_dry_run(reinit)
    add_json(reinit)
    reinit.set_defaults(func=cmd_reinitialize)


def _show(plan: Plan, as_json: bool) -> None:
    print(plan.to_json() if as_json else plan.render_text())


def _progress(args: argparse.Namespace) -> Any:
    return None if args.json else print_progress


def cmd_add_host(args: argparse.Namespace) -> int:
    cfg = hosts.AddHostConfig(args.volume, tuple(s for s in args.backup_servers.split(",") if s), args.mount,
                              args.deployment)
    hosts.check_config(cfg).raise_if_errors()
    runner = _runner()
    host_file = layout.host_state_path()
    facts = hosts.probe(cfg, runner, host_file)
    hosts.check_facts(cfg, facts).raise_if_errors()
    if args.dry_run:
        _show(hosts.add_host_plan(cfg, facts, host_file), args.json)
        return EXIT_OK
    if not facts.mounted:
        # phase 1: the deployment directory can only be found on the mounted volume
        mount = Plan("mount the engine volume", hosts.add_host_plan(cfg, facts, host_file).steps[:1])
        pipeline.apply(mount, runner, name=hosts.ADD_JOURNAL, actions=hosts.actions(), progress=_progress(args),
                       log_path=args.log_path, journal=False)
        facts = hosts.probe(cfg, runner, host_file)
    final = facts
    plan, _ = pipeline.run(
        name=hosts.ADD_JOURNAL, validate=lambda: hosts.check_facts(cfg, final),
        plan=lambda: hosts.add_host_plan(cfg, final, host_file), runners=runner, actions=hosts.actions(),
        progress=_progress(args), log_path=args.log_path, journal=False,
        verify=lambda _p: hosts.verify_added(runner, host_file, int(final.host_id or 0),
                                             str(hosts.chosen_deployment(cfg, final))))
    print(f"this host serves hosted engine {plan.summary.get('deployment')} as host id {final.host_id}; "
          "its HA agent runs (hcinode hosted-engine status)")
    return EXIT_OK


def cmd_remove_host(args: argparse.Namespace) -> int:
    runner = _runner()
    host_file = layout.host_state_path()
    facts = hosts.probe_remove(host_file, runner)
    report = hosts.check_remove(facts)
    report.raise_if_errors()
    plan = hosts.remove_host_plan(facts, host_file)
    if args.dry_run:
        _show(plan, args.json)
        return EXIT_OK
    pipeline.run(name=hosts.REMOVE_JOURNAL, validate=lambda: report, plan=lambda: plan, runners=runner,
                 actions=hosts.actions(), progress=_progress(args), log_path=args.log_path, journal=False,
                 verify=lambda _p: hosts.verify_removed(runner, facts, host_file))
    print(f"host id {facts.host.host_id} removed from hosted engine {facts.host.deployment}")
    return EXIT_OK


def cmd_maintenance(args: argparse.Namespace) -> int:
    print(maint.set_maintenance(args.mode, run_dir=args.run_dir).message)
    return EXIT_OK


def cmd_reinitialize(args: argparse.Namespace) -> int:
    runner = _runner()
    host = HostConfig.load(layout.host_state_path())
    state = runner.run(["virsh", "domstate", layout.DOMAIN_NAME], check=False).stdout.strip()
    facts = maint.probe_reinit(host, vm_running_here=state == "running")
    report = maint.check_reinit(facts)
    report.raise_if_errors()
    plan = maint.reinit_plan(facts)
    if args.dry_run:
        _show(plan, args.json)
        return EXIT_OK
    if not args.yes:
        print(plan.render_text(), file=sys.stderr)
        print("refused: this drops every host's id in the lockspace (their agents join again); "
              "re-run with --yes to confirm", file=sys.stderr)
        return EXIT_REFUSED
    pipeline.run(name=maint.REINIT_JOURNAL, validate=lambda: report, plan=lambda: plan, runners=runner,
                 actions=maint.reinit_actions(host), progress=_progress(args), log_path=args.log_path,
                 journal=False, verify=lambda _p: maint.verify_reinit(facts))
    print(f"lockspace {host.paths.lockspace} rewritten, {len(facts.garbage)} garbage slot(s) cleared; global "
          "maintenance is still on: `hcinode hosted-engine maintenance none` when every agent runs again")
    return EXIT_OK
