"""`hcinode install --kickstart PATH|URL [--validate | --dry-run [--facts FILE]] [--json]`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import TYPE_CHECKING

from nodecore.cli import add_json, run_plan
from nodecore.errors import EXIT_OK, ApplyFailed, InvalidInput
from nodecore.facts import HostFacts
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner

if TYPE_CHECKING:
    from installer.config import InstallConfig
    from installer.plan import Paths
    from nodecore.plan import Plan

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
    from installer.plan import Paths, build_plan
    from installer.scripts import run_pre_scripts
    from installer.sources import SourceError, fetch, local_address_for
    from installer.storage import resolve_layout
    from installer.target import ACTIONS

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
    if parsed.report.ok and not args.dry_run and parsed.config.scripts_of("pre"):
        run_pre_scripts(parsed.config, runner, log_dir=paths.log_dir)
    if parsed.includes and (not args.dry_run or all(os.path.exists(i) for i in parsed.includes)):
        parsed = kickstart.parse(text, source=value, follow_includes=True)

    facts = HostFacts.load(args.facts) if args.facts else _collect()
    report = checks.check_host(parsed.config, facts, parsed.report)
    layout = resolve_layout(parsed.config, facts, ValidationReport()) if report.ok else None
    report.raise_if_errors()
    assert layout is not None
    if report.warnings and not args.json:
        print(report.render_text(), file=sys.stderr)
    plan = build_plan(parsed.config, layout, facts, paths=paths, source=value)
    if args.dry_run:
        run_plan(plan, runner, args=args, journal_name="install")
        return EXIT_OK

    os.makedirs(paths.log_dir, exist_ok=True)
    # the kickstart as it was understood, passwords as hashes only (anaconda keeps anaconda-ks.cfg)
    runner.write_file(os.path.join(paths.log_dir, "hcinode-ks.cfg"), kickstart.render(parsed.config), 0o600)
    _prepare_resume(plan, paths, runner)
    try:
        result = run_plan(plan, runner, args=args, journal_name="install", actions=ACTIONS)
    except ApplyFailed as exc:
        _after_failure(exc, parsed.config, len(plan.steps), paths, runner, args, value)
        raise
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


def _prepare_resume(plan: Plan, paths: Paths, runner: LocalRunner) -> None:
    """A re-run of the same plan in the same boot: say where it resumes, and mount the target again
    when the journal would skip the mount steps but nothing is mounted any more."""
    from installer.recovery import resume_decision
    from installer.target import bind_system, mount_target, target_root_mounted
    from nodecore.executor import Journal
    from nodecore.paths import journal_path

    journal = Journal(journal_path(f"install-{plan.id}"))  # the journal run_plan keeps for this plan
    done = {s.id for s in plan.steps if journal.is_done(s)}
    decision = resume_decision(plan.steps, done, target_root_mounted(paths.target))
    if decision.message:
        print(f"hcinode: {decision.message}", file=sys.stderr)
        log.info("%s", decision.message)
    if decision.remount:
        mount_target(runner, {"target": paths.target, "devices_file": paths.devices_file})
        bind_system(runner, {"target": paths.target})


def _after_failure(exc: ApplyFailed, config: InstallConfig, total: int, paths: Paths, runner: LocalRunner,
                   args: argparse.Namespace, kickstart: str) -> None:
    """A step failed: run %onerror, keep every log on the target disk when it is mounted, never reboot
    or power off (the kickstart's reboot/poweroff is for a finished install), and say what to do."""
    from installer.recovery import TARGET_LOG_DIR, failure_lines
    from installer.scripts import run_onerror_scripts
    from installer.target import keep_logs_on_target, mounted_device, target_root_mounted

    mounted = target_root_mounted(paths.target)
    onerror = run_onerror_scripts(config, runner, log_dir=paths.log_dir, target=paths.target if mounted else "")
    kept_on = ""
    if mounted:
        try:
            dest = keep_logs_on_target(runner, paths.target, paths.log_dir, [args.log_path] if args.log_path else [])
            kept_on = mounted_device(dest)
        except OSError as err:  # a full or broken target must not hide the original failure
            log.error("could not copy the logs onto the target: %s", err)
    lines = failure_lines(step_index=exc.step_index, total=total, step_title=exc.step_title, cause=str(exc.cause),
                          onerror=onerror, kept_on=kept_on, log_path=args.log_path or "", kickstart=kickstart)
    if kept_on:
        try:
            runner.write_file(os.path.join(paths.target, TARGET_LOG_DIR.lstrip("/"), "install-failed.txt"),
                              "\n".join(lines) + "\n")
            runner.run(["sync"], check=False)
        except OSError as err:
            log.error("could not write install-failed.txt onto the target: %s", err)
    for line in lines:
        log.error("%s", line)
        print(f"hcinode: {line}", file=sys.stderr)
    sys.stderr.flush()


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
