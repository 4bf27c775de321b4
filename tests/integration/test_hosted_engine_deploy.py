"""The hosted-engine deploy for real (issue 14, "Tests" bullet 2) on three namespaced hosts
(tests/integration/nshosts.py with virt=True): glusterd replica 3 engine volume with `group virt`
over the three hosts (`hcinode gluster deploy`'s code, as test_gluster.py), libvirtd + virtlogd +
sanlock in every host's private mount namespace, the management bridge `ovirtmgmt` in host 1's
network namespace on the hosts' 198.51.100.0/24 subnet.

`hcinode hosted-engine deploy SPEC` runs inside host 1's namespaces and does everything itself:
preflight, the engine disk converted onto the Gluster volume, lockspace/lease/metadata, seed,
define + start with the lease, /health, enrol (agent/join). Then, in order (the module's tests share
one cluster and one deploy; run with -x):

- the engine is healthy over its pinned TLS, host 1 is Up in the engine (admin API), `hosted-engine
  status --json` shows host 1 with the engine up;
- a re-run of the deploy changes nothing (every step skipped);
- the same domain (its own overlay, the same <lease>) started on host 2 is refused by the lease (-243);
- the engine's qemu killed -> the HA agent (`hosted-engine agent`, started by the deploy through the
  harness's systemctl shim) restarts it and the engine is healthy again.

The bad inputs of item 6 (a volume that is not replica 3, an FQDN that does not resolve, a busy IP)
run through the CLI against the real volume first: exit 2 naming the field, nothing changed.

The engine VM boots under TCG (test.allow_tcg) here: marked integration_vm and e2e_full (make
e2e's one deploy is test_hosted_engine_ha.py's, with a re-run and the canary), run it as
`flock /tmp/hcinode-vm.lock .venv/bin/pytest -q tests/integration/test_hosted_engine_deploy.py -x`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def vm(test: Any) -> Any:
    """Boots the engine VM (run under flock /tmp/hcinode-vm.lock). make e2e-full only: make e2e's one
    deploy is test_hosted_engine_ha.py's, which deploys, re-runs, searches the canary and fails over."""
    return pytest.mark.e2e_full(pytest.mark.integration_vm(test))


TOOLS = ("glusterd", "gluster", "nsenter", "unshare", "libvirtd", "virtlogd", "sanlock", "virsh", "qemu-img",
         "cloud-localds", "qemu-system-x86_64")
if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS) or not os.path.exists("/usr/sbin/sshd"):
    pytest.skip("needs root, glusterfs-server, openssh-server, libvirt-daemon-system, libvirt-sanlock, sanlock, "
                "qemu-system-x86, cloud-image-utils", allow_module_level=True)

from tests.integration import hosted_engine_hosts as he  # noqa: E402
from tests.integration.hosted_engine_hosts import DOMAIN, FQDN, HE_STATE, IO_TIMEOUT  # noqa: E402
from tests.integration.nshosts import HCINODE, REPO, NsCluster, NsHost  # noqa: E402


@pytest.fixture(scope="module")
def cluster() -> Iterator[NsCluster]:
    with he.cluster() as c:
        yield c


@pytest.fixture(scope="module")
def volume(cluster: NsCluster) -> str:
    return he.make_volume(cluster)


@pytest.fixture(scope="module")
def he_spec(cluster: NsCluster, volume: str) -> str:
    return he.write_he_spec(cluster)


def snapshot(host: NsHost) -> dict[str, str]:
    """What a refused deploy must not change on host 1 and on the volume."""
    return {
        "hosts": host.sh("cat /etc/hosts").stdout,
        "fstab": host.sh("cat /etc/fstab").stdout,
        "volume": host.sh("ls -A /run/glusterSD/engine").stdout,
        "state": host.sh("find /var/lib/hcinode | sort").stdout,
        "domains": host.run("virsh", "list", "--all", "--name").stdout,
        "sanlock": host.run("sanlock", "client", "status").stdout,
    }


