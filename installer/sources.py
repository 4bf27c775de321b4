"""Where the kickstart comes from: `inst.ks=` values and plain paths/URLs.

    http(s)://host/path        fetched with requests, retried with exponential backoff
    file:///path or /path      a local file (the initrd or the live system)
    hd:LABEL=NAME:/path        a file on the partition or disk labelled NAME (mounted read-only)
    hd:sdb1:/path              a file on that device
    cdrom:/path                a file on the boot media (or the first CD drive)

The network used for the fetch is the live system's: with `ip=`/`BOOTIF=` on the kernel command
line (dracut/anaconda syntax), hcinode-cmdline-network.service has NetworkManager's own parser
(nm-initrd-generator) write the profiles before NetworkManager starts; without them NetworkManager
does DHCP. `local_address_for` names the address a fetch goes out from, for the console.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nodecore.inputs import InputError, read_input
from nodecore.runner import Runner
from nodecore.secrets import mask_url, redact, register_url

log = logging.getLogger("hcinode.installer.sources")

LIVE_MEDIUM = "/run/live/medium"

# Fetch bounds. A kickstart (and each %include) is a few KiB; a server that sends more, or an
# endless or trickling body (one byte every few seconds resets any per-read timeout), must end
# in a named error, not a hung installer. Images are big but finite, and the same applies.
KICKSTART_MAX_BYTES = 4 * 1024 * 1024
KICKSTART_DEADLINE = 120.0  # seconds for the whole fetch, retries included
IMAGE_MAX_BYTES = 64 * 1024**3
IMAGE_DEADLINE = 4 * 3600.0
_CHUNK = 1024 * 1024


class SourceError(RuntimeError):
    def __init__(self, message: str) -> None:
        # a URL's password or token never travels in an error (requests quotes the URL in its own)
        super().__init__(redact(message))


@dataclass(frozen=True)
class KickstartSource:
    kind: str  # http | file | hd | cdrom
    location: str  # URL, path, or the device spec for hd:
    path: str = ""  # path on the device (hd:, cdrom:)

    def describe(self) -> str:
        return {"http": mask_url(self.location), "file": self.location,
                "hd": f"{self.path} on {self.location}", "cdrom": f"{self.path} on the boot media"}[self.kind]


def parse_source(value: str) -> KickstartSource:
    if re.match(r"^https?://", value):
        register_url(value)  # from here on redact() scrubs its credentials from every log line and error
        return KickstartSource("http", value)
    if value.startswith("file://"):
        return KickstartSource("file", value[len("file://"):])
    if value.startswith("/"):
        return KickstartSource("file", value)
    m = re.fullmatch(r"hd:((?:LABEL|UUID)=[^:]+|[^:]+):(/.*)", value)
    if m:
        return KickstartSource("hd", m.group(1), m.group(2))
    m = re.fullmatch(r"cdrom(?::([^:]*))?:(/.*)", value)
    if m:
        return KickstartSource("cdrom", m.group(1) or "", m.group(2))
    if "://" not in value and not value.startswith(("hd:", "cdrom:", "nfs:")):
        return KickstartSource("file", os.path.abspath(value))  # a relative path given to --kickstart
    raise SourceError(f"inst.ks={value!r}: not http(s)://, file://, hd:LABEL=NAME:/path or cdrom:/path")


def ks_from_cmdline(cmdline: str) -> str:
    """The inst.ks= value (also the older ks=), '' if none."""
    for arg in cmdline.split():
        for key in ("inst.ks=", "ks="):
            if arg.startswith(key):
                return arg[len(key):]
    return ""


class _TooLarge(SourceError):
    pass


class _HttpStatus(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"HTTP {code}")
        self.code = code


def _stream_body(response: Any, write: Callable[[bytes], object], *, limit: int, deadline: float, what: str) -> None:
    """Copy a streamed response body to `write`, at most `limit` bytes (after gzip/deflate
    decoding: a small compressed body can expand without end) and only until `deadline`
    (time.monotonic()). read1 returns what has arrived, so a trickling server is noticed between
    reads instead of holding one read open for hours."""
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > limit:
        raise _TooLarge(f"{what} is {int(length)} bytes, more than the limit of {limit} bytes")
    total = 0
    while True:
        if time.monotonic() > deadline:
            raise SourceError(f"{what}: the server is too slow (no complete answer in time, {total} bytes so far)")
        chunk = response.raw.read1(_CHUNK, decode_content=True)
        if not chunk:
            return
        total += len(chunk)
        if total > limit:
            raise _TooLarge(f"{what} is more than the limit of {limit} bytes")
        write(chunk)


def _within(deadline: float, what: str, fn: Callable[[], bytes]) -> bytes:
    """fn() in a worker thread, given up on at `deadline`: the body loop checks the deadline
    itself, but a server can trickle its status line and headers too, inside one blocking read
    that only the per-read timeout would end. The abandoned (daemon) thread ends at that timeout."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="hcinode-fetch", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()) + 1.0)
    if worker.is_alive():
        raise SourceError(f"{what}: the server is too slow (no complete answer in time)")
    if "error" in box:
        raise box["error"]
    return bytes(box["value"])


