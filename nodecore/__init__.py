"""The shared kernel of hcinode: plans, runners, executor, validation, facts, config, CLI."""

__version__ = "0.1.0"
