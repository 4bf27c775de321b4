"""The cluster's shared trust helpers (docs/cluster.md "Trust"): one implementation for engine and agent.

- CA pin: `sha256:` + hex SHA-256 of the CA certificate's DER SubjectPublicKeyInfo (kubeadm's
  `--discovery-token-ca-cert-hash`). `normalize_pin` also takes the colon-separated upper-case form
  a kickstart's `ca_fingerprint` may use.
- Token: `<id>.<secret>`, id 6 and secret 32 characters of `[a-z0-9]`.
- Join string: `hcinode-join:v1:` + base64url (no padding) of compact JSON
  `{"urls", "ca_pin", "token", "expires_at"}`.
- Keys and CSRs: EC P-256; a private key is PEM (PKCS#8, unencrypted: it lives 0600 on its machine).

Errors are ValueError with a message that names what is wrong and never contains a token.
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
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from nodecore.secrets import Secret

PIN_PREFIX = "sha256:"
JOIN_PREFIX = "hcinode-join:v1:"
TOKEN_ID_LENGTH = 6
TOKEN_SECRET_LENGTH = 32
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{32})$")
_PIN_RE = re.compile(r"^(?:sha256:)?((?:[0-9a-f]{2}:?){31}[0-9a-f]{2})$")


# --- CA pin ---------------------------------------------------------------------------------------

def _load_cert(pem: str | bytes) -> x509.Certificate:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate ({exc})") from None


def load_certificate(pem: str | bytes) -> x509.Certificate:
    return _load_cert(pem)


def ca_pin(ca_pem: str | bytes) -> str:
    """The pin of a CA certificate (PEM): sha256 over its DER SubjectPublicKeyInfo."""
    spki = _load_cert(ca_pem).public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return PIN_PREFIX + hashlib.sha256(spki).hexdigest()


def normalize_pin(text: str) -> str:
    """`sha256:` + 64 lower-case hex digits, from that form or `sha256:AB:CD:...`/bare hex."""
    found = _PIN_RE.match(text.strip().lower())
    if not found:
        raise ValueError("a CA pin is sha256: followed by 64 hex digits (as `hcinode engine token create` prints)")
    return PIN_PREFIX + found.group(1).replace(":", "")


# --- tokens ---------------------------------------------------------------------------------------

def check_token(token: str) -> str:
    """'' when `token` has the token form, else what is wrong (without the value)."""
    if TOKEN_RE.match(token):
        return ""
    return (f"a join token is <id>.<secret>: {TOKEN_ID_LENGTH} and {TOKEN_SECRET_LENGTH} characters of a-z "
            "and 0-9 (make one with `hcinode engine token create`)")


def token_id(token: str) -> str:
    """The public part of a token (what logs and the engine's records may name)."""
    return token.split(".", 1)[0]


# --- join string ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class JoinInfo:
    urls: tuple[str, ...]
    ca_pin: str
    token: Secret
    expires_at: str = ""  # ISO-8601 UTC; "" when not known (the parts were given one by one)

    def expired(self, now: dt.datetime | None = None) -> bool:
        if not self.expires_at:
            return False
        return parse_time(self.expires_at) <= (now or dt.datetime.now(dt.UTC))


def parse_time(text: str) -> dt.datetime:
    """An ISO-8601 time; a time without a zone is UTC."""
    when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def format_time(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def encode_join(info: JoinInfo) -> str:
    body = {"urls": list(info.urls), "ca_pin": info.ca_pin, "token": info.token.reveal(),
            "expires_at": info.expires_at}
    raw = json.dumps(body, separators=(",", ":")).encode()
    return JOIN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_join(text: str) -> JoinInfo:
    """The parts of a join string; ValueError naming the first problem (never the token)."""
    text = text.strip()
    if not text.startswith(JOIN_PREFIX):
        raise ValueError(f"a join string starts with {JOIN_PREFIX} (copy the whole line that "
                         "`hcinode engine token create` printed)")
    payload = text[len(JOIN_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ValueError("the join string is damaged (not base64url JSON): copy it again, whole") from None
    if not isinstance(body, dict):
        raise ValueError("the join string is damaged (not a JSON object): copy it again, whole")
    urls = body.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) and u for u in urls):
        raise ValueError("the join string has no engine URL (\"urls\")")
    for key in ("ca_pin", "token", "expires_at"):
        if not isinstance(body.get(key), str):
            raise ValueError(f"the join string has no {key!r}")
    token = Secret(body["token"])
    problem = check_token(token.reveal())
    if problem:
        raise ValueError(f"the join string's token is malformed: {problem}")
    pin = normalize_pin(body["ca_pin"])
    try:
        if body["expires_at"]:
            parse_time(body["expires_at"])
    except ValueError:
        raise ValueError("the join string's expires_at is not an ISO-8601 time") from None
    return JoinInfo(tuple(urls), pin, token, body["expires_at"])


# --- keys, CSRs, certificates ---------------------------------------------------------------------

def make_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def load_key(pem: str | bytes) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("not an EC private key")
    return key


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str) -> str:
    """A CSR (PEM) for `key`; the CA replaces the subject, so the name only helps a human reading it."""
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64] or "node")]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_csr(pem: str | bytes) -> x509.CertificateSigningRequest:
    """A CSR whose signature checks out; ValueError otherwise."""
    try:
        csr = x509.load_pem_x509_csr(pem.encode() if isinstance(pem, str) else pem)
    except ValueError as exc:
        raise ValueError(f"not a PEM certificate request ({exc})") from None
    if not csr.is_signature_valid:
        raise ValueError("the certificate request's signature does not match its key")
    return csr


def _spki(public: ec.EllipticCurvePublicKey | object) -> bytes:
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return b""
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def cert_matches_key(cert_pem: str | bytes, key: ec.EllipticCurvePrivateKey) -> bool:
    return _spki(_load_cert(cert_pem).public_key()) == _spki(key.public_key())


def _utc(when: dt.datetime) -> dt.datetime:
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def not_before(cert: x509.Certificate) -> dt.datetime:
    value = getattr(cert, "not_valid_before_utc", None)  # cryptography >= 42; naive UTC before
    return value if isinstance(value, dt.datetime) else _utc(cert.not_valid_before)


def not_after(cert: x509.Certificate) -> dt.datetime:
    value = getattr(cert, "not_valid_after_utc", None)
    return value if isinstance(value, dt.datetime) else _utc(cert.not_valid_after)


def issued_by(cert_pem: str | bytes, ca_pem: str | bytes) -> bool:
    """Whether the CA's key signed the certificate (and the issuer name is the CA's subject)."""
    cert, ca = _load_cert(cert_pem), _load_cert(ca_pem)
    if cert.issuer != ca.subject:
        return False
    public = ca.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or cert.signature_hash_algorithm is None:
        return False
    try:
        public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    except Exception:  # noqa: BLE001 - cryptography's InvalidSignature: not this CA's
        return False
    return True


def renew_at(cert: x509.Certificate) -> dt.datetime:
    """When a certificate is renewed: at two thirds of its life."""
    start, end = not_before(cert), not_after(cert)
    return start + (end - start) * 2 / 3
