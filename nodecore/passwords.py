"""The one password policy (installer, console, node_setup) and crypt(3) hashing.

Strength is zxcvbn's estimate (score 0-4, Dropbox's model of real guessing: dictionaries, keyboard
patterns, repeats, dates), not character classes: "password1" and "node07node07" mix classes and
are still guessed at once. Messages carry zxcvbn's feedback and never the password.

Hashing: yescrypt (`$y$`, Debian 12's default in /etc/login.defs) through `crypt_r`, the stdlib
`crypt` module (removed in Python 3.13) kept as a maintained PyPI package over the system's
libxcrypt; so the node's own passwd, chpasswd and PAM read what we write. We always hash
ourselves: a plaintext never reaches chpasswd, whose `user:password` lines break on ':' and
newlines, and a hash (whose alphabet has neither) is checked by `hash_problem` before use.
"""

from __future__ import annotations

import re
import secrets

import crypt_r

from nodecore import rules
from nodecore.secrets import stable_salt

MIN_LENGTH = 8
MIN_SCORE = 3  # zxcvbn: 3 = "safely unguessable", resists an offline attack on a slow hash
ZXCVBN_MAX = 72  # zxcvbn's cost grows with length; past this the length alone makes it strong
HASH_PREFIXES = {"$y$": "yescrypt", "$6$": "sha512crypt", "$5$": "sha256crypt", "$2b$": "bcrypt",
                 "$2y$": "bcrypt", "$2a$": "bcrypt", "$gy$": "gost-yescrypt", "$7$": "scrypt",
                 "$1$": "md5crypt"}
WEAK_HASHES = ("md5crypt",)
_HASH_RE = re.compile(r"\$(y|gy|7|6|5|2[aby]|1)\$[./A-Za-z0-9$=,]+")
_YESCRYPT_PARAMS = "j9T"  # libxcrypt's default cost, what `passwd` on Debian 12 writes


def _estimate(plain: str, user_inputs: tuple[str, ...]) -> dict[str, object]:
    from zxcvbn import zxcvbn  # 25-50 ms of import (its dictionaries): only when a password is typed

    result: dict[str, object] = zxcvbn(plain[:ZXCVBN_MAX], user_inputs=list(user_inputs))
    return result


def password_problem(plain: str, user_inputs: tuple[str, ...] = ()) -> str:
    """Why a plaintext password is not acceptable, or "" (never contains the password).

    `user_inputs`: words the password must not lean on (host name, user name).
    """
    if not plain:
        return "the password is empty"
    if rules.control_chars(plain):
        return "the password contains a newline or another control character (type it on one line)"
    if len(plain) < MIN_LENGTH:
        return f"the password is too short (at least {MIN_LENGTH} characters)"
    result = _estimate(plain, user_inputs)
    if int(str(result["score"])) >= MIN_SCORE:
        return ""
    feedback = result["feedback"]
    assert isinstance(feedback, dict)
    advice = [str(feedback.get("warning") or "")] + [str(s) for s in feedback.get("suggestions") or ()]
    advice = [a.rstrip(".") for a in advice if a]
    return "the password is too easy to guess" + (": " + "; ".join(advice) if advice else
                                                  ": use a longer, less common password")


def strength(plain: str, user_inputs: tuple[str, ...] = ()) -> str:
    """"weak", "acceptable" or "strong" (what the console shows while a password is typed)."""
    if password_problem(plain, user_inputs):
        return "weak"
    return "strong" if int(str(_estimate(plain, user_inputs)["score"])) >= 4 else "acceptable"


def hash_scheme(hashed: str) -> str | None:
    for prefix, name in HASH_PREFIXES.items():
        if hashed.startswith(prefix):
            return name
    return None


def hash_problem(hashed: str) -> str:
    """Why a given crypt(3) hash cannot be used, or "" (a ':' or newline would split shadow lines)."""
    if not _HASH_RE.fullmatch(hashed) or hash_scheme(hashed) is None:
        return "is not a crypt(3) hash ($y$, $6$, $5$ or $2b$ followed by salt and hash)"
    return ""


def hash_password(plain: str, salt: str | None = None, account: str = "root") -> str:
    """yescrypt hash of `plain` (the caller has checked it with password_problem). The salt is keyed
    rather than random: the same password of the same account hashes the same on this machine, so a
    re-parsed kickstart gives the same plan and its journal resumes (nodecore.secrets.stable_salt)."""
    if salt is None:
        salt = stable_salt(plain, account)
    hashed = crypt_r.crypt(plain, f"$y${_YESCRYPT_PARAMS}${salt}$")
    if not hashed or not hashed.startswith("$y$"):  # libxcrypt returns "*0"/"*1" on failure
        raise RuntimeError("libxcrypt could not make a yescrypt hash")
    return str(hashed)


def verify_password(plain: str, hashed: str) -> bool:
    """Whether `plain` matches a stored crypt(3) hash (any scheme libxcrypt knows)."""
    if hash_problem(hashed):
        return False
    return secrets.compare_digest(str(crypt_r.crypt(plain, hashed) or ""), hashed)
