"""Keyfile rendering against golden files; every rendered file must also parse in libnm.

Regenerate the golden files after an intended change with `pytest --regenerate`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from node_setup import load_node_config_file, render_keyfiles, validate
from node_setup.keyfile import profile_uuid
from tests.goldenfiles import assert_golden_dir

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "tests" / "data" / "node_setup"
CASES = sorted(p.stem for p in DATA.glob("*.yaml"))


def rendered(case: str) -> dict[str, str]:
    config = load_node_config_file(str(DATA / f"{case}.yaml"))
    report = validate(config)
    assert report.ok, report.render_text()
    return render_keyfiles(config)


@pytest.mark.parametrize("case", CASES)
def test_keyfiles_match_golden(case: str) -> None:
    assert_golden_dir(f"node_setup/{case}", rendered(case), "*.nmconnection")


def _nm():  # type: ignore[no-untyped-def]
    # libnm's GI bindings come with make setup (gir1.2-nm-1.0): a missing one is a failure, not a skip
    import gi

    gi.require_version("NM", "1.0")
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
