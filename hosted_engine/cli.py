"""`hcinode hosted-engine deploy|import-answers|console|cleanup` (and the HA agent's `status`/`agent`,
which hosted_engine.ha_cli registers, and add-host/remove-host/maintenance/reinitialize-lockspace,
which hosted_engine.hosts_cli registers)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from hosted_engine import answers, ha_cli, hosts_cli, layout
from hosted_engine.spec import HostedEngineSpec, load_spec
from nodecore.cli import add_dry_run, add_json, print_progress
from nodecore.errors import EXIT_OK, InvalidInput
from nodecore.inputs import InputError, read_input_text
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner, run_interactive

EXIT_REFUSED = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("hosted-engine", help="the self-hosted engine VM on the Gluster engine volume")
    verbs = parser.add_subparsers(dest="hosted_engine_verb", metavar="VERB", required=True)

    deploy = verbs.add_parser("deploy", help="preflight, then the engine VM on the engine volume, enrol, HA agent")
    deploy.add_argument("spec", metavar="SPEC", help="the hosted-engine spec (YAML, docs/hosted-engine.md)")
    add_dry_run(deploy)
    add_json(deploy)
    deploy.set_defaults(func=_deploy)

    imp = verbs.add_parser("import-answers", help="convert an oVirt hosted-engine answer file to a spec")
    imp.add_argument("file", metavar="FILE", help="answers.conf of `hosted-engine --deploy`")
    imp.add_argument("-o", "--output", help="write the spec here (default: stdout)")
    imp.add_argument("--admin-password-file", default=None,
                     help="where the answer file's admin password goes, mode 0600 (default: "
                          "<state dir>/hosted-engine/admin-password)")
    imp.set_defaults(func=_import)

    console = verbs.add_parser("console", help="the engine VM's serial console (virsh console; Ctrl+] leaves)")
    console.set_defaults(func=_console)

    cleanup = verbs.add_parser("cleanup", help="remove this deployment's engine VM and its directory on the volume")
    cleanup.add_argument("spec", metavar="SPEC")
    cleanup.add_argument("--yes-destroy-data", action="store_true",
                         help="confirm: the engine VM, its disk and everything in its deployment directory are gone")
    add_dry_run(cleanup)
    add_json(cleanup)
    cleanup.set_defaults(func=_cleanup)

    # the HA agent's verbs (`status`, `agent`) live in its own module, so the two never edit one file
    ha_cli.register(verbs)
    hosts_cli.register(verbs)  # add-host, remove-host, maintenance, reinitialize-lockspace


def _load(path: str) -> HostedEngineSpec:
    spec, report = load_spec(path)
    for problem in report.warnings:
        print(problem.render(), file=sys.stderr)
    return spec


def _runner() -> Runner:
    return LocalRunner()


def _deploy(args: argparse.Namespace) -> int:
    from hosted_engine import deploy

    spec = _load(args.spec)
    runner = _runner()
    report, plan = deploy.prepare(spec, runner)
    report.raise_if_errors()  # (with the warnings too)
    for problem in report.warnings:
        print(problem.render(), file=sys.stderr)
    if args.dry_run:
        print(plan.to_json() if args.json else plan.render_text())
        return EXIT_OK
    started = time.monotonic()
    result = deploy.run_deploy(spec, runner, report, plan, progress=None if args.json else print_progress,
                               log_path=args.log_path)
    seconds = round(time.monotonic() - started, 1)
    if args.json:
        print(json.dumps({"engine": spec.engine.fqdn, "deployment": spec.deployment_uuid, "done": len(result.done),
                          "skipped": len(result.skipped), "seconds": seconds, "timings": result.timings}, indent=2))
    elif result.changed:
        print(f"hosted engine {spec.engine.fqdn} deployed: {len(result.done)} steps done, "
              f"{len(result.skipped)} already done, {seconds} s")
    else:
        print(f"hosted engine {spec.engine.fqdn}: nothing to do, all {len(result.skipped)} steps already done")
    return EXIT_OK


def _import(args: argparse.Namespace) -> int:
    report = ValidationReport(args.file)
    try:
        text = read_input_text(args.file)
    except InputError as exc:
        report.error("(file)", f"cannot read: {exc.reason}", "check the path")
        raise InvalidInput(report) from None
    password_file = args.admin_password_file or answers.default_password_file()
    conversion = answers.convert(text, args.file, os.path.abspath(password_file))
    for key in conversion.ignored:
        print(f"ignored: {key} (no use in an hcinode hosted engine)", file=sys.stderr)
    for problem in conversion.report.warnings:
        print(problem.render(), file=sys.stderr)
    if conversion.spec is None:
        raise InvalidInput(conversion.report)
    if conversion.password is not None:
        answers.write_password_file(os.path.abspath(password_file), conversion.password)
        print(f"the admin password is in {password_file} (mode 0600); the spec refers to it", file=sys.stderr)
    elif not os.path.exists(password_file):
        print(f"the answer file has no admin password: write it into {password_file} (mode 0600) before the deploy",
              file=sys.stderr)
    out = answers.render(conversion.spec, args.file)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(out)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(out, end="")
    return EXIT_OK


def _console(args: argparse.Namespace) -> int:
    return run_interactive(["virsh", "console", layout.DOMAIN_NAME])


def _cleanup(args: argparse.Namespace) -> int:
    from hosted_engine.plan import cleanup_plan
    from nodecore import pipeline

    spec = _load(args.spec)
    plan = cleanup_plan(spec, layout.host_state_dir())
    if args.dry_run:
        print(plan.to_json() if args.json else plan.render_text())
        return EXIT_OK
    if not args.yes_destroy_data:
        print(plan.render_text(), file=sys.stderr)
        print("refused: this destroys the engine VM and its disk; re-run with --yes-destroy-data to confirm",
              file=sys.stderr)
        return EXIT_REFUSED
    from hosted_engine.deploy import lockspace_actions

    # no journal: every step checks the live state, and a later deploy of the same spec makes the
    # same cleanup plan again
    pipeline.apply(plan, _runner(), name="hosted-engine-cleanup", actions=lockspace_actions(),
                   progress=None if args.json else print_progress, log_path=args.log_path, journal=False)
    print(f"removed hosted engine {spec.engine.fqdn} (deployment {spec.deployment_uuid})")
    return EXIT_OK
