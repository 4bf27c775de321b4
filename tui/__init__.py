"""The node console: an urwid text UI for installing and running an hcinode node.

The TUI is a face. Pages (views) are plugins found in `tui.pages`; each page talks only to its
controller, and controllers call the public APIs of `nodecore` (facts, plans, executor),
`installer` and `node_setup`. Nothing here starts a process except through a nodecore Runner.

Entry point: `hcinode tui [--dry-run] [--facts FILE]` (see `tui.cli`). With `--dry-run` every
apply shows the plan instead of changing the machine.
"""
