"""Keyfile rendering against golden files; every rendered file must also parse in libnm.

Regenerate the golden files after an intended change with HCINODE_REGENERATE_GOLDEN=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node_setup import load_node_config_file, render_keyfiles, validate
from node_setup.keyfile import profile_uuid

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "node_setup"
GOLDEN = ROOT / "tests" / "golden" / "node_setup"
CASES = sorted(p.stem for p in DATA.glob("*.yaml"))
REGENERATE = os.environ.get("HCINODE_REGENERATE_GOLDEN") == "1"


def rendered(case: str) -> dict[str, str]:
    config = load_node_config_file(str(DATA / f"{case}.yaml"))
    report = validate(config)
    assert report.ok, report.render_text()
    return render_keyfiles(config)


@pytest.mark.parametrize("case", CASES)
def test_keyfiles_match_golden(case: str) -> None:
    files = rendered(case)
    folder = GOLDEN / case
    if REGENERATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.nmconnection"):
            old.unlink()
        for name, text in files.items():
            (folder / name).write_text(text)
    expected = {p.name: p.read_text() for p in folder.glob("*.nmconnection")}
    assert sorted(files) == sorted(expected), "set of keyfiles differs (HCINODE_REGENERATE_GOLDEN=1 to update)"
    for name, text in files.items():
        assert text == expected[name], f"{case}/{name} differs from golden (HCINODE_REGENERATE_GOLDEN=1 to update)"


def _nm():  # type: ignore[no-untyped-def]
    gi = pytest.importorskip("gi")
    try:
        gi.require_version("NM", "1.0")
    except ValueError:
        pytest.skip("libnm GI bindings not installed")
    from gi.repository import NM

    return NM


@pytest.mark.parametrize("case", CASES)
def test_keyfiles_parse_and_verify_in_libnm(case: str) -> None:
    from node_setup.nmkeyfile import parse_keyfile

    NM = _nm()
    for name, text in rendered(case).items():
        conn = parse_keyfile(text)
        assert conn.verify(), name
        assert conn.get_id() == name.removesuffix(".nmconnection")
        setting_user = conn.get_setting(NM.SettingUser)
        assert setting_user.get_data("hcinode.managed") == "1"


def test_ports_point_at_their_controller_and_have_no_ip() -> None:
    files = rendered("bond-vlan-bridge")
    eno1 = files["eno1.nmconnection"]
    assert "slave-type=bond" in eno1 and "[ipv4]" not in eno1
    assert "interface-name" not in eno1 and "mac-address=52:54:00:00:10:01" in eno1  # matched by MAC
    vlan = files["bond0.100.nmconnection"]
    assert "slave-type=bridge" in vlan and "id=100" in vlan


def test_render_is_deterministic_and_uuid_depends_on_type() -> None:
    assert rendered("lacp-jumbo") == rendered("lacp-jumbo")
    from node_setup import Bond, Interface

    assert profile_uuid(Interface("x")) != profile_uuid(Bond("x"))
