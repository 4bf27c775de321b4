"""Untrusted input: the one path rule and bounded reads of input files.

Every config (kickstart, node YAML, Gluster spec, inventory, recipe, facts) comes from someone
else's editor or server. A path from it ends up in argv, fstab lines and unit files, so it must
be plain: absolute, normalised, no `..`, no control characters or blanks (fstab and the tools'
own config files split on them). A file given as input is read only when it is a regular file of
a sane size: `/dev/zero`, a FIFO or a 2 GiB file must not hang or exhaust the installer.
"""

from __future__ import annotations

import os
import stat

MAX_INPUT_BYTES = 16 * 1024 * 1024  # far above any real config, kickstart or facts capture


class InputError(ValueError):
    """An input file that cannot be used: `reason` says why ("not a regular file")."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def path_problem(value: str, *, under: str = "/") -> str | None:
    """Why `value` is not a plain absolute path below `under` (None when it is)."""
    if not isinstance(value, str) or not value:
        return "must be an absolute path"
    bad = sorted({c for c in value if ord(c) < 32 or ord(c) == 127 or c.isspace()})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        return f"must not contain blanks or control characters (found {shown})"
    if not value.startswith("/"):
        return f"{value!r} must be an absolute path (start with /)"
    if ".." in value.split("/"):
        return f"{value!r} must not contain '..'"
    normal = os.path.normpath(value)
    if normal.startswith("//"):  # POSIX keeps a leading "//"; no path of ours needs it
        normal = "/" + normal.lstrip("/")
    if value != normal and value.rstrip("/") != normal:
        return f"{value!r} is not a normalised path (write {normal})"
    base = under.rstrip("/")
    if base and not (normal.startswith(base + "/") and len(normal) > len(base) + 1):
        return f"{value!r} must be below {under}"
    if normal == "/":
        return "must be a path below /, not / itself"
    return None


def device_problem(value: str) -> str | None:
    """Why `value` is not a device path (/dev/...; None when it is)."""
    return path_problem(value, under="/dev")


def read_input(path: str, *, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a whole input file; InputError unless it is a readable regular file of at most `limit` bytes.

    O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused by the check after).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(path, "not a regular file")
        if info.st_size > limit:
            raise InputError(path, f"larger than {limit // 1024} KiB")
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while True:  # st_size may lie (a file that grows while it is read)
            chunk = os.read(fd, 1024 * 1024)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > limit:
                raise InputError(path, f"larger than {limit // 1024} KiB")
            chunks.append(chunk)
    except OSError as exc:
        raise InputError(path, exc.strerror or str(exc)) from None
    finally:
        os.close(fd)


def read_input_text(path: str, *, limit: int = MAX_INPUT_BYTES) -> str:
    """read_input as UTF-8 text."""
    try:
        return read_input(path, limit=limit).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not UTF-8 text (byte {exc.start})") from None
