"""`hcinode engine ...`: init, serve, tokens, hosts, VMs and events, straight on the local database
(local root on the engine needs no credential). Every verb takes --data-dir."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from engine.config import DEFAULT_DATA_DIR, DEFAULT_PORT
from nodecore import rules
from nodecore.cli import add_dry_run, add_json, run_plan
from nodecore.errors import EXIT_FAILED, EXIT_INVALID, EXIT_OK, InvalidInput
from nodecore.report import ValidationReport
from nodecore.secrets import Secret

TTL_RE = re.compile(r"(\d+)([smhd]?)")
TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("engine", help="the cluster engine: CA, join tokens, hosts, HTTPS API")
    verbs = parser.add_subparsers(dest="engine_verb", metavar="VERB", required=True)

    init = verbs.add_parser("init", help="make the CA, the server certificate, the admin credential, the database")
    _data_dir(init)
    init.add_argument("--fqdn", required=True, help="the engine's DNS name (in its certificate and join strings)")
    init.add_argument("--ip", action="append", default=[], metavar="ADDR", help="an address of the engine (repeat)")
    init.add_argument("--db", default="", metavar="URL",
                      help="database URL, e.g. postgresql+psycopg://engine@/engine (default: SQLite in the data dir)")
    init.add_argument("--listen", default=f"0.0.0.0:{DEFAULT_PORT}", metavar="ADDR:PORT")
    init.add_argument("--admin-password-file", metavar="FILE",
                      help="file with the admin password (default: asked twice on the terminal)")
    init.add_argument("--admin-password-hash-file", metavar="FILE",
                      help="file with a crypt(3) hash of the admin password ($y$, $6$, $5$, $2b$), made elsewhere")
    init.add_argument("--ca-cert", metavar="FILE",
                      help="a CA certificate made elsewhere (with --ca-key; default: a new CA)")
    init.add_argument("--ca-key", metavar="FILE", help="the CA's private key (PEM, EC, unencrypted; kept 0600)")
    init.set_defaults(func=_init)

    firstboot = verbs.add_parser("firstboot", help="the engine appliance's first boot: database and engine "
                                 "from the NoCloud seed (hcinode-engine-firstboot.service)")
    _data_dir(firstboot)
    firstboot.add_argument("--seed", default=None, metavar="FILE",
                           help="the seed cloud-init's write_files wrote (default /etc/hcinode-engine/seed.yaml)")
    add_dry_run(firstboot)
    add_json(firstboot)
    firstboot.set_defaults(func=_firstboot)

    serve = verbs.add_parser("serve", help="serve the HTTPS API and the dashboard")
    _data_dir(serve)
    serve.add_argument("--listen", metavar="ADDR:PORT", help="default: listen from engine.yaml")
    serve.set_defaults(func=_serve)

    token = verbs.add_parser("token", help="join tokens").add_subparsers(dest="token_verb", metavar="VERB",
                                                                        required=True)
    create = token.add_parser("create", help="make a join token and print its join string")
    _data_dir(create)
    create.add_argument("--ttl", default="1h", help="lifetime: 90s, 30m, 1h, 7d (default 1h)")
    create.add_argument("--uses", type=int, default=1, help="how many joins it allows (default 1)")
    add_json(create)
    create.set_defaults(func=_token_create)

    hosts = verbs.add_parser("hosts", help="joined hosts").add_subparsers(dest="hosts_verb", metavar="VERB",
                                                                        required=True)
    lst = hosts.add_parser("list", help="hosts with status, last heartbeat, certificate expiry")
    _data_dir(lst)
    add_json(lst)
    lst.add_argument("--all", action="store_true", help="include removed hosts")
    lst.set_defaults(func=_hosts_list)
    for verb, help_text in (("show", "one host in full"), ("remove", "remove a host; its certificate is refused"),
                            ("maintenance", "put a host into maintenance"), ("activate", "take it out again")):
        p = hosts.add_parser(verb, help=help_text)
        _data_dir(p)
        add_json(p)
        p.add_argument("host", metavar="HOST", help="host UUID or name")
        p.set_defaults(func=_host_action, action=verb)

    he = hosts.add_parser("hosted-engine-maintenance",
                          help="hosted-engine maintenance for a host's HA agent (queued: its node agent sets it "
                               "on its next heartbeat, as POST /api/v1/hosts/HOST/hosted-engine/maintenance)")
    _data_dir(he)
    add_json(he)
    he.add_argument("host", metavar="HOST", help="host UUID or name")
    he.add_argument("mode", choices=("global", "local", "none"))
    he.set_defaults(func=_host_action, action="he_maintenance")

    vms = verbs.add_parser("vms", help="VMs the agents report").add_subparsers(dest="vms_verb", metavar="VERB",
                                                                             required=True)
    vlist = vms.add_parser("list", help="VMs on every host")
    _data_dir(vlist)
    add_json(vlist)
    vlist.set_defaults(func=_vms_list)

    events = verbs.add_parser("events", help="recent events (joined, non_responsive, back, removed ...)")
    _data_dir(events)
    add_json(events)
    events.add_argument("--limit", type=int, default=50)
    events.set_defaults(func=_events)


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
                        help=f"where the engine keeps its state (default {DEFAULT_DATA_DIR})")


def _invalid(field: str, message: str, hint: str = "") -> InvalidInput:
    report = ValidationReport("engine")
    report.error(field, message, hint)
    return InvalidInput(report)


def _read_admin_password(path: str | None) -> Secret:
    from engine.auth import password_policy_problem

    if path:
        try:
            with open(path, encoding="utf-8") as f:
                password = f.readline().rstrip("\n")
        except OSError as exc:
            raise _invalid("--admin-password-file", f"cannot read {path}: {exc.strerror}") from None
        field = "--admin-password-file"
    elif sys.stdin.isatty():
        password = getpass.getpass("Admin password: ")
        if getpass.getpass("Again: ") != password:
            raise _invalid("admin_password", "the two passwords differ")
        field = "admin_password"
    else:
        raise _invalid("--admin-password-file", "no terminal to ask for the admin password",
                       "give --admin-password-file FILE")
    problem = password_policy_problem(password)
    if problem:
        raise _invalid(field, problem)
    return Secret(password)


def _read_bytes(field: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise _invalid(field, f"cannot read {path}: {exc.strerror}") from None


def _raise_problem(problem: tuple[str, str]) -> None:
    if problem[0]:
        raise _invalid(*problem)


def _listen_problem(listen: str) -> str:
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"{listen!r} is not ADDR:PORT"
    return ""


def _init(args: argparse.Namespace) -> int:
    from engine.config import EngineConfig
    from engine.server import admin_hash_problem, given_ca_problem, initialize

    report = ValidationReport("engine init")
    rules.add(report, "--fqdn", rules.hostname(args.fqdn))
    for ip in args.ip:
        rules.add(report, "--ip", rules.ip_address(ip))
    if args.db and not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", args.db):
        report.error("--db", "the database URL must be sqlite:///PATH or postgresql+psycopg://...")
    if _listen_problem(args.listen):
        report.error("--listen", _listen_problem(args.listen))
    if args.admin_password_file and args.admin_password_hash_file:
        report.error("--admin-password-hash-file", "give the password or its hash, not both",
                     "drop --admin-password-file or --admin-password-hash-file")
    if bool(args.ca_cert) != bool(args.ca_key):
        report.error("--ca-key" if args.ca_cert else "--ca-cert", "--ca-cert and --ca-key go together")
    report.raise_if_errors()
    db_url = args.db.replace("postgresql://", "postgresql+psycopg://", 1)
    config = EngineConfig(fqdn=args.fqdn, ips=tuple(args.ip), db_url=db_url, listen=args.listen,
                          data_dir=args.data_dir)
    ca_pem = None
    if args.ca_cert:
        ca_pem = (_read_bytes("--ca-cert", args.ca_cert), Secret(_read_bytes("--ca-key", args.ca_key).decode(
            errors="replace")))
        _raise_problem(given_ca_problem(config, *ca_pem))
    if args.admin_password_hash_file:
        hashed = _read_bytes("--admin-password-hash-file", args.admin_password_hash_file).decode(errors="replace")
        admin_hash = Secret(hashed.strip())
        _raise_problem(admin_hash_problem(admin_hash, "--admin-password-hash-file"))
        ca = initialize(config, admin_hash=admin_hash, ca_pem=ca_pem)
    else:
        ca = initialize(config, _read_admin_password(args.admin_password_file), ca_pem=ca_pem)
    print(f"engine initialised in {args.data_dir}\nCA pin: {ca.pin}\n"
          f"next: hcinode engine serve --data-dir {args.data_dir}")
    return EXIT_OK


def _firstboot(args: argparse.Namespace) -> int:
    from engine import appliance
    from nodecore.runner import LocalRunner

    seed = args.seed or appliance.SEED_FILE
    appliance.load_seed(seed)  # every problem of the seed at once, before anything changes (exit 2)
    plan = appliance.firstboot_plan(seed, args.data_dir)
    if run_plan(plan, LocalRunner(), args=args, journal_name="engine-firstboot", actions=appliance.ACTIONS,
                journal=False) is not None:
        print(f"engine appliance initialised: {args.data_dir} (database {appliance.DB_NAME}); "
              "hcinode-engine.service serves it")
    return EXIT_OK


def _serve(args: argparse.Namespace) -> int:
    from engine.server import serve

    if args.listen and _listen_problem(args.listen):
        raise _invalid("--listen", _listen_problem(args.listen))
    _require_init(args.data_dir)
    serve(args.data_dir, args.listen)
    return EXIT_OK


def _require_init(data_dir: str) -> None:
    import os

    from engine.config import CONFIG_FILE

    if not os.path.exists(os.path.join(data_dir, CONFIG_FILE)):
        raise _invalid("--data-dir", f"{data_dir} holds no engine",
                       f"run `hcinode engine init --data-dir {data_dir} --fqdn NAME` first")


def _with_db(args: argparse.Namespace, fn: Callable[[Any, Any], Any]) -> Any:
    from engine.server import open_engine

    _require_init(args.data_dir)
    opened = open_engine(args.data_dir)
    try:
        with opened.sessions.begin() as session:
            return fn(opened, session)
    finally:
        opened.close()


def parse_ttl(text: str) -> dt.timedelta:
    match = TTL_RE.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise _invalid("--ttl", f"{text!r} is not a lifetime", "e.g. 90s, 30m, 1h, 7d")
    return dt.timedelta(seconds=int(match.group(1)) * TTL_UNITS[match.group(2)])


def _token_create(args: argparse.Namespace) -> int:
    from engine import service
    from engine.api import token_view

    ttl = parse_ttl(args.ttl)
    if args.uses < 1:
        raise _invalid("--uses", "must be at least 1")

    def make(opened: Any, session: Any) -> dict[str, str]:
        token, expires = service.create_token(session, ttl, args.uses)
        return token_view(opened.config, opened.ca, token, expires)

    view = _with_db(args, make)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(view["join"])
        print(f"\nengine:  {view['engine_url']}\nCA pin:  {view['ca_pin']}\ntoken:   {view['token']}\n"
              f"expires: {view['expires_at']} ({args.uses} use{'s' if args.uses != 1 else ''})", file=sys.stderr)
    return EXIT_OK


def _table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    if not rows:
        return "(none)"
    cells = [[str(r.get(c) if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _hosts_list(args: argparse.Namespace) -> int:
    from engine import service

    rows = _with_db(args, lambda _o, s: service.list_hosts(s, args.all))
    print(json.dumps(rows, indent=2) if args.json else
          _table(rows, ("name", "status", "address", "last_heartbeat", "cert_expires_at", "sanlock_host_id", "id")))
    return EXIT_OK


def _host_action(args: argparse.Namespace) -> int:
    from engine import service

    def act(opened: Any, session: Any) -> dict[str, Any]:
        host = service.get_host(session, args.host)
        if args.action == "remove":
            service.remove_host(session, host, "removed on the engine's command line")
        elif args.action == "maintenance":
            service.set_maintenance(session, host)
        elif args.action == "activate":
            service.activate(session, host, opened.config.heartbeat_interval, opened.config.missed_intervals)
        elif args.action == "he_maintenance":  # the API's function: the same command, event and checks
            cmd = service.queue_he_maintenance(session, host, args.mode)
            return {"host": service.host_view(host), "command": {"id": cmd.id, "name": cmd.name}}
        return service.host_view(host, full=args.action == "show")

    try:
        view = _with_db(args, act)
    except service.ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID if exc.status in (404, 409) else EXIT_FAILED
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print("\n".join(f"{k}: {json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in view.items()))
    return EXIT_OK


def _vms_list(args: argparse.Namespace) -> int:
    from engine import service

    rows = _with_db(args, lambda _o, s: service.list_vms(s))
    print(json.dumps(rows, indent=2) if args.json else
          _table(rows, ("name", "host", "state", "vcpus", "memory_kib", "uuid")))
    return EXIT_OK


def _events(args: argparse.Namespace) -> int:
    from engine import service

    rows = _with_db(args, lambda _o, s: service.list_events(s, max(1, min(args.limit, 1000))))
    print(json.dumps(rows, indent=2) if args.json else _table(rows, ("at", "kind", "host", "detail")))
    return EXIT_OK



