"""engine.yaml: where the engine keeps its state and how it serves (written by `hcinode engine init`)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

import yaml

from nodecore.runner import LocalRunner

DEFAULT_DATA_DIR = "/var/lib/hcinode-engine"
CONFIG_FILE = "engine.yaml"
DB_FILE = "engine.db"
CA_CERT, CA_KEY = "ca.crt", "ca.key"
SERVER_CERT, SERVER_KEY = "server.crt", "server.key"
ADMIN_HASH = "admin.hash"  # crypt(3) hash of the admin password, 0600
SESSION_KEY = "session.key"  # HMAC key of the dashboard's session cookie, 0600
DEFAULT_PORT = 8443
ADMIN_USER = "admin"


@dataclass(frozen=True)
class EngineConfig:
    fqdn: str
    ips: tuple[str, ...] = ()
    db_url: str = ""  # "" = the SQLite file engine.db in the data dir
    listen: str = f"0.0.0.0:{DEFAULT_PORT}"
    urls: tuple[str, ...] = ()  # engine URLs put into join strings; default https://FQDN:PORT
    host_cert_days: float = 30.0  # a fraction works (tests use seconds' worth)
    heartbeat_interval: float = 10.0  # seconds; NonResponsive after missed_intervals of them
    missed_intervals: int = 3
    join_rate_per_minute: int = 10
    data_dir: str = field(default=DEFAULT_DATA_DIR, compare=False)

    def path(self, name: str) -> str:
        return os.path.join(self.data_dir, name)

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.path(DB_FILE)}"

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def engine_urls(self) -> tuple[str, ...]:
        return self.urls or (f"https://{self.fqdn}:{self.port}",)

    def with_listen(self, listen: str) -> EngineConfig:
        return replace(self, listen=listen)


def load(data_dir: str) -> EngineConfig:
    path = os.path.join(data_dir, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist: run `hcinode engine init --data-dir {data_dir}` first") \
            from None
    known = {k: v for k, v in data.items() if k in EngineConfig.__dataclass_fields__ and k != "data_dir"}
    for key in ("ips", "urls"):
        if key in known:
            known[key] = tuple(known[key] or ())
    return EngineConfig(data_dir=data_dir, **known)


def save(config: EngineConfig) -> None:
    data = asdict(config)
    data.pop("data_dir")
    data["ips"], data["urls"] = list(config.ips), list(config.urls)
    # 0600: a PostgreSQL URL may carry a password
    write_file(config.path(CONFIG_FILE), yaml.safe_dump(data, sort_keys=False).encode(), 0o600)


def write_file(path: str, data: bytes, mode: int) -> None:
    """Atomically, with `mode` from the first byte, through a private temporary file (LocalRunner's)."""
    LocalRunner().write_file(path, data, mode)
