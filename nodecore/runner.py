"""Runners: the one place that starts processes.

Every command of the project goes through a Runner. `LocalRunner` really runs it (logging it with
secrets redacted, capturing output, enforcing a timeout); `DryRunRunner` prints instead of running;
`RecordingRunner` records and answers from a script in unit tests. `HostRunner` runs on another
host: through ssh with a verified host key, or inside network/mount namespaces (the test harness's
hosts), by wrapping each argv.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from nodecore.errors import CommandFailed, HcinodeError
from nodecore.secrets import Secret, redact

log = logging.getLogger("hcinode.runner")

DEFAULT_TIMEOUT = 600.0


def format_argv(argv: Sequence[str]) -> str:
    return redact(shlex.join(argv))


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@runtime_checkable
class Runner(Protocol):
    """What every runner offers. `check=True` raises CommandFailed on a non-zero exit."""

    name: str

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult: ...

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None: ...

    def read_file(self, path: str) -> bytes: ...


def _stdin_bytes(stdin: str | bytes | Secret | None) -> bytes:
    # No command ever gets the caller's stdin: from the console that is a raw-mode terminal, and a
    # tool that reads it (a prompt, a pager, a tty check) would hang and swallow the technician's keys.
    if stdin is None:
        return b""
    if isinstance(stdin, Secret):
        return stdin.reveal().encode()
    return stdin if isinstance(stdin, bytes) else stdin.encode()


class LocalRunner:
    name = "local"

    def __init__(self, default_timeout: float = DEFAULT_TIMEOUT, quiet: bool = False) -> None:
        self.default_timeout = default_timeout
        # quiet: the command line is logged at DEBUG, not INFO. For read-only probes a service runs
        # forever (the agent's every heartbeat): at INFO they would rotate everything else out of
        # the shared, size-capped hcinode.log within days. Failures and timeouts are logged the same.
        self.run_level = logging.DEBUG if quiet else logging.INFO

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        argv = tuple(argv)
        if any(isinstance(a, Secret) for a in argv):
            raise TypeError("secrets must not be passed in argv (they would show in the process list); "
                            "send them on stdin")
        limit = timeout if timeout is not None else self.default_timeout
        log.log(self.run_level, "run: %s", format_argv(argv))
        full_env = None if env is None else {**os.environ, **env}
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, input=_stdin_bytes(stdin), capture_output=True, timeout=limit,
                                  env=full_env, check=False)
        except subprocess.TimeoutExpired as exc:
            out = _decode(exc.stdout)
            err = _decode(exc.stderr)
            log.error("timed out after %.0fs: %s", limit, format_argv(argv))
            raise CommandFailed(argv, -1, out, err, timed_out=True) from None
        except FileNotFoundError:
            raise CommandFailed(argv, 127, "", f"{argv[0]}: command not found") from None
        result = CommandResult(argv, proc.returncode, _decode(proc.stdout), _decode(proc.stderr),
                               time.monotonic() - started)
        log.debug("rc=%d in %.2fs", result.returncode, result.duration)
        if result.stderr.strip():
            log.debug("stderr: %s", redact(result.stderr.strip()[-2000:]))
        if check and not result.ok:
            raise CommandFailed(argv, result.returncode, result.stdout, result.stderr)
        return result

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        """Atomic: write a temporary file beside it, fsync, rename. Never a half-written config.

        The temporary file has a fresh random name, created with O_EXCL|O_NOFOLLOW (mkstemp), mode
        0600 until written: a symlink or file someone planted at a guessable name is never
        followed or reused. The rename replaces a symlink at `path` itself, not its target.
        """
        payload = data.encode() if isinstance(data, str) else data
        directory = os.path.dirname(path) or "."
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".hcinode-tmp")
        try:
            try:
                view = memoryview(payload)
                while view:  # os.write may write less than asked (large files, signals)
                    view = view[os.write(fd, view):]
                os.fchmod(fd, mode)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        log.info("wrote %s (%d bytes, mode %o)", path, len(payload), mode)

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()


def run_interactive(argv: Sequence[str]) -> int:
    """Run a command on this terminal (stdin, stdout and stderr inherited; nothing captured) and
    return its exit code: for verbs that hand the terminal over (`virsh console`)."""
    argv = tuple(argv)
    log.info("run (interactive): %s", format_argv(argv))
    try:
        return subprocess.run(argv, check=False).returncode
    except FileNotFoundError:
        print(f"{argv[0]}: command not found", file=sys.stderr)
        return 127


def _decode(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")


@dataclass
class RecordedCall:
    argv: tuple[str, ...]
    stdin: str | None = None  # secrets are recorded masked


Responder = Callable[[tuple[str, ...]], CommandResult | None]


@dataclass
class RecordingRunner:
    """Records every call; answers from `responses` (argv prefix -> result) or with success.

    Files written are kept in `files`, so tests can assert on content without touching disk.
    """

    name: str = "recording"
    responses: list[tuple[tuple[str, ...], CommandResult]] = field(default_factory=list)
    calls: list[RecordedCall] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def respond(self, prefix: Sequence[str], returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.responses.append((tuple(prefix), CommandResult(tuple(prefix), returncode, stdout, stderr)))

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        argv = tuple(argv)
        shown = str(stdin) if isinstance(stdin, Secret) else (None if stdin is None else _decode(stdin))
        self.calls.append(RecordedCall(argv, shown))
        result = CommandResult(argv, 0)
        # the most specific (longest) matching prefix wins
        for prefix, canned in sorted(self.responses, key=lambda r: -len(r[0])):
            if argv[: len(prefix)] == prefix:
                result = CommandResult(argv, canned.returncode, canned.stdout, canned.stderr)
                break
        if check and not result.ok:
            raise CommandFailed(argv, result.returncode, result.stdout, result.stderr)
        return result

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        self.files[path] = data.encode() if isinstance(data, str) else data

    def read_file(self, path: str) -> bytes:
        if path not in self.files:
            raise FileNotFoundError(path)
        return self.files[path]

    @property
    def argvs(self) -> list[tuple[str, ...]]:
        return [c.argv for c in self.calls]


class DryRunRunner:
    """Runs nothing: each command is printed (via `echo`) and answered with success and no output."""

    name = "dry-run"

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.echo = echo or (lambda line: None)
        self.lines: list[str] = []

    def _say(self, line: str) -> None:
        self.lines.append(line)
        self.echo(line)

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        self._say("would run: " + format_argv(tuple(argv)))
        return CommandResult(tuple(argv), 0)

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        self._say(f"would write: {path} ({len(data)} bytes, mode {mode:o})")

    def read_file(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()


class UnsafeDirectory(HcinodeError):
    pass


def private_dir(path: str) -> str:
    """Make `path` (mode 0700) or check it: a directory, not a symlink, owned by us, no group or
    other access; and no directory above it writable by others without the sticky bit (whoever
    can rename a parent can swap the whole tree). Raises UnsafeDirectory saying which and why."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    me = os.geteuid()
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory (a symlink?): remove it and re-run")
    if info.st_uid != me:
        raise UnsafeDirectory(f"{path} is owned by uid {info.st_uid}, not {me}: remove it and re-run")
    if info.st_mode & 0o077:
        raise UnsafeDirectory(f"{path} has mode {stat.S_IMODE(info.st_mode):o}; it must be 700 "
                              f"(chmod 700 {shlex.quote(path)})")
    parent = os.path.dirname(os.path.abspath(path))
    while True:
        up = os.stat(parent)
        if up.st_uid not in (0, me) or (up.st_mode & 0o022 and not up.st_mode & stat.S_ISVTX):
            raise UnsafeDirectory(f"{parent} (above {path}) can be changed by other users")
        if parent == "/":
            return path
        parent = os.path.dirname(parent)


