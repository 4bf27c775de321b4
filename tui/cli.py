"""`hcinode tui`: the node console.

    hcinode tui [--dry-run] [--facts FILE] [--mode auto|install|node] [--colors auto|256|16|mono]
                [--lock-timeout SECONDS]

`--dry-run` reads the real facts of this machine (or `--facts FILE`) but every apply shows the
plan instead of changing anything: that is how the console is demonstrated and tested on a
workstation. `--mode auto` shows the installer flow on live media without `inst.ks=` (an
unattended install needs no console), the node pages otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from nodecore import __version__
from nodecore.cli import add_dry_run
from nodecore.errors import EXIT_INVALID
from nodecore.facts import HostFacts
from nodecore.image_version import running_version


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("tui", help="the node console (installer on live media, node pages otherwise)")
    add_dry_run(parser)
    parser.add_argument("--facts", metavar="FILE", help="use facts captured with `hcinode facts --json`")
    parser.add_argument("--mode", choices=("auto", "install", "node"), default="auto",
                        help="installer flow or installed-node pages (default: auto)")
    parser.add_argument("--colors", choices=("auto", "256", "16", "mono"), default="auto")
    parser.add_argument("--lock-timeout", type=int, default=900, metavar="SECONDS",
                        help="lock the console after this many idle seconds (0: never; default 900)")
    parser.set_defaults(func=run)


def detect_mode(facts: HostFacts) -> str:
    """install on live media (booted with boot=live or from our boot media) unless a kickstart drives it."""
    cmdline = facts.kernel_cmdline.split()
    live = facts.boot_media is not None or "boot=live" in cmdline
    unattended = any(arg.startswith("inst.ks=") for arg in cmdline)
    return "install" if live and not unattended else "node"


def build_app(args: argparse.Namespace) -> Any:
    from nodecore.facts import collect as collect_facts
    from tui.app import App
    from tui.framework import Context
    from tui.services import Services

    facts = HostFacts.load(args.facts) if args.facts else collect_facts()
    mode = args.mode if args.mode != "auto" else detect_mode(facts)
    # captured facts describe another machine: this one's network and settings must not show
    ctx = Context(facts=facts, services=Services(read_system=not args.facts), dry_run=args.dry_run,
                  lock_timeout=args.lock_timeout, live=not args.facts,
                  version=__version__ if args.facts else running_version(),
                  collect_facts=None if args.facts else collect_facts)
    return App(ctx, mode=mode)


def ensure_terminal_size(fd: int, default: tuple[int, int] = (24, 80)) -> None:
    """A serial line reports 0x0 (nothing tells the kernel the far end's size): assume 80x24 as
    `stty rows 24 cols 80` would, so the console draws a usable screen instead of nothing."""
    import fcntl
    import struct
    import termios

    try:
        rows, cols = struct.unpack("hh", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"    "))
        if rows <= 0 or cols <= 0:
            fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("hhhh", default[0], default[1], 0, 0))
    except OSError:
        pass


def normal_priority() -> None:
    """Back to nice 0 once the first screen is drawn, when the console's unit started it ahead of
    the boot (Nice=-10 in the getty drop-ins): what the console runs from then on (installs, the
    facts refresh, shells) runs at the normal priority. In the main thread: on Linux a nice value
    is per thread, and threads started later inherit it."""
    import os

    if os.getpriority(os.PRIO_PROCESS, 0) < 0:
        os.setpriority(os.PRIO_PROCESS, 0, 0)


def run(args: argparse.Namespace) -> int:
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        print("hcinode tui needs a terminal (run it on a console, over ssh -t, or in tmux)", file=sys.stderr)
        return EXIT_INVALID
    ensure_terminal_size(sys.stdout.fileno())
    from tui import charset

    charset.choose()  # ASCII frames on a serial terminal or without a UTF-8 locale
    started = time.monotonic()
    app = build_app(args)
    import logging

    logging.getLogger("hcinode.tui").info("console ready in %.3fs (mode %s)", time.monotonic() - started, app.mode)
    from tui.quiet import stderr_to_log

    with stderr_to_log():  # GLib/libblockdev warnings and tool output must not tear the screen
        app.run(colors=args.colors, after_first_screen=normal_priority)
    return int(app.exit_code)  # 3: the technician chose "Rescue shell" (the console service opens one)