def _get(url: str, *, timeout: float, deadline: float) -> Any:
    import requests

    # a connection and read timeout per operation, never past the overall deadline
    left = max(0.1, deadline - time.monotonic())
    return requests.get(url, stream=True, timeout=(min(timeout, left), min(timeout, left)))


def fetch_http(url: str, *, attempts: int = 6, backoff: float = 1.0, timeout: float = 15.0,
               sleep: Callable[[float], None] = time.sleep, limit: int = KICKSTART_MAX_BYTES,
               deadline: float = KICKSTART_DEADLINE) -> bytes:
    """GET with retries: the network may still be coming up when the installer starts.

    At most `limit` bytes and `deadline` seconds in all (retries included)."""
    import requests

    until = time.monotonic() + deadline
    delay = backoff
    last = ""
    def attempt_once() -> bytes:
        with _get(url, timeout=timeout, deadline=until) as response:
            if response.status_code != 200:
                raise _HttpStatus(response.status_code)
            body = bytearray()
            _stream_body(response, body.extend, limit=limit, deadline=until, what=url)
            return bytes(body)

    for attempt in range(1, attempts + 1):
        try:
            return _within(until, url, attempt_once)
        except _HttpStatus as status:
            last = f"HTTP {status.code}"
            if 400 <= status.code < 500 and status.code not in (404, 408, 429):
                break  # the server says no; retrying will not change that
        except _TooLarge:
            raise  # the same server will send the same too-large answer again
        except (requests.RequestException, SourceError) as exc:
            last = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SourceError) else str(exc)
        if time.monotonic() + delay > until:
            last += f" (gave up after {deadline:.0f}s)"
            break
        if attempt < attempts:
            log.warning("fetching %s failed (%s); retry %d/%d in %.0fs", url, last, attempt, attempts - 1, delay)
            sleep(delay)
            delay = min(delay * 2, 30.0)
    raise SourceError(f"could not fetch {url} after {attempts} attempts: {last}")


