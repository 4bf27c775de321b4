"""The shared trust helpers: pin, token form, join string, keys and CSRs (docs/cluster.md "Trust")."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import serialization

from nodecore import pki
from nodecore.secrets import Secret, redact
from tests.unit.agent.fake_engine import CA

TOKEN = "abc123.0123456789abcdefghijklmnopqrstuv"


def test_pin_is_sha256_of_the_spki_der() -> None:
    ca = CA.make()
    spki = ca.cert.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pki.ca_pin(ca.pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert pki.ca_pin(ca.pem) != pki.ca_pin(CA.make().pem)


def test_normalize_pin_takes_the_kickstart_colon_form() -> None:
    hexpin = "ab" * 32
    colons = "sha256:" + ":".join(["AB"] * 32)
    assert pki.normalize_pin(colons) == pki.normalize_pin(hexpin) == "sha256:" + hexpin
    for bad in ("sha256:abc", "md5:" + hexpin, "", "sha256:" + "zz" * 32):
        with pytest.raises(ValueError, match="64 hex digits"):
            pki.normalize_pin(bad)


def test_token_form() -> None:
    assert pki.check_token(TOKEN) == ""
    for bad in ("abc123", "ABC123.0123456789abcdefghijklmnopqrstuv", "abc12.0123456789abcdefghijklmnopqrstuv",
                "abc123.short", "tok-9f2c4e1d7a"):
        problem = pki.check_token(bad)
        assert "6 and 32 characters" in problem and bad not in problem


def test_join_string_round_trip() -> None:
    info = pki.JoinInfo(("https://e1:8443", "https://192.0.2.5:8443"), "sha256:" + "cd" * 32, Secret(TOKEN),
                        "2026-11-22T05:30:00Z")
    text = pki.encode_join(info)
    assert text.startswith("hcinode-join:v1:") and "=" not in text
    back = pki.decode_join(text)
    assert back == info and back.token.reveal() == TOKEN


def _encoded(body: object) -> str:
    return "hcinode-join:v1:" + base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


GOOD = {"urls": ["https://e1"], "ca_pin": "sha256:" + "cd" * 32, "token": TOKEN, "expires_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(("text", "message"), [
    ("", "starts with hcinode-join:v1:"),
    ("hcinode-join:v2:abc", "starts with hcinode-join:v1:"),
    ("hcinode-join:v1:!!!not-base64", "damaged"),
    ("hcinode-join:v1:" + base64.urlsafe_b64encode(b"[1]").decode(), "not a JSON object"),
    (_encoded({**GOOD, "urls": []}), "no engine URL"),
    (_encoded({k: v for k, v in GOOD.items() if k != "ca_pin"}), "no 'ca_pin'"),
    (_encoded({**GOOD, "token": "abc123.SHORT-and-wrong"}), "token is malformed"),
    (_encoded({**GOOD, "ca_pin": "sha256:1234"}), "64 hex digits"),
    (_encoded({**GOOD, "expires_at": "tomorrow"}), "not an ISO-8601 time"),
])
def test_join_string_errors_name_the_problem_never_the_token(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        pki.decode_join(text)
    assert "SHORT-and-wrong" not in str(err.value) and TOKEN not in str(err.value)


def test_tampered_join_string_is_damaged_not_a_crash() -> None:
    text = pki.encode_join(pki.JoinInfo(("https://e1",), "sha256:" + "cd" * 32, Secret(TOKEN), ""))
    with pytest.raises(ValueError):
        pki.decode_join(text[:-7] + "@@@@@@@")


def test_key_csr_and_certificate_helpers() -> None:
    ca = CA.make()
    key = pki.make_key()
    csr = pki.load_csr(pki.make_csr(key, "node01.example"))
    cert = ca.issue(csr.public_key(), "host-uuid", seconds=3000)
    assert pki.cert_matches_key(cert, key) and not pki.cert_matches_key(cert, pki.make_key())
    assert pki.issued_by(cert, ca.pem) and not pki.issued_by(cert, CA.make().pem)
    parsed = pki.load_certificate(cert)
    assert (pki.renew_at(parsed) - pki.not_before(parsed)).total_seconds() == pytest.approx(2000, abs=1)
    assert pki.load_key(pki.key_pem(key)).private_numbers() == key.private_numbers()


def test_a_decoded_token_is_masked_in_logs() -> None:
    info = pki.decode_join(_encoded({**GOOD, "token": "zzz999.zyxwvutsrqponmlkjihgfedcba987654"}))
    assert "zyxwvutsrqponmlkjihgfedcba987654" not in redact(f"joining with {info.token.reveal()}")
