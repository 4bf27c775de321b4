"""The engine appliance's first boot: the NoCloud seed -> PostgreSQL role and database -> engine init.

The seed reaches the appliance through cloud-init's own `write_files` (a module of every cloud-init,
run in cloud-init.service before hcinode-engine-firstboot.service): the user data carries
SEED_FILE as data (YAML, mode 0600), never commands. Why not `runcmd`: then every seed author (the
hosted-engine deploy, a test, an operator) would write our set-up commands; this way the set-up is
the image's, tested here, and a bad seed gets one clear message per field (exit 2, nothing changed).

The database: the cluster `15/main` that postgresql-common made in the image build (C.UTF-8), socket
only (overlay conf.d/hcinode.conf: listen_addresses = ''). The engine runs as root, so peer
authentication maps it to the PostgreSQL role `root`; no database password exists anywhere.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from engine import config as cfg
from nodecore import rules
from nodecore.config import MULTILINE, load_config, load_yaml_file
from nodecore.errors import InvalidInput
from nodecore.plan import Plan, Step
from nodecore.report import ValidationReport
from nodecore.runner import Runner
from nodecore.secrets import Secret

SEED_FILE = "/etc/hcinode-engine/seed.yaml"
PG_CLUSTER = ("15", "main")
DB_NAME = "hcinode_engine"
DB_ROLE = "root"  # the engine's OS user: peer authentication over the socket needs the same name
DB_URL = f"postgresql+psycopg://{DB_ROLE}@/{DB_NAME}?host=/run/postgresql"
LISTEN = "0.0.0.0:443"  # the appliance serves nothing else: the plain HTTPS port, no port in URLs


@dataclass(frozen=True)
class Seed:
    """SEED_FILE, written by cloud-init's write_files from the NoCloud user data."""

    fqdn: str
    # crypt(3) hash of the admin password ($y$, $6$ ...): no plain text in the seed
    admin_password_hash: Secret
    ips: tuple[str, ...] = ()
    # engine URLs for join strings (default https://FQDN)
    urls: tuple[str, ...] = ()
    # a CA made elsewhere (the hosted-engine deploy brings its own): both or neither
    ca_cert: str = field(default="", metadata=MULTILINE)
    ca_key: Secret = Secret("")


def load_seed(path: str = SEED_FILE) -> Seed:
    """Read and check the seed; InvalidInput lists every problem (field names as in the seed)."""
    from engine.ca import ca_problem
    from engine.server import admin_hash_problem

    report = ValidationReport(path)
    if not os.path.exists(path):
        report.error("seed", f"{path} does not exist",
                     "the NoCloud user data must write it with cloud-init's write_files (docs/cluster.md)")
        raise InvalidInput(report)
    seed = load_config(Seed, load_yaml_file(path), report)
    if seed is not None:
        rules.add(report, "fqdn", rules.hostname(seed.fqdn))
        for i, ip in enumerate(seed.ips):
            rules.add(report, f"ips[{i}]", rules.ip_address(ip))
        for i, url in enumerate(seed.urls):
            if not url.startswith("https://"):
                report.error(f"urls[{i}]", f"{url!r} is not an https:// URL")
        problem = admin_hash_problem(seed.admin_password_hash, "admin_password_hash")
        if problem[0]:
            report.error(*problem, "make it with `mkpasswd -m yescrypt` or `openssl passwd -6`")
        if bool(seed.ca_cert) != bool(seed.ca_key):
            report.error("ca_key" if seed.ca_cert else "ca_cert", "ca_cert and ca_key go together")
        elif seed.ca_cert:
            where, why = ca_problem(seed.ca_cert.encode(), seed.ca_key.reveal().encode())
            if where:
                report.error(where.removeprefix("--").replace("-", "_"), why)
    report.raise_if_errors()
    assert seed is not None
    return seed


