from __future__ import annotations

import json
import os
import stat
from typing import Any

import pytest

from nodecore import cli, pki
from nodecore.errors import EXIT_INVALID, EXIT_OK


def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["--log-file", os.devnull, *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data_dir(tmp_path: Any, capsys: Any) -> str:
    pw = tmp_path / "pw"
    pw.write_text("Adm1n-pass-word\n")
    d = str(tmp_path / "engine")
    code, _, err = _run(capsys, "engine", "init", "--data-dir", d, "--fqdn", "engine.test", "--ip", "127.0.0.1",
                        "--admin-password-file", str(pw))
    assert code == EXIT_OK, err
    return d


def test_init_makes_private_keys_and_a_hashed_password(data_dir: str) -> None:
    for name in ("ca.key", "server.key", "admin.hash", "engine.yaml"):
        assert stat.S_IMODE(os.stat(os.path.join(data_dir, name)).st_mode) == 0o600
    with open(os.path.join(data_dir, "admin.hash")) as f:
        assert f.read().startswith("$y$")
    for name in os.listdir(data_dir):
        with open(os.path.join(data_dir, name), "rb") as f:
            assert b"Adm1n-pass-word" not in f.read()


def test_init_refuses_a_weak_password_and_bad_names(tmp_path: Any, capsys: Any) -> None:
    pw = tmp_path / "pw"
    pw.write_text("short\n")
    d = str(tmp_path / "e")
    code, _, err = _run(capsys, "engine", "init", "--data-dir", d, "--fqdn", "engine.test",
                        "--admin-password-file", str(pw))
    assert code == EXIT_INVALID and "too short" in err and not os.path.exists(d)
    code, _, err = _run(capsys, "engine", "init", "--data-dir", d, "--fqdn", "bad_name!", "--ip", "300.1.1.1",
                        "--admin-password-file", str(pw))
    assert code == EXIT_INVALID and "--fqdn" in err and "--ip" in err and not os.path.exists(d)


def test_token_create_json_is_one_join_string(data_dir: str, capsys: Any) -> None:
    code, out, _ = _run(capsys, "engine", "token", "create", "--data-dir", data_dir, "--ttl", "30m", "--uses", "2",
                        "--json")
    assert code == EXIT_OK
    view = json.loads(out)
    assert set(view) == {"join", "engine_url", "ca_pin", "token", "expires_at"}
    js = pki.JoinString.decode(view["join"])
    assert js.token == view["token"] and js.ca_pin == view["ca_pin"] and js.urls == ("https://engine.test:8443",)
    with open(os.path.join(data_dir, "ca.crt"), "rb") as f:
        assert pki.ca_pin(f.read()) == view["ca_pin"]
    code, _, err = _run(capsys, "engine", "token", "create", "--data-dir", data_dir, "--ttl", "soon")
    assert code == EXIT_INVALID and "--ttl" in err


def test_hosts_verbs(data_dir: str, capsys: Any) -> None:
    code, out, _ = _run(capsys, "engine", "hosts", "list", "--data-dir", data_dir, "--json")
    assert code == EXIT_OK and json.loads(out) == []
    code, _, err = _run(capsys, "engine", "hosts", "show", "--data-dir", data_dir, "nohost")
    assert code == EXIT_INVALID and "no host" in err
    code, _, err = _run(capsys, "engine", "hosts", "hosted-engine-maintenance", "--data-dir", data_dir, "nohost",
                        "global")
    assert code == EXIT_INVALID and "no host" in err
    with pytest.raises(SystemExit):  # argparse: one of global, local, none
        _run(capsys, "engine", "hosts", "hosted-engine-maintenance", "--data-dir", data_dir, "nohost", "half")
    for verb in (("vms", "list"), ("events",)):
        code, out, _ = _run(capsys, "engine", *verb, "--data-dir", data_dir, "--json")
        assert code == EXIT_OK and json.loads(out) == []


def test_verbs_on_an_empty_dir_say_init_first(tmp_path: Any, capsys: Any) -> None:
    code, _, err = _run(capsys, "engine", "hosts", "list", "--data-dir", str(tmp_path / "none"))
    assert code == EXIT_INVALID and "engine init" in err


def test_init_with_a_hash_and_a_ca_made_elsewhere(tmp_path: Any, capsys: Any) -> None:
    from engine.auth import Admin
    from engine.ca import make_ca
    from engine.config import load
    from nodecore import passwords

    cert, key = make_ca("elsewhere")
    (tmp_path / "ca.crt").write_bytes(cert)
    (tmp_path / "ca.key").write_bytes(key)
    (tmp_path / "hash").write_text(passwords.hash_password("Adm1n-pass-word", account="admin") + "\n")
    d = str(tmp_path / "e")
    base = ("engine", "init", "--data-dir", d, "--fqdn", "engine.test", "--admin-password-hash-file",
            str(tmp_path / "hash"))
    code, out, err = _run(capsys, *base, "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key"))
    assert code == EXIT_OK, err
    assert pki.ca_pin(cert) in out and Admin(load(d)).check("admin", "Adm1n-pass-word")
    # the same CA again is fine; another one would orphan the joined hosts
    code, _, err = _run(capsys, *base, "--ca-cert", str(tmp_path / "ca.crt"), "--ca-key", str(tmp_path / "ca.key"))
    assert code == EXIT_OK, err
    other, other_key = make_ca("other")
    (tmp_path / "o.crt").write_bytes(other)
    (tmp_path / "o.key").write_bytes(other_key)
    code, _, err = _run(capsys, *base, "--ca-cert", str(tmp_path / "o.crt"), "--ca-key", str(tmp_path / "o.key"))
    assert code == EXIT_INVALID and "already has another CA" in err


@pytest.mark.parametrize(("args", "field", "message"), [
    (("--ca-cert", "CERT"), "--ca-key", "go together"),
    (("--ca-cert", "CERT", "--ca-key", "OTHERKEY"), "--ca-key", "not the key of the CA certificate"),
    (("--ca-cert", "LEAF", "--ca-key", "KEY"), "--ca-cert", "not a CA certificate"),
    (("--admin-password-file", "HASH"), "--admin-password-hash-file", "not both"),
])
def test_init_refuses_bad_ca_and_hash_input(tmp_path: Any, capsys: Any, args: tuple[str, ...], field: str,
                                            message: str) -> None:
    from engine.ca import CA, make_ca
    from nodecore import passwords

    cert, key = make_ca("elsewhere")
    leaf, _ = CA(cert, key).server_cert("leaf.test", ())
    files = {"CERT": cert, "KEY": key, "OTHERKEY": make_ca("x")[1], "LEAF": leaf,
             "HASH": (passwords.hash_password("Adm1n-pass-word", account="admin") + "\n").encode()}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    d = str(tmp_path / "e")
    code, _, err = _run(capsys, "engine", "init", "--data-dir", d, "--fqdn", "engine.test",
                        "--admin-password-hash-file", str(tmp_path / "HASH"),
                        *[str(tmp_path / a) if a in files else a for a in args])
    assert code == EXIT_INVALID and field in err and message in err, err
    assert not os.path.exists(d) and "BEGIN" not in err


def test_init_refuses_a_plain_password_as_a_hash(tmp_path: Any, capsys: Any) -> None:
    (tmp_path / "hash").write_text("Adm1n-pass-word\n")
    code, _, err = _run(capsys, "engine", "init", "--data-dir", str(tmp_path / "e"), "--fqdn", "engine.test",
                        "--admin-password-hash-file", str(tmp_path / "hash"))
    assert code == EXIT_INVALID and "--admin-password-hash-file" in err and "Adm1n" not in err
