"""node_setup.identity.read_time_keyboard: what the console's Keyboard/time page shows as "now"."""

from __future__ import annotations

import os
from pathlib import Path

from node_setup import NodeConfig
from node_setup.identity import identity_files, read_time_keyboard


def write(root: Path, path: str, text: str) -> None:
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_reads_what_identity_files_write(tmp_path: Path) -> None:
    config = NodeConfig(timezone="Europe/Berlin", ntp_servers=("192.0.2.1", "ntp.lab.example"),
                        keyboard="de-nodeadkeys")
    for spec in identity_files(config):
        write(tmp_path, spec.path, str(spec.content))
    assert read_time_keyboard(str(tmp_path)) == config


def test_debian_defaults_localtime_link_pool_lines_and_sources_d(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.symlink("/usr/share/zoneinfo/America/New_York", tmp_path / "etc/localtime")
    write(tmp_path, "/etc/chrony/chrony.conf", "# comment\npool 2.debian.pool.ntp.org iburst\nsourcedir /run/x\n")
    write(tmp_path, "/etc/chrony/sources.d/lab.sources", "server 192.0.2.123 iburst\n")
    write(tmp_path, "/etc/default/keyboard", 'XKBMODEL="pc105"\nXKBLAYOUT="fr,us"\nXKBVARIANT=""\n')
    now = read_time_keyboard(str(tmp_path))
    assert now.timezone == "America/New_York"
    assert now.ntp_servers == ("2.debian.pool.ntp.org", "192.0.2.123")
    assert now.keyboard == "fr"


def test_nothing_set(tmp_path: Path) -> None:
    write(tmp_path, "/etc/vconsole.conf", "KEYMAP=us\n")
    assert read_time_keyboard(str(tmp_path)) == NodeConfig(keyboard="us")
