"""`hcinode gluster deploy|expand|status|teardown SPEC` and `hcinode gluster import-inventory FILE`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from gluster_setup import ops
from gluster_setup.apply import ApplyResult
from gluster_setup.inventory import convert, render
from gluster_setup.plan import DeployPlan, deploy_plan, expand_plan, teardown_plan
from gluster_setup.spec import GlusterSpec, load_spec
from gluster_setup.status import render as render_status
from nodecore.cli import add_dry_run, add_json
from nodecore.config import load_yaml_file
from nodecore.errors import EXIT_FAILED, EXIT_OK, InvalidInput


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("gluster", help="hyperconverged Gluster storage across nodes")
    verbs = parser.add_subparsers(dest="gluster_verb", metavar="VERB", required=True)

    deploy = verbs.add_parser("deploy", help="preflight, then bricks, peers, volumes and mounts on every host")
    _common(deploy)
    deploy.add_argument("--skip-preflight", action="store_true", help=argparse.SUPPRESS)
    deploy.set_defaults(func=_deploy)

    expand = verbs.add_parser("expand", help="add hosts (whole replica sets) to the volumes and rebalance")
    _common(expand)
    expand.add_argument("--new", action="append", default=[], metavar="ADDRESS",
                        help="storage address of a new host (default: the spec hosts without bricks)")
    expand.set_defaults(func=_expand)

    status = verbs.add_parser("status", help="peers, bricks, heal counts, free space")
    status.add_argument("spec", metavar="SPEC")
    add_json(status)
    status.add_argument("--known-hosts", help="known_hosts file to write the verified host keys to")
    status.set_defaults(func=_status)

    teardown = verbs.add_parser("teardown", help="remove the volumes, peers, bricks and LVM that deploy made")
    _common(teardown)
    teardown.add_argument("--yes-destroy-data", action="store_true",
                          help="confirm: every brick of the spec's volumes is wiped")
    teardown.set_defaults(func=_teardown)

    imp = verbs.add_parser("import-inventory", help="convert a gluster-ansible HCI inventory to a spec")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("-o", "--output", help="write the spec here (default: stdout)")
    imp.add_argument("--known-hosts", default="/root/.ssh/known_hosts",
                     help="known_hosts file the spec refers to (default: %(default)s)")
    imp.set_defaults(func=_import)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="the gluster spec (YAML)")
    add_dry_run(parser)
    add_json(parser)
    parser.add_argument("--known-hosts", help="known_hosts file to write the verified host keys to")


def _load(args: argparse.Namespace) -> GlusterSpec:
    spec, report = load_spec(args.spec)
    for problem in report.warnings:
        print(problem.render(), file=sys.stderr)
    return spec


def _print_plan(plan: DeployPlan, args: argparse.Namespace) -> int:
    combined = plan.combined()
    if args.json:
        data = combined.to_dict()
        data["phases"] = [{"name": p.name, "parallel": p.parallel, "hosts": sorted(p.plans)} for p in plan.phases]
        print(json.dumps(data, indent=2))
    else:
        print(combined.render_text())
        print("phases: " + "; ".join(f"{p.name} ({'parallel on ' if p.parallel else 'on '}"
                                     f"{', '.join(sorted(p.plans))})" for p in plan.phases))
    return EXIT_OK


def _report(result: ApplyResult, started: float, args: argparse.Namespace, verb: str) -> int:
    seconds = round(time.monotonic() - started, 2)
    if args.json:
        print(json.dumps(result.to_dict() | {"verb": verb, "seconds": seconds}, indent=2))
    elif result.changed:
        print(f"{verb}: {len(result.done)} steps done, {len(result.skipped)} already done, {seconds}s")
    else:
        print(f"{verb}: nothing to do, all {len(result.skipped)} steps already done ({seconds}s)")
    return EXIT_OK


def _deploy(args: argparse.Namespace) -> int:
    spec = _load(args)
    if args.dry_run:
        return _print_plan(deploy_plan(spec), args)
    started = time.monotonic()
    runners = ops.connect(spec, known_hosts=args.known_hosts)
    result = ops.deploy(spec, runners, run_preflight=not args.skip_preflight)
    return _report(result, started, args, "deploy")


def _expand(args: argparse.Namespace) -> int:
    spec = _load(args)
    if args.dry_run and args.new:
        return _print_plan(expand_plan(spec, args.new), args)
    started = time.monotonic()
    runners = ops.connect(spec, known_hosts=args.known_hosts)
    if args.dry_run:  # ask the cluster (read-only) which hosts are new
        plan = ops.plan_expand(spec, runners, args.new)
        if plan is None:
            print("nothing to expand: every host of the spec holds bricks of every volume")
            return EXIT_OK
        return _print_plan(plan, args)
    return _report(ops.expand(spec, runners, args.new), started, args, "expand")


def _teardown(args: argparse.Namespace) -> int:
    spec = _load(args)
    if args.dry_run:
        return _print_plan(teardown_plan(spec), args)
    if not args.yes_destroy_data:  # refuse before any connection is made
        ops.teardown(spec, {}, confirmed=False)
    started = time.monotonic()
    runners = ops.connect(spec, known_hosts=args.known_hosts)
    return _report(ops.teardown(spec, runners, confirmed=True), started, args, "teardown")


def _status(args: argparse.Namespace) -> int:
    spec = _load(args)
    runners = ops.connect(spec, known_hosts=args.known_hosts)
    status = ops.status(spec, runners)
    print(json.dumps(status.to_dict(), indent=2) if args.json else render_status(status))
    return EXIT_OK if status.healthy else EXIT_FAILED


def _import(args: argparse.Namespace) -> int:
    spec, report = convert(load_yaml_file(args.file), args.file, args.known_hosts)
    for problem in report.warnings:
        print(problem.render(), file=sys.stderr)
    if spec is None:
        raise InvalidInput(report)
    text = render(spec, args.file)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {args.output} ({len(spec['hosts'])} hosts, {len(spec['volumes'])} volumes)", file=sys.stderr)
    else:
        print(text, end="")
    return EXIT_OK
