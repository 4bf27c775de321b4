"""`hcinode install --kickstart PATH|URL [--validate | --dry-run [--facts FILE]] [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from nodecore.cli import add_json, print_progress, run_plan
from nodecore.errors import EXIT_OK, InvalidInput
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner

log = logging.getLogger("hcinode.installer")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("install", help="install the node to disk from a kickstart",
                              description="Install hcinode to disk, unattended, from a kickstart file. "
                              "Without --kickstart the inst.ks= kernel argument is used.")
    p.add_argument("--kickstart", metavar="PATH|URL",
                   help="file, http(s)://, file://, hd:LABEL=NAME:/path or cdrom:/path (default: inst.ks=)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--validate", action="store_true",
                      help="check the kickstart alone (syntax and semantics); looks at no machine")
    mode.add_argument("--dry-run", action="store_true",
                      help="resolve against this machine (or --facts) and print the layout and every step")
    p.add_argument("--facts", metavar="FILE", help="with --dry-run: facts captured by 'hcinode facts --json'")
    p.add_argument("--no-finish", action="store_true", help="do not reboot/power off afterwards")
    p.add_argument("--work-dir", default="", help=argparse.SUPPRESS)
    add_json(p)
    p.set_defaults(func=cmd_install)


def _kickstart_value(args: argparse.Namespace) -> str:
    if args.kickstart:
        return str(args.kickstart)
    from installer.sources import ks_from_cmdline

    with open("/proc/cmdline", encoding="utf-8") as f:
        value = ks_from_cmdline(f.read())
    if not value:
        report = ValidationReport("install")
        report.error("--kickstart", "no kickstart given and no inst.ks= on the kernel command line")
        raise InvalidInput(report)
    return value


def cmd_install(args: argparse.Namespace) -> int:
    from installer import checks, kickstart
    from installer.install import Install, run_install
    from installer.plan import Paths, build_plan
    from installer.scripts import run_pre_scripts
    from installer.sources import SourceError, fetch, local_address_for
    from installer.storage import resolve_layout

    value = _kickstart_value(args)
    runner = LocalRunner()
    try:
        text, source = fetch(value, runner, mount=not args.validate)  # --validate looks at no machine
    except SourceError as exc:
        report = ValidationReport(value)
        report.error("kickstart", str(exc))
        raise InvalidInput(report) from None
    # which network the fetch went over: ip=/BOOTIF= decide it on the install media
    over = f" (fetched over {local_address_for(source.location) or 'no route'})" if source.kind == "http" else ""
    print(f"kickstart: {source.describe()}{over}", file=sys.stderr)
    parsed = kickstart.parse(text, source=value)

    if args.validate:
        report = checks.validate(parsed.config, parsed.report)
        for inc in parsed.includes:
            report.warning("kickstart", f"%include {inc} is read after %pre runs; its content is checked at "
                           "install time")
        report.raise_if_errors()
        print(report.to_json() if args.json else report.render_text())
        return EXIT_OK

    paths = Paths(target=os.path.join(args.work_dir, "target"), work=os.path.join(args.work_dir, "install")) \
        if args.work_dir else Paths()
    pre_ran = parsed.report.ok and not args.dry_run and bool(parsed.config.scripts_of("pre"))
    if pre_ran:
        run_pre_scripts(parsed.config, runner, log_dir=paths.log_dir)
    try:
        if parsed.includes and (not args.dry_run or all(os.path.exists(i) for i in parsed.includes)):
            parsed = kickstart.parse(text, source=value, follow_includes=True)
        facts = HostFacts.load(args.facts) if args.facts else _collect()
        report = checks.check_host(parsed.config, facts, parsed.report)
        layout = resolve_layout(parsed.config, facts, ValidationReport()) if report.ok else None
        report.raise_if_errors()
    except InvalidInput as exc:
        if pre_ran:
            exc.note = (f"hcinode changed nothing, but the kickstart's %pre scripts ran (their logs: "
                        f"{paths.log_dir})")
        raise
    assert layout is not None
    if report.warnings and not args.json:
        print(report.render_text(), file=sys.stderr)
    plan = build_plan(parsed.config, layout, facts, paths=paths, source=value)
    if args.dry_run:
        run_plan(plan, runner, args=args, journal_name="install")
        return EXIT_OK

    install = Install(parsed.config, plan, paths, source=value, disks=tuple(layout.disks))
    # a failure raises InstallFailed after %onerror and the logs; `hcinode` prints its account, exit 1
    result = run_install(install, runner, progress=print_progress, log_path=args.log_path,
                         say=lambda line: print(f"hcinode: {line}", file=sys.stderr))
    timings = result.timings if result else {}
    if args.json:
        print(json.dumps({"installed": list(layout.disks), "timings": timings}, indent=2))
    else:
        print(f"hcinode installed on {', '.join(layout.disks)}")
        for title, seconds in timings.items():
            print(f"  {seconds:7.1f}s  {title}")
    sys.stdout.flush()  # the summary must reach the console before the machine goes down
    _finish(parsed.config.finish, args, runner)
    return EXIT_OK


def _collect() -> HostFacts:
    from nodecore.facts import collect

    return collect()


def _finish(action: str, args: argparse.Namespace, runner: LocalRunner) -> None:
    """Reboot or power off, but only on the install media: never the machine a developer runs this on."""
    with open("/proc/cmdline", encoding="utf-8") as f:
        live = "boot=live" in f.read().split()
    if args.no_finish or not live:
        print(f"not on the install media (or --no-finish): not running {action}", file=sys.stderr)
        return
    print(f"{action} in 3 seconds", file=sys.stderr, flush=True)
    runner.run(["sync"], check=False)
    runner.run(["sleep", "3"], check=False)
    runner.run(["systemctl", action, "--no-block"], check=False)
