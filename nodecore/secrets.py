"""Secrets that must never reach logs, plans, journals, errors or the process list.

A `Secret` wraps the value so that every accidental str()/repr()/json of it prints a mask.
Code that really needs the value calls `.reveal()`; the runner only ever sends it on stdin.
Every revealed value is also registered so `redact()` can scrub it out of captured
output (a tool may echo a password back in an error message); `redact()` also masks the
password and query values of any URL in the text (`http://user:pass@host/ks.cfg?token=...`).

Step ids and password salts must follow a secret without exposing it: `fingerprint()` and
`stable_salt()` are HMACs under a random key kept 0600 in the state dir (one per machine, or per
boot of the live installer, whose state dir is in RAM). So the same plan with the same secret
gets the same ids (a re-run resumes), a changed secret gets new ones (a new password is never
skipped as done), and an id printed with a plan cannot be used to guess the secret offline.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "********"
KEY_FILE = "secret.key"  # in nodecore.paths.state_dir()

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        object.__setattr__(self, "_value", value)
        if len(value) >= 3:  # masking 1-2 character strings would mangle every log line
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        return str(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def fingerprint(self) -> str:
        """What a step id hashes instead of the value: changes with it, reveals nothing."""
        return "hmac:" + fingerprint(self._value, "step-id")[:32]


def redact(text: str) -> str:
    """Replace every known secret value in `text` with the mask."""
    with _lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    if "://" in text:
        text = _URL.sub(lambda m: mask_url(m.group(0)), text)
    return text


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def _url_secrets(url: str) -> tuple[str, str, list[tuple[str, str]]] | None:
    """(userinfo, host part, query items as (key, value)) of a URL that carries any; None if none."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    userinfo, _, host = parts.netloc.rpartition("@")
    if not userinfo and not parts.query:
        return None
    items = [(k, v) for k, _, v in (item.partition("=") for item in parts.query.split("&") if item)]
    return userinfo, host, items


def mask_url(url: str) -> str:
    """The URL with its password (or a bare token as user name) and every query value masked: the
    form that output, plans, logs and /etc/hcinode/installed may show."""
    found = _url_secrets(url)
    if found is None:
        return url
    userinfo, host, items = found
    parts = urlsplit(url)
    if userinfo:
        user, colon, _ = userinfo.partition(":")
        host = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    query = "&".join(f"{k}={MASK}" if v else MASK for k, v in items)
    return urlunsplit((parts.scheme, host, parts.path, query, parts.fragment))


def register_url(url: str) -> str:
    """Register a URL's credentials as secrets, so redact() also scrubs them where a tool prints
    only a part of the URL (requests: "... with url: /ks.cfg?token=..."); returns mask_url(url)."""
    found = _url_secrets(url)
    if found is not None:
        userinfo, _, items = found
        user, colon, password = userinfo.partition(":")
        for value in [password if colon else user, *(v or k for k, v in items)]:
            if value:
                Secret(value)
    return mask_url(url)


_key: bytes | None = None


def _machine_key() -> bytes:
    """The HMAC key: created once (32 random bytes, 0600) in the state dir and read back after.
    Where it cannot be kept, a key for this process only (ids then stay stable within one run)."""
    global _key
    with _lock:
        if _key is None:
            _key = _read_or_create_key()
        return _key


def _read_or_create_key() -> bytes:
    from nodecore.paths import state_dir

    try:
        os.makedirs(state_dir(), mode=0o700, exist_ok=True)
        path = os.path.join(state_dir(), KEY_FILE)
        tmp = f"{path}.{os.getpid()}.tmp"
        if not os.path.exists(path):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                os.write(fd, os.urandom(32))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)  # atomic: a concurrent first run keeps the key that won
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
            key = os.read(fd, 64)
        finally:
            os.close(fd)
        if len(key) >= 32:
            return key
    except OSError:
        pass
    return os.urandom(32)


def fingerprint(value: str, purpose: str) -> str:
    """HMAC-SHA256 (hex) of `value` under the machine key, separated by purpose."""
    return hmac.new(_machine_key(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()


_SALT_ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def stable_salt(value: str, account: str = "", length: int = 16) -> str:
    """A crypt(3) salt that is the same for the same password and account on this machine (so a
    re-parsed plaintext kickstart gives the same hash, the same plan and resumes), different for
    another account or machine, and unpredictable without the key."""
    digest = hmac.new(_machine_key(), f"crypt-salt\0{account}\0{value}".encode(), hashlib.sha512).digest()
    return "".join(_SALT_ALPHABET[b % 64] for b in digest[:length])
