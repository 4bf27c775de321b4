"""The node-side parts of nodecore.pki: the pin (also in a kickstart's colon form), the join string
round trip, and the certificate helpers the agent needs (match, issuer, renewal time)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from nodecore import pki
from tests.unit.agent.fake_engine import CA, TOKEN


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
    for bad in ("sha256:abc", "md5:" + hexpin, "", "sha256:" + "zz" * 32, "sha256:" + ":".join(["AB"] * 31)):
        with pytest.raises(pki.PkiError, match="64 hex digits"):
            pki.normalize_pin(bad)


def test_join_string_round_trip() -> None:
    info = pki.JoinString(("https://e1:8443", "https://192.0.2.5:8443"), "sha256:" + "cd" * 32, TOKEN,
                          "2026-11-22T05:30:00Z")
    text = info.encode()
    assert text.startswith("hcinode-join:v1:") and "=" not in text
    assert pki.JoinString.decode(text) == info
    assert TOKEN not in repr(info)


def test_key_csr_and_certificate_helpers() -> None:
    ca = CA.make()
    key = pki.make_key()
    csr = pki.check_csr(pki.make_csr(key, "node01.example"))
    cert = ca.issue(csr.public_key(), "host-uuid", seconds=3000)
    assert pki.cert_matches_key(cert, key) and not pki.cert_matches_key(cert, pki.make_key())
    assert pki.issued_by(cert, ca.pem) and not pki.issued_by(cert, CA.make().pem)
    parsed = pki.load_certificate(cert)
    assert (pki.renew_at(parsed) - pki.not_before(parsed)).total_seconds() == pytest.approx(2000, abs=1)
    assert pki.load_key(pki.key_pem(key)).private_numbers() == key.private_numbers()


def test_times_are_utc() -> None:
    assert pki.format_time(pki.parse_time("2026-11-22T05:30:00")) == "2026-11-22T05:30:00Z"
    assert pki.format_time(pki.parse_time("2026-11-22T06:30:00+01:00")) == "2026-11-22T05:30:00Z"
