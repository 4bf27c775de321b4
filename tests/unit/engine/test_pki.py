from __future__ import annotations

import hashlib

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from engine.ca import make_ca
from nodecore import pki


def test_pin_is_sha256_of_the_spki_der() -> None:
    cert_pem, _ = make_ca("engine.test")
    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pki.ca_pin(cert_pem) == "sha256:" + hashlib.sha256(spki).hexdigest()
    assert pki.ca_pin(cert_pem.decode()) == pki.ca_pin(cert_pem)
    assert pki.PIN_RE.match(pki.ca_pin(cert_pem))


def test_normalize_pin() -> None:
    assert pki.normalize_pin("SHA256:" + "AB" * 32) == "sha256:" + "ab" * 32
    assert pki.normalize_pin("ab" * 32) == "sha256:" + "ab" * 32
    with pytest.raises(pki.PkiError):
        pki.normalize_pin("sha256:1234")


def test_token_format() -> None:
    assert pki.split_token("abc123." + "x" * 32) == ("abc123", "x" * 32)
    for bad in ("abc123", "ABC123." + "x" * 32, "abc12." + "x" * 32, "abc123." + "x" * 31, "abc123-" + "x" * 32):
        with pytest.raises(pki.PkiError) as exc:
            pki.split_token(bad)
        assert "x" * 31 not in str(exc.value)  # the message never echoes the token


def test_join_string_round_trip_and_damage() -> None:
    js = pki.JoinString(("https://e:8443",), "sha256:" + "0" * 64, "abc123." + "s" * 32, "2030-01-01T00:00:00Z")
    text = js.encode()
    assert text.startswith("hcinode-join:v1:") and "=" not in text
    assert pki.JoinString.decode(text) == js
    assert "s" * 32 not in repr(js)
    for bad in ("nope", "hcinode-join:v1:!!!", text[:-5], "hcinode-join:v1:" + "e30"):
        with pytest.raises(pki.PkiError) as exc:
            pki.JoinString.decode(bad)
        assert "s" * 32 not in str(exc.value)


def test_csr_checks() -> None:
    key = pki.make_key()
    assert pki.check_csr(pki.make_csr(key, "node1")).subject.rfc4514_string() == "CN=node1"
    with pytest.raises(pki.PkiError, match="not a PEM"):
        pki.check_csr("garbage")
    small = rsa.generate_private_key(65537, 1024)
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
           "n")])).sign(small, hashes.SHA256()))
    with pytest.raises(pki.PkiError, match="1024 bits"):
        pki.check_csr(csr.public_bytes(serialization.Encoding.PEM).decode())
    weird = ec.generate_private_key(ec.SECP256K1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
           "n")])).sign(weird, hashes.SHA256()))
    with pytest.raises(pki.PkiError, match="curve"):
        pki.check_csr(csr.public_bytes(serialization.Encoding.PEM).decode())


def test_csr_with_a_broken_signature_is_refused() -> None:
    pem = pki.make_csr(pki.make_key(), "node1")
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(pki.PkiError, match="signature"):
        pki.check_csr(tampered)
