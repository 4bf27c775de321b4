"""The node agent against the real engine over TLS on loopback: `hcinode join` with a join string
from `hcinode engine token create`, then `hcinode agent --once` makes the host Up; a wrong pin exits 2
before the token is sent (the same token joins afterwards: it was never used)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from nodecore import pki
from tests import engine_harness as h

pytestmark = pytest.mark.integration


def hcinode(tmp_path: Any, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HCINODE_RUN_DIR": str(tmp_path / "run"), "HCINODE_STATE_DIR": str(tmp_path / "state")}
    return subprocess.run([h.HCINODE, "--log-file", str(tmp_path / "node.log"), *argv], capture_output=True,
                          text=True, env=env, timeout=120)


def test_join_heartbeat_up_and_wrong_pin(tmp_path: Any) -> None:
    data_dir = str(tmp_path / "engine")
    with h.served(data_dir, h.init_engine(data_dir)) as engine:
        made = json.loads(engine.cli("token", "create", "--json").stdout)
        wrong = pki.JoinString((made["engine_url"],), "sha256:" + "ab" * 32, made["token"],
                               made["expires_at"]).encode()
        refused = hcinode(tmp_path, "join", wrong, "--state-dir", str(tmp_path / "node"), "--no-start")
        assert refused.returncode == 2, refused.stderr
        assert "not the pinned sha256:" + "ab" * 32 in refused.stderr
        assert not (tmp_path / "node").exists()
        joined = hcinode(tmp_path, "join", made["join"], "--state-dir", str(tmp_path / "node"), "--no-start",
                         "--json")
        assert joined.returncode == 0, joined.stderr
        host = json.loads(joined.stdout)
        assert host["ca_pin"] == made["ca_pin"]
        once = hcinode(tmp_path, "agent", "--state-dir", str(tmp_path / "node"), "--once", "--json")
        assert once.returncode == 0, once.stderr + once.stdout
        assert json.loads(once.stdout)["status"] == "Up"
        listed = {x["name"]: x for x in json.loads(engine.cli("hosts", "list", "--json").stdout)}
        assert listed[host["name"]]["status"] == "Up"
        again = hcinode(tmp_path, "join", made["join"], "--state-dir", str(tmp_path / "other"), "--no-start")
        assert again.returncode == 2 and "unknown, expired or used up" in again.stderr
        log = (tmp_path / "node.log").read_text()
        assert made["token"] not in log and made["join"] not in log
