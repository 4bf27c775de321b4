"""Where hcinode keeps its log, journals and caches (root: system paths; otherwise per user)."""

from __future__ import annotations

import os


def _writable_dir(system: str, user_sub: str) -> str:
    try:
        os.makedirs(system, exist_ok=True)
        if os.access(system, os.W_OK):
            return system
    except OSError:
        pass
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    path = os.path.join(base, "hcinode", user_sub)
    os.makedirs(path, exist_ok=True)
    return path


def log_dir() -> str:
    return os.environ.get("HCINODE_LOG_DIR") or _writable_dir("/var/log/hcinode", "log")


def state_dir() -> str:
    return os.environ.get("HCINODE_STATE_DIR") or _writable_dir("/var/lib/hcinode", "state")


def journal_path(name: str) -> str:
    return os.path.join(state_dir(), "journal", f"{name}.jsonl")