class HostRunner:
    """Runs commands on another host by wrapping each argv with a prefix.

    The prefix is what reaches the host: `ssh ... host --` (the remote side gets one shell-quoted
    string), or `nsenter --net=... --mount=...` for a network-namespace test host. Files are
    written through `sh -c 'cat > tmp && mv tmp path'` so the same code works over either.
    """

    def __init__(self, name: str, prefix: Sequence[str], inner: Runner | None = None,
                 quote_remote: bool = False) -> None:
        self.name = name
        self.prefix = tuple(prefix)
        self.inner: Runner = inner or LocalRunner()
        self.quote_remote = quote_remote

    @classmethod
    def ssh(cls, host: str, *, user: str = "root", known_hosts: str, identity: str | None = None,
            port: int = 22, inner: Runner | None = None, connect_timeout: int = 10,
            control_dir: str | None = None) -> HostRunner:
        """An ssh runner that only talks to hosts whose key is already in `known_hosts` (never TOFU).

        With `control_dir`, ssh multiplexes every command to the host over one connection (a master
        that exits by itself after 60 idle seconds). Whoever can write that directory can put a
        socket there that ssh then uses as "the connection to the host": it must be ours alone.
        """
        prefix = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                  "-o", f"UserKnownHostsFile={known_hosts}", "-o", f"ConnectTimeout={connect_timeout}",
                  "-p", str(port)]
        if identity:
            prefix += ["-i", identity, "-o", "IdentitiesOnly=yes"]
        if control_dir is not None:
            private_dir(control_dir)
            prefix += ["-o", "ControlMaster=auto", "-o", f"ControlPath={control_dir}/%C", "-o", "ControlPersist=60"]
        prefix += [f"{user}@{host}", "--"]
        return cls(host, prefix, inner, quote_remote=True)

    @classmethod
    def namespace(cls, name: str, *, netns: str | None = None, mount_pid: int | None = None,
                  inner: Runner | None = None) -> HostRunner:
        """Run in a named network namespace and, optionally, the mount namespace of process `mount_pid`."""
        prefix = ["nsenter"]
        if netns:
            prefix.append(f"--net=/run/netns/{netns}")
        if mount_pid:
            prefix.append(f"--mount=/proc/{mount_pid}/ns/mnt")
        prefix.append("--")
        return cls(name, prefix, inner)

    def wrap(self, argv: Sequence[str]) -> tuple[str, ...]:
        if self.quote_remote:
            return self.prefix + (shlex.join(argv),)
        return self.prefix + tuple(argv)

    def run(self, argv: Sequence[str], *, stdin: str | bytes | Secret | None = None, check: bool = True,
            timeout: float | None = None, env: Mapping[str, str] | None = None) -> CommandResult:
        if env:
            argv = ("env", *(f"{k}={v}" for k, v in env.items()), *argv)
        result = self.inner.run(self.wrap(argv), stdin=stdin, check=False, timeout=timeout)
        result = CommandResult(tuple(argv), result.returncode, result.stdout, result.stderr, result.duration)
        if check and not result.ok:
            raise CommandFailed((f"[{self.name}]", *argv), result.returncode, result.stdout, result.stderr)
        return result

    def write_file(self, path: str, data: str | bytes, mode: int = 0o644) -> None:
        # as LocalRunner: a fresh private temporary name (mktemp: O_EXCL, mode 0600) beside the
        # file, renamed over it; the values are arguments ("$1".."$3"), never part of the script
        script = ('mkdir -p -- "$1" && t=$(mktemp "$1/.hcinode-XXXXXXXX") || exit 1; '
                  'if cat > "$t" && chmod "$2" "$t" && mv -f -- "$t" "$3"; then exit 0; fi; rm -f -- "$t"; exit 1')
        payload = data if isinstance(data, bytes) else data.encode()
        self.run(["sh", "-c", script, "sh", os.path.dirname(path) or ".", f"{mode:o}", path], stdin=payload)

    def read_file(self, path: str) -> bytes:
        return self.run(["cat", path]).stdout.encode()
