"""The cluster's shared PKI rules (docs/cluster.md "Trust"): the CA pin, node keys and CSRs, the CSR
check, the token format and the join string. The engine and the agent both use this one copy, so a
pin computed on the node is the pin the engine printed, and a CSR the agent makes is one the engine
accepts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PIN_PREFIX = "sha256:"
PIN_RE = re.compile(r"sha256:[0-9a-f]{64}")
TOKEN_RE = re.compile(r"([a-z0-9]{6})\.([a-z0-9]{32})")
JOIN_PREFIX = "hcinode-join:v1:"
MIN_RSA_BITS = 2048
EC_CURVES = ("secp256r1", "secp384r1")


class PkiError(ValueError):
    """Bad input to one of the rules here: the message names what is wrong (never a secret)."""


def ca_pin(cert_pem: str | bytes) -> str:
    """`sha256:` + hex SHA-256 of the certificate's DER SubjectPublicKeyInfo (as kubeadm's
    --discovery-token-ca-cert-hash): it survives a re-issued CA certificate with the same key."""
    data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    cert = x509.load_pem_x509_certificate(data)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return PIN_PREFIX + hashlib.sha256(spki).hexdigest()


def normalize_pin(pin: str) -> str:
    """A pin in its one spelling (lower-case hex, `sha256:` prefix), or PkiError. Also takes the
    colon-separated upper-case form a kickstart's `ca_fingerprint` may use."""
    value = pin.strip().lower()
    if not value.startswith(PIN_PREFIX):
        value = PIN_PREFIX + value
    if re.fullmatch(r"sha256:([0-9a-f]{2}:){31}[0-9a-f]{2}", value):  # a kickstart's `sha256:AB:CD:...`
        value = value.replace(":", "").replace("sha256", PIN_PREFIX, 1)
    if not PIN_RE.fullmatch(value):
        raise PkiError("the CA pin must be sha256: followed by 64 hex digits")
    return value


def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> str:
    """A PEM CSR for `key` (the engine replaces the subject with the host's UUID)."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "node")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def check_csr(pem: str) -> x509.CertificateSigningRequest:
    """The CSR if it parses, its signature is valid and its key is EC P-256/P-384 or RSA >= 2048 bits."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
    except ValueError as exc:
        raise PkiError("csr is not a PEM certificate signing request") from exc
    key = csr.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in EC_CURVES:
            raise PkiError(f"csr key curve {key.curve.name} is not accepted (use P-256 or P-384)")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise PkiError(f"csr RSA key has {key.key_size} bits (at least {MIN_RSA_BITS})")
    else:
        raise PkiError("csr key type is not accepted (use EC P-256)")
    if not csr.is_signature_valid:
        raise PkiError("csr signature is not valid")
    return csr


def split_token(token: str) -> tuple[str, str]:
    """(id, secret) of a `<id>.<secret>` token, or PkiError that does not echo the token."""
    match = TOKEN_RE.fullmatch(token.strip())
    if not match:
        raise PkiError("the token must be 6 and 32 characters [a-z0-9] joined by a dot (ID.SECRET)")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class JoinString:
    urls: tuple[str, ...]
    ca_pin: str
    token: str
    expires_at: str  # ISO-8601 UTC

    def __repr__(self) -> str:  # the token is a secret: never in a repr, a log line or a traceback
        return f"JoinString(urls={self.urls!r}, ca_pin={self.ca_pin!r}, token=********, expires_at={self.expires_at!r})"

    def encode(self) -> str:
        body = json.dumps({"urls": list(self.urls), "ca_pin": self.ca_pin, "token": self.token,
                           "expires_at": self.expires_at}, separators=(",", ":"))
        return JOIN_PREFIX + base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> JoinString:
        """Parse and check a join string; PkiError names the part that is wrong (never the token)."""
        text = text.strip()
        if not text.startswith(JOIN_PREFIX):
            raise PkiError(f"a join string starts with {JOIN_PREFIX!r} (copy it whole from "
                           "`hcinode engine token create`)")
        payload = text[len(JOIN_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            data = json.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise PkiError("the join string is damaged (not base64url JSON): copy it again") from exc
        if not isinstance(data, dict):
            raise PkiError("the join string is damaged (not a JSON object): copy it again")
        urls = data.get("urls")
        if (not isinstance(urls, list) or not urls
                or not all(isinstance(u, str) and u.startswith("https://") for u in urls)):
            raise PkiError("the join string has no engine URL (https://...)")
        pin, token, expires = data.get("ca_pin"), data.get("token"), data.get("expires_at")
        if not isinstance(pin, str) or not PIN_RE.fullmatch(pin):
            raise PkiError("the join string's ca_pin is not sha256:HEX")
        if not isinstance(token, str):
            raise PkiError("the join string has no token")
        split_token(token)
        if not isinstance(expires, str):
            raise PkiError("the join string has no expires_at")
        return cls(tuple(urls), pin, token, expires)


# --- the node side: certificates it is given, when to renew (agent/) ------------------------------

def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 time (`Z` or an offset); a time without a zone is UTC."""
    when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load_certificate(pem: str | bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise PkiError("not a PEM certificate") from exc


def load_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise PkiError("not an EC private key")
    return key


def _spki(public: object) -> bytes:
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return b""
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_matches_key(cert_pem: str | bytes, key: ec.EllipticCurvePrivateKey) -> bool:
    return _spki(load_certificate(cert_pem).public_key()) == _spki(key.public_key())


def issued_by(cert_pem: str | bytes, ca_pem: str | bytes) -> bool:
    """Whether the CA's (EC) key signed the certificate and its issuer is the CA's subject."""
    cert, ca = load_certificate(cert_pem), load_certificate(ca_pem)
    public = ca.public_key()
    if cert.issuer != ca.subject or not isinstance(public, ec.EllipticCurvePublicKey) \
            or cert.signature_hash_algorithm is None:
        return False
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except Exception:  # noqa: BLE001 - cryptography's InvalidSignature: not this CA's
        return False
    return True


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def not_before(cert: x509.Certificate) -> dt.datetime:
    value = getattr(cert, "not_valid_before_utc", None)  # cryptography >= 42; naive UTC before
    return value if isinstance(value, dt.datetime) else _utc(cert.not_valid_before)


def not_after(cert: x509.Certificate) -> dt.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    return value if isinstance(value, dt.datetime) else _utc(cert.not_valid_after)


def renew_at(cert: x509.Certificate) -> dt.datetime:
    """When the agent renews a certificate: at two thirds of its life."""
    start, end = not_before(cert), not_after(cert)
    return start + (end - start) * 2 / 3