def test_the_harness_runs_libvirtd_and_sanlock_in_every_host(cluster: NsCluster, volume: str) -> None:
    for host in cluster.hosts:
        assert host.run("virsh", "uri").stdout.strip() == "qemu:///system"
        assert host.run("sanlock", "client", "status").ok
        assert "/run/glusterSD/engine fuse.glusterfs" in host.sh("cat /proc/self/mounts").stdout
        # the per-host libvirt config (the lease through sanlock), not the machine's
        assert 'lock_manager = "sanlock"' in host.sh("cat /etc/libvirt/qemu.conf").stdout
    h1, h2, _ = cluster.hosts
    assert "ovirtmgmt" in h1.run("ip", "-br", "link").stdout
    assert h2.run("ping", "-c", "1", "-W", "2", h1.address, check=False).ok  # through host 1's bridge
    info = h1.run("gluster", "volume", "info", "engine").stdout
    assert "Number of Bricks: 1 x 3 = 3" in info and "performance.strict-o-direct: on" in info


@pytest.mark.parametrize(("case", "changes", "field"), [
    ("not replica 3", {"storage__volume": "single"}, "storage.volume"),
    ("fqdn unresolvable", {"engine__fqdn": "nowhere.hcinode.test", "engine__hosts": None}, "engine.fqdn"),
    ("busy ip", {"network__ip": "198.51.100.12", "engine__hosts": {FQDN: "198.51.100.12"}}, "network.ip"),
])
def test_bad_inputs_exit_2_naming_the_field_and_change_nothing(cluster: NsCluster, he_spec: str, case: str,
                                                               changes: dict[str, Any], field: str) -> None:
    h1 = cluster.hosts[0]
    if case == "not replica 3" and "single" not in h1.run("gluster", "volume", "list").stdout:
        h1.sh("mkdir -p /run/gluster_bricks/single && gluster volume create single "
              f"{h1.address}:/run/gluster_bricks/single/b force && gluster volume start single", timeout=60)
    path = he.write_spec(cluster, f"bad-{case.replace(' ', '-')}.yaml", he.he_spec_data(cluster, **changes))
    before = snapshot(h1)
    result = h1.hcinode("hosted-engine", "deploy", path, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert field in result.stderr, result.stderr
    assert snapshot(h1) == before


def test_dry_run_passes_preflight(cluster: NsCluster, he_spec: str) -> None:
    result = cluster.hosts[0].hcinode("hosted-engine", "deploy", he_spec, "--dry-run", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "qemu-img convert" in result.stdout or "Copy the appliance" in result.stdout


# ---------------------------------------------------------------- the deploy (boots the engine VM)

def admin_get(cluster: NsCluster, path: str) -> tuple[int, Any]:
    return he.admin_api(cluster, "GET", path)


engine_healthy = he.engine_healthy
deployment_dir = he.deployment_dir
qemu_pid = he.qemu_pid


@vm
def test_a_deploy_killed_during_the_disk_copy_resumes(cluster: NsCluster, he_spec: str) -> None:
    """Killed (its whole process group, as Ctrl+C or a dropped ssh session would) while qemu-img
    writes engine.qcow2.partial: no whole-looking disk is left, and the next run resumes (the
    test after this one is that run)."""
    h1 = cluster.hosts[0]
    deploy = subprocess.Popen([*h1.runner.prefix, "env", h1.path_env, HCINODE, "hosted-engine", "deploy", he_spec],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    try:
        while not (deployment_dir(cluster) and
                   h1.run("test", "-s", deployment_dir(cluster) + "/engine.qcow2.partial", check=False).ok):
            assert deploy.poll() is None, deploy.stdout.read() if deploy.stdout else ""
            assert time.monotonic() < deadline, "the disk copy never started"
            time.sleep(0.2)
    finally:
        os.killpg(deploy.pid, signal.SIGKILL)
        deploy.wait(30)
    directory = deployment_dir(cluster)
    assert not h1.run("test", "-e", directory + "/engine.qcow2", check=False).ok
    assert h1.run("virsh", "list", "--all", "--name").stdout.strip() == ""
    assert h1.sh("ls /var/lib/hcinode/journal/hosted-engine-*.jsonl").ok  # open: the next run resumes


@vm
def test_deploy_makes_a_healthy_engine_with_this_host_up(cluster: NsCluster, he_spec: str) -> None:
    h1 = cluster.hosts[0]
    out = he.deploy(cluster, he_spec)
    # the resume: what the killed run finished is not done again
    assert out["skipped"] >= 3 and "Make the deployment directory on the engine volume" not in out["timings"]
    assert engine_healthy(cluster)
    assert h1.run("virsh", "domstate", DOMAIN).stdout.strip() == "running"
    mine = he.wait_host_up(cluster, h1, 1, timeout=120)  # the node agent's first heartbeat makes the host Up
    assert mine["sanlock_host_id"] == 1
    me = he.wait_engine_up_in_status(h1, 1, timeout=90)  # the HA agent writes its slot every 10 s
    assert me["engine_status"]["health"] == "good" and me["score"] > 0, me


@vm
def test_a_rerun_changes_nothing(cluster: NsCluster, he_spec: str) -> None:
    result = cluster.hosts[0].hcinode("hosted-engine", "deploy", he_spec, "--json", timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["done"] == 0 and out["skipped"] > 0, out


@vm
def test_a_second_host_is_refused_by_the_lease(cluster: NsCluster, he_spec: str) -> None:
    h1, h2, _ = cluster.hosts
    dep = h1.sh(f"cat {HE_STATE}/host.json").stdout
    directory = os.path.join("/run/glusterSD/engine/hosted-engine", json.loads(dep)["deployment"])
    xml = h1.sh(f"cat {directory}/vm.xml").stdout
    # host 2 joins the lockspace as host id 2 (as the HA agent there would), then starts the same
    # domain (the same <lease>) on a disk of its own: QEMU's image lock refuses the running engine's
    # disk, and an overlay on it, before libvirt asks sanlock for the lease (at the CPUs' start)
    overlay = f"/run/he-own-disk-{h2.index}.qcow2"
    h2.run("qemu-img", "create", "-f", "qcow2", overlay, "4G")
    python = os.path.join(REPO, ".venv", "bin", "python")
    h2.run(python, "-c", "import sys; from hosted_engine import lockspace as l; "
           "l.join_lockspace(path=sys.argv[1], host_id=2, io_timeout=int(sys.argv[2]))",
           f"{directory}/lockspace", str(IO_TIMEOUT), timeout=300)
    mine = re.sub(r"<source file=['\"][^'\"]*engine\.qcow2['\"]", f"<source file='{overlay}'", xml)
    mine = re.sub(r"<interface type=['\"]bridge['\"].*?</interface>", "", mine, flags=re.S)  # no bridge on host 2
    mine = re.sub(r"<log file=['\"][^'\"]*['\"]", "<log file='/var/log/libvirt/qemu/he-h2.log'", mine)
    Path(cluster.workdir, "h2-vm.xml").write_text(mine)
    r = h2.run("virsh", "create", os.path.join(cluster.workdir, "h2-vm.xml"), check=False, timeout=120)
    assert not r.ok, "host 2 started the engine while host 1 runs it"
    assert "Lease is held by another host" in r.stderr or "-243" in r.stderr, r.stderr
    assert h1.run("virsh", "domstate", DOMAIN).stdout.strip() == "running"


@vm
def test_the_ha_agent_restarts_a_killed_engine(cluster: NsCluster, he_spec: str) -> None:
    h1 = cluster.hosts[0]
    pid = qemu_pid(h1)
    assert pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    deadline = killed + 900
    while not (qemu_pid(h1) not in (0, pid) and engine_healthy(cluster)):
        assert time.monotonic() < deadline, h1.sh("tail -30 /var/log/hcinode/hcinode-hosted-engine-ha.service.log",
                                                  check=False).stdout
        time.sleep(10)
    print(f"\nengine healthy again {time.monotonic() - killed:.0f} s after its qemu was killed")



@vm
def test_the_admin_password_is_nowhere_but_its_own_file(cluster: NsCluster, he_spec: str) -> None:
    he.assert_admin_password_nowhere(cluster)
