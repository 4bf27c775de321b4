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

import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from nodecore.runner import Runner
from nodecore.secrets import mask_url, redact, register_url

log = logging.getLogger("hcinode.installer.sources")

LIVE_MEDIUM = "/run/live/medium"


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


def fetch_http(url: str, *, attempts: int = 6, backoff: float = 1.0, timeout: float = 15.0,
               sleep: Callable[[float], None] = time.sleep) -> bytes:
    """GET with retries: the network may still be coming up when the installer starts."""
    import requests

    delay = backoff
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            response = requests.get(url, timeout=timeout)
            if response.status_code == 200:
                return response.content
            last = f"HTTP {response.status_code}"
            if 400 <= response.status_code < 500 and response.status_code not in (404, 408, 429):
                break  # the server says no; retrying will not change that
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}: {exc}"
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


def download(url: str, dest: str, *, attempts: int = 6, backoff: float = 1.0) -> None:
    """Stream a (large) file to dest with the same retries; written beside and renamed when complete."""
    import requests

    register_url(url)

    delay = backoff
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            with requests.get(url, stream=True, timeout=30) as response:
                if response.status_code == 200:
                    tmp = dest + ".part"
                    with open(tmp, "wb") as f:
                        for chunk in response.iter_content(4 * 1024 * 1024):
                            f.write(chunk)
                    os.replace(tmp, dest)
                    return
                last = f"HTTP {response.status_code}"
        except (requests.RequestException, OSError) as exc:
            last = f"{type(exc).__name__}: {exc}"
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


def _read_from_device(device: str, path: str, runner: Runner) -> bytes:
    mnt = tempfile.mkdtemp(prefix="hcinode-ks-")
    try:
        runner.run(["mount", "-o", "ro", device, mnt])
        try:
            with open(os.path.join(mnt, path.lstrip("/")), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise SourceError(f"{path} not found on {device}") from None
        finally:
            runner.run(["umount", mnt], check=False)
    finally:
        os.rmdir(mnt)


def fetch(value: str, runner: Runner, **http_kw: object) -> tuple[str, KickstartSource]:
    """Read the kickstart text from an inst.ks= value (or a path/URL given to --kickstart)."""
    source = parse_source(value)
    if source.kind == "http":
        data = fetch_http(source.location, **http_kw)  # type: ignore[arg-type]
    elif source.kind == "file":
        try:
            with open(source.location, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise SourceError(f"cannot read the kickstart {source.location}: {exc.strerror}") from None
    elif source.kind == "hd":
        data = _read_from_device(_find_device(source.location, runner), source.path, runner)
    else:
        medium = os.path.join(LIVE_MEDIUM, source.path.lstrip("/"))
        if not source.location and os.path.exists(medium):
            with open(medium, "rb") as f:
                data = f.read()
        else:
            data = _read_from_device(_find_device(source.location or "sr0", runner), source.path, runner)
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError:
        raise SourceError(f"the kickstart from {source.describe()} is not UTF-8 text") from None
