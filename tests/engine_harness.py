"""Real engines for the integration tests and the bench: a PostgreSQL 15 server in a temporary
directory (initdb/pg_ctl as the postgres user), and `hcinode engine serve` over TLS on loopback."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests
import yaml

PG_BIN = "/usr/lib/postgresql/15/bin"
PASSWORD = "Adm1n-pass-word"
HCINODE = os.path.join(os.path.dirname(sys.executable), "hcinode")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres(durable: bool = False) -> Iterator[str]:
    """A fresh PostgreSQL 15 cluster on a Unix socket in a temp dir; yields a SQLAlchemy URL prefix
    (append a database name). The tests run it with fsync off (fast); `durable` keeps PostgreSQL's
    default (fsync on, as in the engine appliance): the bench measures that."""
    root = tempfile.mkdtemp(prefix="hcinode-pg-")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    shutil.chown(root, "postgres", "postgres")
    # initdb and postgres need a writable /dev/null; some machines have it 0600, so each run gets a
    # private mount namespace with its own 0666 null device bound over it (the host's stays as it is)
    null = os.path.join(root, "null")
    if not os.stat("/dev/null").st_mode & 0o002:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        os.chmod(null, 0o666)
    wrap = (f"mount --bind {null} /dev/null && " if os.path.exists(null) else "") + 'exec runuser -u postgres -- "$@"'
    as_pg = ["unshare", "-m", "--propagation", "private", "sh", "-c", wrap, "pg"]
    try:
        subprocess.run([*as_pg, f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run([*as_pg, f"{PG_BIN}/pg_ctl", "-D", data, "-w", "-l", os.path.join(root, "log"), "-o",
                        f"-k {root} -c listen_addresses='' -c fsync={'on' if durable else 'off'} "
                        "-c max_connections=200", "start"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://postgres@/{{db}}?host={root}"
    finally:
        subprocess.run([*as_pg, f"{PG_BIN}/pg_ctl", "-D", data, "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def create_db(url_template: str, name: str) -> str:
    import psycopg

    host = url_template.split("host=")[1]
    with psycopg.connect(host=host, user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url_template.format(db=name)


def init_engine(data_dir: str, db_url: str = "", address: str = "127.0.0.1", **settings: object) -> str:
    """`hcinode engine init` in data_dir (listening on a free port of `address`, loopback by default),
    then engine.yaml settings."""
    pw = os.path.join(os.path.dirname(data_dir), "admin-password")
    with open(pw, "w") as f:
        f.write(PASSWORD + "\n")
    port = free_port()
    argv = [HCINODE, "--log-file", os.path.join(os.path.dirname(data_dir), "cli.log"), "engine", "init",
            "--data-dir", data_dir, "--fqdn", "engine.test", "--ip", address, "--listen", f"{address}:{port}",
            "--admin-password-file", pw]
    if db_url:
        argv += ["--db", db_url]
    subprocess.run(argv, check=True, capture_output=True)
    path = os.path.join(data_dir, "engine.yaml")
    with open(path) as f:
        config = yaml.safe_load(f)
    config.update(settings, urls=[f"https://{address}:{port}"])
    with open(path, "w") as f:
        yaml.safe_dump(config, f)
    return f"https://{address}:{port}"


class Served:
    def __init__(self, data_dir: str, url: str) -> None:
        self.data_dir, self.url = data_dir, url
        self.ca_file = os.path.join(data_dir, "ca.crt")
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = os.path.join(os.path.dirname(data_dir), "serve.log")

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 (the child keeps it)
        self.proc = subprocess.Popen([HCINODE, "--log-file", self.log + ".hcinode", "engine", "serve", "--data-dir",
                                      self.data_dir], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.get("/health").status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None:
                with open(self.log) as f:
                    raise RuntimeError(f"engine serve exited: {f.read()[-2000:]}")
            time.sleep(0.2)
        raise RuntimeError("engine did not become healthy in 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def session(self) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        s.verify = self.ca_file
        return s

    def get(self, path: str, admin: bool = False) -> requests.Response:
        return self.session().get(self.url + path, auth=("admin", PASSWORD) if admin else None, timeout=30)

    def post(self, path: str, json: object = None, admin: bool = False) -> requests.Response:
        return self.session().post(self.url + path, json=json, auth=("admin", PASSWORD) if admin else None,
                                   timeout=30)

    def token(self, uses: int = 1) -> str:
        r = self.post("/api/v1/tokens", {"ttl_seconds": 3600, "uses": uses}, admin=True)
        r.raise_for_status()
        return str(r.json()["token"])

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([HCINODE, "--log-file", self.log + ".cli", "engine", *argv, "--data-dir",
                               self.data_dir], capture_output=True, text=True)


@contextmanager
def served(data_dir: str, url: str) -> Iterator[Served]:
    s = Served(data_dir, url)
    s.start()
    try:
        yield s
    finally:
        s.stop()