def local_address_for(url: str) -> str:
    """This machine's source address on the route to the URL's host ('' if none): which network a
    fetch used. A UDP connect() picks the route and sends nothing."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return ""
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, type=socket.SOCK_DGRAM)
    except OSError:
        return ""
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as s:
                s.connect(address)
                return str(s.getsockname()[0])
        except OSError:
            continue
    return ""


def _hashed(write: Callable[[bytes], object], digest: Any) -> Callable[[bytes], None]:
    def both(chunk: bytes) -> None:
        digest.update(chunk)
        write(chunk)
    return both


def download(url: str, dest: str, *, attempts: int = 6, backoff: float = 1.0, limit: int = IMAGE_MAX_BYTES,
             deadline: float = IMAGE_DEADLINE) -> str:
    """Stream a (large) file to dest with the same retries and bounds; written beside and renamed
    when complete. Returns the sha256 of what was written: hashed as it arrives, so the caller's
    checksum needs no second pass over the file (20 s for a 174 MB image under TCG)."""
    import requests

    register_url(url)
    until = time.monotonic() + deadline
    delay = backoff
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with _get(url, timeout=30, deadline=until) as response:
                if response.status_code == 200:
                    tmp = dest + ".part"
                    digest = hashlib.sha256()
                    try:
                        with open(tmp, "wb") as f:
                            _stream_body(response, _hashed(f.write, digest), limit=limit, deadline=until,
                                         what=url)
                    except BaseException:
                        with contextlib.suppress(OSError):
                            os.unlink(tmp)
                        raise
                    os.replace(tmp, dest)
                    return digest.hexdigest()
                last = f"HTTP {response.status_code}"
        except _TooLarge:
            raise
        except (requests.RequestException, OSError, SourceError) as exc:
            last = f"{type(exc).__name__}: {exc}" if not isinstance(exc, SourceError) else str(exc)
        if time.monotonic() + delay > until:
            break
        if attempt < attempts:
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
    raise SourceError(f"could not download {url}: {last}")


def _find_device(spec: str, runner: Runner) -> str:
    if spec.startswith(("LABEL=", "UUID=")):
        tag, value = spec.split("=", 1)
        result = runner.run(["blkid", "-o", "device", "-t", f"{tag}={value}"], check=False)
        devices = result.stdout.split()
        if not devices:
            # udev may not have probed a just-attached disk yet
            runner.run(["udevadm", "settle", "--timeout=30"], check=False)
            devices = runner.run(["blkid", "-o", "device", "-t", f"{tag}={value}"], check=False).stdout.split()
        if not devices:
            raise SourceError(f"no device with {tag} {value!r} (blkid found none)")
        return devices[0]
    return spec if spec.startswith("/dev/") else f"/dev/{spec}"


def read_local(path: str, what: str = "the kickstart") -> bytes:
    """A local kickstart: a regular file of at most KICKSTART_MAX_BYTES (never /dev/zero or a FIFO)."""
    try:
        return read_input(path, limit=KICKSTART_MAX_BYTES)
    except InputError as exc:
        raise SourceError(f"cannot read {what} {path}: {exc.reason}") from None


def _read_from_device(device: str, path: str, runner: Runner) -> bytes:
    mnt = tempfile.mkdtemp(prefix="hcinode-ks-")
    try:
        runner.run(["mount", "-o", "ro", device, mnt])
        try:
            return read_input(os.path.join(mnt, path.lstrip("/")), limit=KICKSTART_MAX_BYTES)
        except InputError as exc:
            raise SourceError(f"{path} on {device}: {exc.reason}") from None
        finally:
            runner.run(["umount", mnt], check=False)
    finally:
        os.rmdir(mnt)


def fetch(value: str, runner: Runner, *, mount: bool = True, **http_kw: object) -> tuple[str, KickstartSource]:
    """Read the kickstart text from an inst.ks= value (or a path/URL given to --kickstart).

    mount=False (--validate, which looks at no machine): an hd: or cdrom: source that would need
    a device mounted is a SourceError instead."""
    source = parse_source(value)
    if source.kind == "http":
        data = fetch_http(source.location, **http_kw)  # type: ignore[arg-type]
    elif source.kind == "file":
        data = read_local(source.location)
    else:
        medium = os.path.join(LIVE_MEDIUM, source.path.lstrip("/"))
        if source.kind == "cdrom" and not source.location and os.path.exists(medium):
            data = read_local(medium)
        elif not mount:
            raise SourceError(f"{source.describe()}: --validate mounts no device; copy the file and "
                              "validate that copy (or validate on the install media)")
        elif source.kind == "hd":
            data = _read_from_device(_find_device(source.location, runner), source.path, runner)
        else:
            data = _read_from_device(_find_device(source.location or "sr0", runner), source.path, runner)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError:
        raise SourceError(f"the kickstart from {source.describe()} is not UTF-8 text") from None
