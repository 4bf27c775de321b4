"""The engine appliance's first boot: NoCloud user data -> seed file -> checks -> plan -> engine init."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine import appliance
from engine.auth import Admin
from engine.ca import make_ca
from engine.config import load
from nodecore import cli, passwords, pki
from nodecore.errors import EXIT_INVALID, EXIT_OK, InvalidInput

PASSWORD = "Adm1n-pass-word"


def seed_dict(**changes: Any) -> dict[str, Any]:
    cert, key = make_ca("engine.example.test")
    seed = {"fqdn": "engine.example.test", "ips": ["10.0.2.2"],
            "admin_password_hash": passwords.hash_password(PASSWORD, account="admin"),
            "ca_cert": cert.decode(), "ca_key": key.decode()}
    seed.update(changes)
    return {k: v for k, v in seed.items() if v is not None}


def write_seed_from_user_data(tmp_path: Path, seed: dict[str, Any]) -> Path:
    """What cloud-init's write_files does with our user data: the file's content at its path."""
    text = appliance.user_data(seed)
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    [entry] = [f for f in data["write_files"] if f["path"] == appliance.SEED_FILE]
    assert entry["permissions"] == "0600" and data["fqdn"] == seed["fqdn"]
    assert data["hostname"] == str(seed["fqdn"]).split(".")[0]
    path = tmp_path / "seed.yaml"
    path.write_text(entry["content"])
    return path


def test_user_data_round_trips_to_the_seed(tmp_path: Path) -> None:
    seed = seed_dict()
    loaded = appliance.load_seed(str(write_seed_from_user_data(tmp_path, seed)))
    assert loaded.fqdn == "engine.example.test" and loaded.ips == ("10.0.2.2",)
    assert loaded.admin_password_hash.reveal() == seed["admin_password_hash"]
    assert loaded.ca_cert == seed["ca_cert"] and loaded.ca_key.reveal() == seed["ca_key"]
    assert seed["ca_key"] not in repr(loaded)  # the key is a Secret


def test_every_seed_problem_at_once_with_its_field(tmp_path: Path) -> None:
    other_cert, _ = make_ca("other")
    bad = seed_dict(fqdn="not a name", ips=["300.1.1.1"], urls=["http://engine"],
                    admin_password_hash="plain text", ca_key=make_ca("x")[1].decode(), ca_cert=other_cert.decode())
    with pytest.raises(InvalidInput) as err:
        appliance.load_seed(str(write_seed_from_user_data(tmp_path, bad)))
    fields = {p.field for p in err.value.report.errors}
    assert {"fqdn", "ips[0]", "urls[0]", "admin_password_hash", "ca_key"} <= fields, err.value.report.render_text()
    assert "BEGIN" not in err.value.report.render_text()  # never the key
    with pytest.raises(InvalidInput) as err:
        appliance.load_seed(str(write_seed_from_user_data(tmp_path, seed_dict(ca_key=None))))
    assert [p.field for p in err.value.report.errors] == ["ca_key"]
    with pytest.raises(InvalidInput) as err:
        appliance.load_seed(str(tmp_path / "missing.yaml"))
    assert "write_files" in err.value.report.render_text()


def test_firstboot_plan_makes_the_role_and_database_then_the_engine() -> None:
    plan = appliance.firstboot_plan("/etc/hcinode-engine/seed.yaml", "/var/lib/hcinode-engine")
    argvs = [" ".join(s.argv) for s in plan.steps]
    assert "systemctl start postgresql@15-main.service" in argvs[1]
    assert argvs[2].startswith("runuser -u postgres -- psql") and 'CREATE ROLE "root" LOGIN' in argvs[2]
    assert "createdb --owner root --encoding UTF8 --template template0 hcinode_engine" in argvs[3]
    # re-run after a crash: each step knows when it is done
    assert all(s.check for s in plan.steps[2:])
    assert plan.steps[2].check[-1] == "SELECT 1/count(*) FROM pg_roles WHERE rolname = 'root'"
    last = plan.steps[-1]
    assert last.action == "engine_init" and last.check == ("test", "-f", "/var/lib/hcinode-engine/engine.yaml")
    assert last.params["db_url"] == "postgresql+psycopg://root@/hcinode_engine?host=/run/postgresql"
    assert "BEGIN" not in plan.to_json() and "$y$" not in plan.to_json()  # no secret in the plan


def test_engine_init_action_uses_the_seeds_hash_and_ca(tmp_path: Path) -> None:
    seed = seed_dict(urls=["https://engine.example.test:8443"])
    path = write_seed_from_user_data(tmp_path, seed)
    data_dir = str(tmp_path / "engine")
    appliance.engine_init(None, {"seed": str(path), "data_dir": data_dir,  # type: ignore[arg-type]
                                 "db_url": f"sqlite:///{tmp_path}/engine.db"})
    config = load(data_dir)
    assert config.listen == "0.0.0.0:443" and config.fqdn == "engine.example.test"
    assert config.urls == ("https://engine.example.test:8443",) and config.ips == ("10.0.2.2",)
    with open(os.path.join(data_dir, "ca.crt"), "rb") as f:
        assert pki.ca_pin(f.read()) == pki.ca_pin(seed["ca_cert"].encode())
    assert stat.S_IMODE(os.stat(os.path.join(data_dir, "ca.key")).st_mode) == 0o600
    assert Admin(config).check("admin", PASSWORD) and not Admin(config).check("admin", "wrong")
    # the default URL has no port: the appliance serves 443
    assert appliance.engine_config(appliance.load_seed(str(write_seed_from_user_data(
        tmp_path, seed_dict()))), data_dir).engine_urls == ("https://engine.example.test",)


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--log-file", os.devnull, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_firstboot_cli_dry_run_and_a_bad_seed(tmp_path: Path, capsys: Any) -> None:
    path = write_seed_from_user_data(tmp_path, seed_dict())
    code, out, _ = _run(capsys, "engine", "firstboot", "--seed", str(path), "--data-dir", str(tmp_path / "d"),
                        "--dry-run", "--json")
    assert code == EXIT_OK and len(json.loads(out)["steps"]) == 5 and not (tmp_path / "d").exists()
    path.write_text("fqdn: engine.example.test\nadmin_password_hash: plain\n")
    code, _, err = _run(capsys, "engine", "firstboot", "--seed", str(path), "--data-dir", str(tmp_path / "d"))
    assert code == EXIT_INVALID and "admin_password_hash" in err and not (tmp_path / "d").exists()


def test_logging_to_dev_null_leaves_its_mode(tmp_path: Path) -> None:
    """Regression: `--log-file /dev/null` run as root made the machine's /dev/null 0600."""
    before = stat.S_IMODE(os.stat(os.devnull).st_mode)
    cli.setup_logging(False, os.devnull)
    cli.setup_logging(False, str(tmp_path / "log"))  # closes the /dev/null handler again
    assert stat.S_IMODE(os.stat(os.devnull).st_mode) == before
    assert stat.S_IMODE(os.stat(tmp_path / "log").st_mode) == 0o600
