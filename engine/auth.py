"""The admin credential (crypt hash in the data dir), the dashboard's signed session cookie, and the
per-address rate limiter for join attempts and failed logins."""

from __future__ import annotations

import collections
import hmac
import os
import threading
import time

from engine.config import ADMIN_HASH, SESSION_KEY, EngineConfig, write_file
from nodecore import passwords
from nodecore.secrets import Secret

SESSION_COOKIE = "hcinode_session"
SESSION_SECONDS = 8 * 3600


def password_policy_problem(password: str) -> str:
    """The node's password policy (one rule set for every admin password); "" when it passes."""
    if password.startswith("$"):
        return "the admin password must be typed in plain text (it is hashed here)"
    return passwords.password_problem(password)


def store_admin_password(config: EngineConfig, password: Secret) -> None:
    store_admin_hash(config, passwords.hash_password(password.reveal(), account="admin"))


def store_admin_hash(config: EngineConfig, hashed: str) -> None:
    """A crypt(3) hash (yescrypt, SHA-512 ...; the caller checked it with passwords.hash_problem)."""
    write_file(config.path(ADMIN_HASH), (hashed + "\n").encode(), 0o600)


class Admin:
    """Checks the admin credential; the hash is read once (serve restarts after a password change)."""

    def __init__(self, config: EngineConfig) -> None:
        with open(config.path(ADMIN_HASH), encoding="utf-8") as f:
            self._hash = f.read().strip()
        self._key = load_or_make_key(config.path(SESSION_KEY))

    def check(self, user: str, password: str) -> bool:
        good_user = hmac.compare_digest(user.encode(), b"admin")
        good_password = passwords.verify_password(password, self._hash)
        return good_user and good_password

    def new_session(self, now: float | None = None) -> str:
        expires = int((now or time.time()) + SESSION_SECONDS)
        return f"{expires}.{self._sign(str(expires))}"

    def session_valid(self, cookie: str, now: float | None = None) -> bool:
        expires, _, mac = cookie.partition(".")
        if not expires.isdigit() or not hmac.compare_digest(mac.encode(), self._sign(expires).encode()):
            return False
        return int(expires) > (now or time.time())

    def _sign(self, value: str) -> str:
        return hmac.new(self._key, f"session\0{value}".encode(), "sha256").hexdigest()


def load_or_make_key(path: str) -> bytes:
    if not os.path.exists(path):
        write_file(path, os.urandom(32), 0o600)
    with open(path, "rb") as f:
        return f.read()


class RateLimiter:
    """At most `limit` attempts per client address in any `window` seconds (sliding window)."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit, self.window = limit, window
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(address, collections.deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            if len(self._hits) > 10000:  # bounded memory under a flood from many addresses
                for key in [k for k, v in self._hits.items() if not v]:
                    del self._hits[key]
            return True
