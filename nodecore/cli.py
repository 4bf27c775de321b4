"""The `hcinode` command. Each package contributes verbs through its own `cli.py`.

A package's cli module has `register(subparsers)`, which adds its verbs and sets `func` on each
parser: func(args) -> exit code. nodecore finds them by name at run time, so it never imports
another project package statically and packages that do not exist yet are simply absent.

`COMMANDS` says which package owns which verb, so a command line that names a verb imports only
that package's cli (`hcinode tui` is the node console's start: importing every package's cli and
its dependencies cost it ~0.4 s natively, ~10 s under TCG). Help, no verb and an unknown verb
register every package, so they list every verb as before.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import io
import logging
import logging.handlers
import os
import stat
import sys
import typing
from collections.abc import Callable, Mapping, Sequence

from nodecore import __version__, pipeline
from nodecore.errors import EXIT_INVALID, EXIT_OK, HcinodeError, InvalidInput
from nodecore.executor import Action, ExecutionResult, Progress
from nodecore.facts import HostFacts
from nodecore.paths import log_dir
from nodecore.pipeline import Verify
from nodecore.plan import Plan
from nodecore.runner import Runner
from nodecore.secrets import redact

# verb -> the package whose cli.py registers it (a unit test checks this against every register()).
# The order is the order of `hcinode --help`.
COMMANDS: dict[str, str] = {
    "image": "image_recipes",
    "install": "installer",
    "network": "node_setup", "node": "node_setup",
    "tui": "tui",
    "gluster": "gluster_setup",
    "hosted-engine": "hosted_engine",
    "join": "agent", "agent": "agent", "leave": "agent",
    "engine": "engine",
    "update": "update",
}
COMMAND_PACKAGES = tuple(dict.fromkeys(COMMANDS.values()))
OWN_COMMANDS = ("facts",)  # nodecore's own: they need no package's cli

log = logging.getLogger("hcinode")

EXIT_BROKEN_PIPE = 141  # what a shell reports for a command killed by SIGPIPE


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


LOG_MAX_BYTES = 5 * 1024 * 1024  # then hcinode.log.1 .. .3: at most 20 MiB of log, ever
LOG_BACKUPS = 3
# Loggers that are never below WARNING, whatever -v says: urwid's own (its event loop and screen
# log every decoded key and every idle wake-up at DEBUG; they are named after urwid's modules and,
# for widget and screen subclasses, after ours: "tui.app.SerialSafeScreen"). Our code logs as "hcinode.*".
QUIET_LOGGERS = ("urwid", "tui")


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A size-capped, rotated log file that is only ever readable by its owner (0600), also when
    an older version left it 0644 and for every file a rotation starts."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        # a regular file only: `--log-file /dev/null` (the tests' choice) run as root would
        # otherwise make the machine's /dev/null 0600, and every other user's writes to it fail
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


def setup_logging(verbose: bool, log_file: str | None) -> str:
    """INFO to the log file (DEBUG with -v, also on stderr). No key press or form value is ever
    logged: urwid's loggers stay at WARNING, and our code logs what happened, never what was typed."""
    path = log_file or os.path.join(log_dir(), "hcinode.log")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    file_handler = _PrivateRotatingFileHandler(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                               encoding="utf-8")
    file_handler.setFormatter(_RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(file_handler)
    if verbose:
        console = logging.StreamHandler(sys.stderr)
        console.setLevel(logging.DEBUG)
        console.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(console)
    return path


def add_dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def print_progress(p: Progress) -> None:
    if p.state != "running":
        print(p.line(), file=sys.stderr, flush=True)


def run_plan(plan: Plan, runners: Runner | Mapping[str, Runner], *, args: argparse.Namespace,
             journal_name: str, actions: Mapping[str, Action] | None = None, journal: bool = True,
             verify: Verify | None = None) -> ExecutionResult | None:
    """The common tail of every applying verb: print the plan (--dry-run, --json) or apply it through
    the pipeline (journal per plan id, see nodecore.pipeline; then the read-back).

    Returns None for a dry run.
    """
    if getattr(args, "dry_run", False):
        print(plan.to_json() if getattr(args, "json", False) else plan.render_text())
        return None
    return pipeline.apply(plan, runners, name=journal_name, actions=actions, progress=print_progress,
                          log_path=getattr(args, "log_path", None), journal=journal, verify=verify)


def _cmd_facts(args: argparse.Namespace) -> int:
    from nodecore import kvmprobe
    from nodecore.facts import collect

    if args.probe_kvm:
        boots, reason = kvmprobe.probe()
        log.info("kvm probe: %s (%s)", boots, reason)
    host = collect()
    if args.json:
        print(host.to_json())
        return EXIT_OK
    print(render_facts(host))
    return EXIT_OK


def render_facts(host: HostFacts) -> str:
    from nodecore.config import human_size

    kvm = {True: "boots guests", False: "does NOT boot guests", None: "not probed (--probe-kvm)"}
    lines = [
        f"hostname:  {host.hostname}",
        f"firmware:  {host.firmware}",
        f"memory:    {human_size(host.memory_bytes)}",
        f"cpu:       {host.cpu.model} ({host.cpu.threads} threads)",
        f"virt:      {host.cpu.virt_flag or 'no VT-x/AMD-V flag'}; /dev/kvm "
        f"{'present' if host.cpu.kvm_device else 'missing'}; KVM {kvm[host.kvm_boots_guest]}",
        f"boot media: {host.boot_media or '-'}",
        "disks:",
    ]
    for d in host.disks:
        flags = [d.transport or "?", "rotational" if d.rotational else "ssd/virtual",
                 f"{d.logical_sector_size}/{d.physical_sector_size}B sectors"]
        if d.in_use:
            flags.append("in use")
        if d.is_boot_media:
            flags.append("BOOT MEDIA")
        lines.append(f"  {d.path:14s} {human_size(d.size):>10s}  {d.model or '-'}  {', '.join(flags)}")
    lines.append("network:")
    for n in host.nics:
        speed = f"{n.speed_mbps} Mb/s" if n.speed_mbps else "-"
        lines.append(f"  {n.name:10s} {n.mac:17s} {n.driver or '-':12s} link {'up' if n.link else 'down':4s} "
                     f"{speed:10s} {' '.join(n.addresses)}")
    return "\n".join(lines)


def _add_global_options(parser: argparse.ArgumentParser, *, scanning: bool = False) -> None:
    if scanning:  # the same option names (so the same abbreviations), without the printing
        parser.add_argument("--version", action="store_true")
    else:
        parser.add_argument("--version", action="version", version=f"hcinode {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log DEBUG lines (never keys or typed values), to stderr as well as the log file")
    parser.add_argument("--log-file", help="log file (default: /var/log/hcinode/hcinode.log, or "
                        "~/.local/state/hcinode/log/ when not root)")


class _Undecided(Exception):
    pass


class _VerbScanner(argparse.ArgumentParser):
    """The top-level options and the verb, parsed as the real parser parses them (same option
    names, so the same abbreviations), but it never prints or exits: what it cannot read, the
    real parser with every verb registered reports."""

    def error(self, message: str) -> typing.NoReturn:
        raise _Undecided(message)

    def exit(self, status: int = 0, message: str | None = None) -> typing.NoReturn:
        raise _Undecided(message)


def command_packages(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The packages whose cli a command line needs: the one that owns its verb, or all of them
    (no argv, no verb, an unknown verb, or -h/--help before the verb: the top-level help lists
    every verb)."""
    if argv is None:
        return COMMAND_PACKAGES
    scanner = _VerbScanner(prog="hcinode", add_help=False)
    _add_global_options(scanner, scanning=True)
    scanner.add_argument("-h", "--help", action="store_true")
    scanner.add_argument("command", nargs="?")
    scanner.add_argument("rest", nargs=argparse.REMAINDER)  # the verb's own options, -h included
    try:
        ns, _ = scanner.parse_known_args(list(argv))
    except _Undecided:
        return COMMAND_PACKAGES
    if ns.help:
        return COMMAND_PACKAGES
    if ns.command in OWN_COMMANDS:
        return ()
    return (COMMANDS[ns.command],) if ns.command in COMMANDS else COMMAND_PACKAGES


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with only the package that owns its verb registered (see
    `command_packages`), or with every verb when argv is None."""
    parser = argparse.ArgumentParser(prog="hcinode", description="hyperconverged virtualization node")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    facts_parser = sub.add_parser("facts", help="show this machine's disks, NICs, CPU, memory, firmware")
    add_json(facts_parser)
    facts_parser.add_argument("--probe-kvm", action="store_true",
                              help="boot a tiny guest under KVM to find out whether KVM really works")
    facts_parser.set_defaults(func=_cmd_facts)

    for package in command_packages(argv):
        if importlib.util.find_spec(package) is None or importlib.util.find_spec(f"{package}.cli") is None:
            continue
        importlib.import_module(f"{package}.cli").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_INVALID
    args.log_path = setup_logging(args.verbose, args.log_file)
    log.info("hcinode %s: %s", __version__, redact(" ".join(argv)))
    try:
        code = func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except InvalidInput as exc:
        if getattr(args, "json", False):
            print(exc.report.to_json())
        else:
            print(exc.report.render_text(), file=sys.stderr)
            print(exc.note, file=sys.stderr)
        return EXIT_INVALID
    except HcinodeError as exc:
        log.error("%s", exc)
        text = redact(str(exc))
        print(f"error: {text}", file=sys.stderr)
        if f"log: {args.log_path}" not in text:
            print(f"log: {args.log_path}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


def _reader_went_away() -> int:
    """stdout's reader closed the pipe (`hcinode install --dry-run ... | head`): stop quietly, as
    other CLIs do (they die of SIGPIPE: exit status 128 + 13), with no traceback from the flush
    at interpreter exit either."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
