"""A minimal node side for the engine's tests and bench: join with nodecore.pki, then mutual TLS.
(The real agent is agent/; this only speaks the contract of docs/cluster.md.)"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import requests

from nodecore import pki


@dataclass
class Node:
    url: str
    ca_file: str
    key_file: str
    cert_file: str
    host_id: str
    name: str

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace our CA
        s.verify, s.cert = self.ca_file, (self.cert_file, self.key_file)
        return s

    def heartbeat(self, body: dict[str, Any] | None = None, session: requests.Session | None = None
                  ) -> requests.Response:
        return (session or self.session()).post(f"{self.url}/api/v1/agent/heartbeat",
                                                json=body or {"agent_version": "test"}, timeout=30)

    def renew(self) -> requests.Response:
        key = pki.make_key()
        r = self.session().post(f"{self.url}/api/v1/agent/renew", json={"csr": pki.make_csr(key, self.name)},
                                timeout=30)
        if r.status_code == 200:
            _write(self.key_file, pki.key_pem(key), 0o600)
            _write(self.cert_file, r.json()["certificate"].encode(), 0o644)
        return r


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def join(url: str, ca_pem: str, token: str, name: str, state_dir: str, replace: bool = False,
         address: str = "127.0.0.1") -> tuple[requests.Response, Node | None]:
    os.makedirs(state_dir, exist_ok=True)
    ca_file = os.path.join(state_dir, "ca.crt")
    _write(ca_file, ca_pem.encode(), 0o644)
    key = pki.make_key()
    s = requests.Session()
    s.trust_env = False
    r = s.post(f"{url}/api/v1/join", verify=ca_file, timeout=30,
                      json={"token": token, "csr": pki.make_csr(key, name), "name": name, "address": address,
                            "facts": {"cpus": 2}, "replace": replace})
    if r.status_code != 201:
        return r, None
    key_file, cert_file = os.path.join(state_dir, "node.key"), os.path.join(state_dir, "node.crt")
    _write(key_file, pki.key_pem(key), 0o600)
    _write(cert_file, r.json()["certificate"].encode(), 0o644)
    return r, Node(url, ca_file, key_file, cert_file, r.json()["host_id"], name)
