"""The engine's CA: made once by `init`, signs the server certificate and every host's certificate."""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nodecore import pki

CA_DAYS = 3650
SERVER_DAYS = 365
BACKDATE = dt.timedelta(minutes=5)  # a node whose clock is a little behind still accepts the certificate


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Issued:
    pem: str
    serial: str  # hex, as stored on the host row
    expires_at: dt.datetime


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def make_ca(common_name: str) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) of a new EC P-256 CA valid for 10 years."""
    key = pki.make_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hcinode engine CA {common_name}"[:64])])
    now = utcnow()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM), pki.key_pem(key)


def ca_problem(cert_pem: bytes, key_pem: bytes) -> tuple[str, str]:
    """("--ca-cert" | "--ca-key", why) when a CA made elsewhere cannot serve, or ("", "").

    It must be a CA certificate (basic constraints CA:TRUE), valid now, with an EC key (what
    CA.__init__ loads) that is the certificate's. Messages never quote the key."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return "--ca-cert", "is not a PEM certificate"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        return "--ca-cert", "is not a CA certificate (basic constraints CA:TRUE missing)"
    now = utcnow()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        return "--ca-cert", (f"is not valid now (valid {cert.not_valid_before_utc:%Y-%m-%d} to "
                             f"{cert.not_valid_after_utc:%Y-%m-%d})")
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        return "--ca-key", "is not an unencrypted PEM private key"
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return "--ca-key", "is not an EC key (the engine signs with ECDSA P-256)"
    if key.public_key().public_bytes(*_SPKI) != cert.public_key().public_bytes(*_SPKI):
        return "--ca-key", "is not the key of the CA certificate"
    return "", ""


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


class CA:
    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert_pem = cert_pem
        self.cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        self._key = key

    @classmethod
    def load(cls, cert_path: str, key_path: str) -> CA:
        with open(cert_path, "rb") as c, open(key_path, "rb") as k:
            return cls(c.read(), k.read())

    @property
    def pin(self) -> str:
        return pki.ca_pin(self.cert_pem)

    def _builder(self, subject: x509.Name, public_key: object, lifetime: dt.timedelta) -> x509.CertificateBuilder:
        now = utcnow()
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                .public_key(public_key)  # type: ignore[arg-type]
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - BACKDATE).not_valid_after(now + lifetime)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                               critical=False))

    def _issue(self, builder: x509.CertificateBuilder) -> Issued:
        cert = builder.sign(self._key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM).decode(), serial_hex(cert),
                      cert.not_valid_after_utc)

    def server_cert(self, fqdn: str, ips: tuple[str, ...]) -> tuple[bytes, bytes]:
        """(certificate PEM, key PEM) for the engine's names: the FQDN and every IP address."""
        key = pki.make_key()
        names: list[x509.GeneralName] = [x509.DNSName(fqdn)]
        names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        builder = (self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, fqdn[:64])]),
                                 key.public_key(), dt.timedelta(days=SERVER_DAYS))
                   .add_extension(x509.SubjectAlternativeName(names), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        return self._issue(builder).pem.encode(), pki.key_pem(key)

    def host_cert(self, csr: x509.CertificateSigningRequest, host_id: str, days: float) -> Issued:
        """A client certificate for the CSR's key; the subject is the engine's choice: CN = host UUID."""
        builder = (self._builder(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_id)]),
                                 csr.public_key(), dt.timedelta(days=days))
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        return self._issue(builder)


@functools.lru_cache(maxsize=8192)  # every heartbeat presents one of the fleet's certificates: parse each once
def cert_identity(pem_or_der: bytes) -> tuple[str, str]:
    """(CN, serial hex) of a client certificate the TLS layer already verified against the CA."""
    cert = (x509.load_pem_x509_certificate(pem_or_der) if pem_or_der.startswith(b"-----")
            else x509.load_der_x509_certificate(pem_or_der))
    cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = cns[0].value if cns else ""
    return (cn if isinstance(cn, str) else cn.decode()), serial_hex(cert)
