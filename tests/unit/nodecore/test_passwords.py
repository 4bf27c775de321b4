"""The one password policy (zxcvbn) and yescrypt hashing through crypt_r."""

from __future__ import annotations

import pytest

from nodecore import passwords


@pytest.mark.parametrize("pw", ["password1", "node07node07", "Password1!", "qwertyuiop", "aaaaaaaaaa"])
def test_guessable_passwords_are_refused_without_echo(pw: str) -> None:
    problem = passwords.password_problem(pw)
    assert "too easy to guess" in problem and pw not in problem
    assert passwords.strength(pw) == "weak"


@pytest.mark.parametrize("pw", ["Corr3ct-horse", "correct horse battery staple", "Corr3ct:horse:battery"])
def test_strong_passwords_pass(pw: str) -> None:
    assert passwords.password_problem(pw) == ""
    assert passwords.strength(pw) in ("acceptable", "strong")


@pytest.mark.parametrize("pw", ["Corr3ct-horse\n", "Corr3ct\rhorse", "Corr3ct\x1bhorse", "Corr3ct\thorse"])
def test_control_characters_are_refused_with_a_clear_message(pw: str) -> None:
    assert "control character" in passwords.password_problem(pw)


def test_short_and_empty() -> None:
    assert "too short" in passwords.password_problem("Ab1!x")
    assert "empty" in passwords.password_problem("")


def test_yescrypt_hash_verifies_and_takes_a_colon() -> None:
    hashed = passwords.hash_password("pa:ss word\u00e9")
    assert hashed.startswith("$y$j9T$") and ":" not in hashed and "\n" not in hashed
    assert passwords.hash_problem(hashed) == ""
    assert passwords.verify_password("pa:ss word\u00e9", hashed)
    assert not passwords.verify_password("pa:ss", hashed)
    assert passwords.hash_password("x", salt="abcdefgh") == passwords.hash_password("x", salt="abcdefgh")


def test_existing_sha512_hashes_still_verify() -> None:
    # what older installs and `openssl passwd -6` wrote
    hashed = "$6$rounds=5000$hcinodetestsalt$"
    assert passwords.hash_problem(hashed) == ""


@pytest.mark.parametrize("bad", ["$6$salt$abc\n", "$6$salt$abc:0:", "plain", "$9$x$y", "$6$salt$a b"])
def test_hash_problem_uses_a_full_match(bad: str) -> None:
    assert passwords.hash_problem(bad)


def test_no_stdlib_crypt_anywhere() -> None:
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parents[3]
    offenders = [str(p) for pkg in ("nodecore", "installer", "node_setup", "tui", "gluster_setup", "image_recipes")
                 for p in (root / pkg).rglob("*.py") if re.search(r"^\s*import crypt\b", p.read_text(), re.M)]
    assert offenders == []
