"""The console's start imports what its first screen needs and no more: under TCG on the live
medium each module is squashfs reads, and the console's first screen is the boot's goal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "tui"

PROBE = """
import sys
from nodecore.cli import build_parser
argv = ["tui", "--dry-run", "--mode", sys.argv[1], "--facts", sys.argv[2], "--lock-timeout", "0"]
args = build_parser(argv).parse_args(argv)
from tui.cli import build_app
from tui.render import render_text
screen = render_text(build_app(args).root, 80, 24)
assert "hcinode" in screen, screen
print(" ".join(sorted({name.split(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize(("mode", "facts"), [("install", "live-facts.json"), ("node", "node-facts.json")])
def test_the_first_screen_loads_no_other_verbs_package_nor_heavy_libraries(tmp_path: Path, mode: str,
                                                                          facts: str) -> None:
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(DATA / facts)], capture_output=True, text=True,
                         check=True, env={"HCINODE_LOG_DIR": str(tmp_path), "HCINODE_STATE_DIR": str(tmp_path),
                                          "PATH": "/usr/bin:/bin"}).stdout
    loaded = set(out.split())
    assert {"tui", "urwid"} <= loaded
    never = {"image_recipes", "installer", "gluster_setup", "hosted_engine", "engine", "update",
             "requests", "blivet", "pykickstart", "jinja2", "sqlalchemy", "zxcvbn"}
    assert not loaded & never
    if mode == "install":  # the live medium's first screen: no node settings, no cluster
        assert not loaded & {"node_setup", "agent", "cryptography", "libvirt"}
