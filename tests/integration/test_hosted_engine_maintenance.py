"""`hcinode hosted-engine maintenance global|none` and `reinitialize-lockspace` for real: a sanlock
daemon (-w 0, as tests/integration/test_hosted_engine_sanlock.py runs it), a lockspace, VM lease
and metadata file on XFS (O_DIRECT), the CLI run as a process. No VM boots: libvirt and systemd
are shims (`virsh domstate` says shut off; `systemctl` accepts enable/disable and reports units
inactive).
Proves: global maintenance is written only by a host holding its id, reinitialize-lockspace is
refused outside global maintenance and without --yes, then rewrites the lockspace, clears the
corrupt and foreign slots, keeps global maintenance on and holds the host id again; `none` ends it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

if os.geteuid() != 0 or not shutil.which("sanlock") or not shutil.which("mkfs.xfs"):
    pytest.skip("needs root, sanlock and xfsprogs", allow_module_level=True)

from hosted_engine import metadata as md  # noqa: E402
from tests.integration.test_hosted_engine_sanlock import IO_TIMEOUT, Host  # noqa: E402
from tests.integration.xfs_loop import xfs_mount  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENT = "0f6e3c2a-5555-4222-8333-444444444444"
SHIMS = {
    "virsh": "#!/bin/sh\necho 'shut off'\n",
    "systemctl": '#!/bin/sh\ncase "$1" in enable|disable) exit 0;; *) exit 3;; esac\n',
}


class Node:
    def __init__(self, work: str, mnt: str) -> None:
        self.sanlock = Host("node1", work)
        self.dir = os.path.join(mnt, "hosted-engine", DEPLOYMENT)
        os.makedirs(self.dir)
        shims = os.path.join(work, "bin")
        os.makedirs(shims)
        for name, text in SHIMS.items():
            Path(shims, name).write_text(text)
            os.chmod(os.path.join(shims, name), 0o755)
        state = Path(work, "state")
        (state / "hosted-engine").mkdir(parents=True)
        (state / "hosted-engine" / "host.json").write_text(json.dumps(
            {"host_id": 1, "deployment": DEPLOYMENT, "mount": mnt}))
        Path(self.dir, "deployment.json").write_text(json.dumps(
            {"engine_fqdn": "engine.example.test", "io_timeout": IO_TIMEOUT, "sector_size": 512}))
        Path(self.dir, "vm.xml").write_text("<domain><name>HostedEngine</name></domain>")
        self.metadata = md.MetadataFile(os.path.join(self.dir, "metadata"))  # O_DIRECT on XFS, no fallback
        self.metadata.create()
        self.env = {**self.sanlock.env, "PATH": f"{shims}:{os.environ['PATH']}", "HCINODE_STATE_DIR": str(state),
                    "HCINODE_RUN_DIR": os.path.join(work, "run"), "HCINODE_LOG_DIR": os.path.join(work, "log")}

    def hcinode(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nodecore.cli", "hosted-engine", *args], env=self.env,
                              cwd=REPO, capture_output=True, text=True, timeout=300)

    def joined(self) -> bool:
        out = subprocess.run(["sanlock", "client", "status"], env=self.env, capture_output=True, text=True,
                             timeout=30)
        return f"s hosted-engine:1:{self.dir}/lockspace:0" in out.stdout.splitlines()


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    work = tempfile.mkdtemp(prefix="hcinode-he-maint-")
    with xfs_mount() as mnt:
        n = Node(work, mnt)
        try:
            yield n
        finally:
            n.sanlock.stop()
            shutil.rmtree(work, ignore_errors=True)


def test_maintenance_and_reinitialize_lockspace(node: Node) -> None:
    assert node.sanlock.call("init", node.dir, 1, 512) == {"ok": True}
    # not holding host id 1 yet: no metadata write
    refused = node.hcinode("maintenance", "global")
    assert refused.returncode == 2 and "does not hold its host id 1" in refused.stderr
    assert node.sanlock.call("join", node.dir, 1) == {"joined": True}

    done = node.hcinode("maintenance", "global")
    assert done.returncode == 0, done.stderr
    assert md.global_maintenance(node.metadata.read_all(DEPLOYMENT)) is True

    # garbage after a "power loss": a torn slot and another deployment's record
    node.metadata.write_block(5, {"kind": "host", "host_id": 5})
    node.metadata.write_host(md.HostSlot(6, "node6", "another-deployment", 1.0, 1, 3400, "EngineDown", "down",
                                         "unknown", "none"))
    status = json.loads(node.hcinode("status", "--json").stdout)
    assert status["global_maintenance"] is True
    assert [h["problem"].split(":")[0] for h in status["hosts"]] == ["corrupt", "foreign"]

    asked = node.hcinode("reinitialize-lockspace")
    assert asked.returncode == 2 and "re-run with --yes" in asked.stderr
    done = node.hcinode("reinitialize-lockspace", "--yes")
    assert done.returncode == 0, done.stderr
    reads = node.metadata.read_all(DEPLOYMENT)
    assert [r.status for r in reads[5:7]] == ["empty", "empty"] and md.global_maintenance(reads) is True
    assert node.joined()  # the rewritten lockspace, host id 1 held again

    done = node.hcinode("maintenance", "none")
    assert done.returncode == 0, done.stderr
    assert md.global_maintenance(node.metadata.read_all(DEPLOYMENT)) is False
    refused = node.hcinode("reinitialize-lockspace", "--yes")
    assert refused.returncode == 2 and "maintenance global, then re-run" in refused.stderr