def user_data(seed: Mapping[str, Any], extra_files: tuple[Mapping[str, str], ...] = ()) -> str:
    """NoCloud user data that hands `seed` (the keys of Seed) to the appliance: cloud-init's
    write_files puts it at SEED_FILE (0600) and sets the host name from its FQDN. `extra_files`
    are more write_files entries (a test adds root's authorized_keys)."""
    import yaml

    fqdn = str(seed["fqdn"])
    files = [{"path": SEED_FILE, "permissions": "0600", "owner": "root:root",
              "content": yaml.safe_dump(dict(seed), sort_keys=False)}, *map(dict, extra_files)]
    config = {"hostname": fqdn.split(".")[0], "fqdn": fqdn, "write_files": files}
    return "#cloud-config\n" + yaml.safe_dump(config, sort_keys=False)


def engine_config(seed: Seed, data_dir: str, db_url: str = DB_URL) -> cfg.EngineConfig:
    return cfg.EngineConfig(fqdn=seed.fqdn, ips=seed.ips, db_url=db_url, listen=LISTEN,
                            urls=seed.urls or (f"https://{seed.fqdn}",), data_dir=data_dir)


def _as_postgres(*argv: str) -> tuple[str, ...]:
    return ("runuser", "-u", "postgres", "--", *argv)


def _pg_has(table: str, condition: str) -> tuple[str, ...]:
    """A check argv: exit 0 when `table` has a row matching `condition`. psql exits 0 for an empty
    result too, so no row must be an error: 1/count(*) divides by zero then. (Not CASE ... ELSE 1/0:
    the planner folds that constant and fails either way.)"""
    return _as_postgres("psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
                        f"SELECT 1/count(*) FROM {table} WHERE {condition}")


def firstboot_plan(seed_path: str, data_dir: str, db_url: str = DB_URL) -> Plan:
    """Pure: the steps of the first boot, each with a check that skips it when already done."""
    version, cluster = PG_CLUSTER
    steps = (
        # postgresql-common's postinst made a snakeoil key in the image build, the same on every
        # appliance; PostgreSQL does not use it (socket only) but no key may be shared
        Step("Make this appliance's own snakeoil TLS key", argv=("make-ssl-cert", "generate-default-snakeoil",
                                                                 "--force-overwrite")),
        Step(f"Start PostgreSQL {version}/{cluster}",
             argv=("systemctl", "start", f"postgresql@{version}-{cluster}.service"), timeout=300),
        Step(f"Create the database role {DB_ROLE} (peer authentication)",
             argv=_as_postgres("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c",
                               f'CREATE ROLE "{DB_ROLE}" LOGIN'),
             check=_pg_has("pg_roles", f"rolname = '{DB_ROLE}'")),
        Step(f"Create the database {DB_NAME}",
             argv=_as_postgres("createdb", "--owner", DB_ROLE, "--encoding", "UTF8", "--template", "template0",
                               DB_NAME),
             check=_pg_has("pg_database", f"datname = '{DB_NAME}'")),
        Step("Initialise the engine: CA, server certificate, admin credential, database schema",
             action="engine_init", params={"seed": seed_path, "data_dir": data_dir, "db_url": db_url},
             check=("test", "-f", os.path.join(data_dir, cfg.CONFIG_FILE)), timeout=600),
    )
    return Plan("engine appliance first boot", steps,
                {"seed": seed_path, "data dir": data_dir, "database": db_url, "listen": LISTEN})


def engine_init(_runner: Runner, params: Mapping[str, Any]) -> None:
    """The same initialisation as `hcinode engine init --admin-password-hash-file [--ca-cert --ca-key]`,
    in process: the hash and the CA key go from the seed to the data dir, never through argv or a copy."""
    from engine.server import given_ca_problem, initialize

    seed = load_seed(params["seed"])
    config = engine_config(seed, params["data_dir"], params.get("db_url") or DB_URL)
    ca_pem = (seed.ca_cert.encode(), seed.ca_key) if seed.ca_cert else None
    if ca_pem:
        where, why = given_ca_problem(config, *ca_pem)
        if where:
            raise RuntimeError(f"ca_cert: {why}")
    initialize(config, admin_hash=seed.admin_password_hash, ca_pem=ca_pem)


ACTIONS = {"engine_init": engine_init}
