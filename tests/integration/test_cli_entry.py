"""The installed `hcinode` console script, run as a real process on this machine."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

HCINODE = os.path.join(os.path.dirname(sys.executable), "hcinode")


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([HCINODE, *args], capture_output=True, text=True, timeout=60, env=env)


def test_facts_json_matches_lsblk_of_this_machine(tmp_path):
    proc = run("facts", "--json", env_extra={"HCINODE_LOG_DIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    facts = json.loads(proc.stdout)
    lsblk = json.loads(subprocess.run(["lsblk", "--json", "-d", "-b", "-o", "NAME,TYPE,SIZE"],
                                      capture_output=True, text=True, check=True).stdout)
    real = {d["name"]: d["size"] for d in lsblk["blockdevices"]
            if d["type"] == "disk" and not d["name"].startswith(("zram", "loop", "ram"))}
    assert {d["name"]: d["size"] for d in facts["disks"]} == real
    assert facts["nics"], "expected at least one NIC"
    assert os.path.exists(tmp_path / "hcinode.log")


def test_unknown_verb_is_a_usage_error():
    proc = run("no-such-verb")
    assert proc.returncode == 2
    assert "invalid choice" in proc.stderr
