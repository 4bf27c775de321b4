"""The node console: an urwid text UI for installing and running an hcinode node.

The TUI is a face. Pages (views) are plugins found in `tui.pages`; each page talks only to its
controller, and controllers call the public APIs of `nodecore` (facts, plans, executor),
`installer` and `node_setup`. Nothing here starts a process except through a nodecore Runner.

Entry point: `hcinode tui [--dry-run] [--facts FILE]` (see `tui.cli`). With `--dry-run` every
apply shows the plan instead of changing the machine.
"""

import sys

# urwid's event_loop package imports every loop whose library is installed (GLib, Twisted, Tornado,
# Trio, ZeroMQ) just to export it. The console runs urwid's default select loop; on the node, gi's
# GLib alone cost about a second of a cold start under TCG. A None entry makes that import fail, and
# urwid skips the loop as if its library were missing. Set only when urwid has not been imported.
if "urwid" not in sys.modules:
    for _loop in ("glib_loop", "twisted_loop", "tornado_loop", "trio_loop", "zmq_loop"):
        sys.modules.setdefault(f"urwid.event_loop.{_loop}", None)  # type: ignore[arg-type]
