"""The Gluster LVM brick path for real: `hcinode gluster deploy` with `lvm: true` in a VM booted
from our node ISO (its Debian kernel has device-mapper, which the CI machine's kernel lacks, so
tests/integration/test_gluster.py can only run `lvm: false` there).

One VM (TCG), two blank sparse virtio disks. Inside the guest: a storage address on a dummy
interface (198.51.100.10; Gluster refuses loopback bricks), sshd and glusterd started, a root key
authorized for root, and the guest's real ed25519 host key fingerprint in the spec, so deploy goes
the product path: ssh with a verified host key to the node itself. Single node, replica 1 (the
spec allows it with a warning). Checked inside the guest: the PV/VG, the thick engine LV, the thin
pool (--zero n, chunk 256K) and thin LVs; XFS bricks with isize=512 mounted by UUID from fstab;
volumes started with the virt group + HCI options; a file written through the FUSE mount is on
the brick; a re-run of deploy changes nothing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.e2e.vm import VM, Disk, make_disk, root_shell

ADDRESS = "198.51.100.10"
VG = "hci_vg"
# started as root from the rescue shell; everything stays inside the guest
GUEST_SETUP = f"""\
set -e
modprobe dummy 2>/dev/null || true
ip link add hcistor0 type dummy
ip link set lo up
ip link set hcistor0 up
ip addr add {ADDRESS}/24 dev hcistor0
test -s /etc/ssh/ssh_host_ed25519_key || ssh-keygen -A
mkdir -p /run/sshd
systemctl start ssh || /usr/sbin/sshd
systemctl start glusterd || glusterd
for i in $(seq 120); do gluster --mode=script pool list >/dev/null 2>&1 && break; sleep 1; done
gluster --mode=script pool list
mkdir -p -m 700 /root/.ssh
test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519
cat /root/.ssh/id_ed25519.pub >> /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
echo "HOSTKEY=$(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | awk '{{print $2}}')"
"""


def spec(host_key: str) -> dict[str, object]:
    return {
        "hosts": [{"address": ADDRESS, "host_key": host_key, "disks": ["/dev/vda", "/dev/vdb"], "vg_name": VG}],
        "replica": 1,
        # a thick engine LV sized small, two thin LVs in a thin pool that spans both disks
        "volumes": [{"name": "engine", "size": "512M", "thin": False},
                    {"name": "data", "size": "2G"},
                    {"name": "vmstore", "size": "2G"}],
        "thin_pool": {"size": "3G", "metadata_size": "16M"},
        "lvm": True,
        # ssh-keyscan takes ~7 s per key type on a TCG guest (measured), far over a real host's
        "ssh": {"connect_timeout": 60},
    }


def qemu_cpu_seconds(vm) -> float:  # type: ignore[no-untyped-def]
    """QEMU's user+system CPU time so far: a load-independent measure of the TCG work."""
    try:
        fields = Path(f"/proc/{vm.child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100
    except (OSError, IndexError, ValueError):
        return -1.0


# 262 s in all on a quiet machine (QEMU CPU 263 s: rescue shell 61 s, deploy 105 s, no-op re-run
# 50 s); about twice that with three other TCG VMs running on the two cores
@pytest.mark.e2e
@pytest.mark.e2e_full  # ~5 min; moved out of make e2e to keep CI under 60 min
def test_gluster_deploy_lvm_thin_bricks_in_node_vm(vm_factory: Callable[..., VM], node_iso: Path,
                                                   tmp_path: Path) -> None:
    disks = [Disk(make_disk(tmp_path / f"brick{i}.qcow2", "5G")) for i in range(2)]
    vm = vm_factory("gluster-lvm", boot="kernel", iso=node_iso, memory=2560, disks=disks,
                    kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1"])
    vm.start()
    root_shell(vm)
    booted = vm.seconds_since_start()
    vm.ok("grep -w device-mapper /proc/misc; lsblk -dno NAME,SIZE /dev/vda /dev/vdb")

    stale = vm.stale_files("gluster_setup")
    assert not stale, f"build/node.iso is older than the tree ({stale}): run make iso"
    vm.put_file("/root/setup.sh", GUEST_SETUP)
    out = vm.ok("sh /root/setup.sh", timeout=600)
    host_key = re.findall(r"HOSTKEY=(SHA256:\S+)", out)[-1]
    vm.put_file("/root/spec.yaml", yaml.safe_dump(spec(host_key)))

    started = time.monotonic()
    out = vm.ok("hcinode gluster deploy /root/spec.yaml 2>&1 | tail -n 60; exit_code=${PIPESTATUS[0]}; "
                 "test $exit_code = 0", timeout=1800)
    deploy_seconds = time.monotonic() - started
    print(out)

    # LVM: thick engine LV, thin pool without zeroing (attr[7] is '-', not 'z'), thin LVs in it
    rows = vm.lvs(VG, "lv_name,lv_attr,segtype,pool_lv,chunk_size,lv_size")
    pool = rows["gluster_thinpool"]
    assert pool[1].startswith("twi-a") and pool[1][7] == "-" and pool[2] == "thin-pool", rows
    assert pool[4] == "0.25m", rows  # 256K chunk on JBOD
    engine = rows["gluster_lv_engine"]
    assert engine[1].startswith("-wi-ao") and engine[2] == "linear" and engine[5] == "512.00m", rows
    for name in ("gluster_lv_data", "gluster_lv_vmstore"):
        assert rows[name][1].startswith("Vwi-aot") and rows[name][2] == "thin", rows
        assert rows[name][3] == "gluster_thinpool" and rows[name][5] == "2048.00m", rows
    pvs = vm.ok("pvs --noheadings -o pv_name,vg_name,pe_start --units k --nosuffix")
    starts = dict(re.findall(rf"^\s*(/dev/vd[ab])\s+{VG}\s+([0-9.]+)\s*$", pvs, re.M))
    # data starts on a 256K boundary (--dataalignment 256k; LVM's 1M default is one, measured 1024k)
    assert set(starts) == {"/dev/vda", "/dev/vdb"} and all(float(v) % 256 == 0 for v in starts.values()), pvs

    # bricks: XFS with 512-byte inodes, in fstab by UUID, mounted
    fstab = vm.ok("cat /etc/fstab")
    for vol in ("engine", "data", "vmstore"):
        device = f"/dev/{VG}/gluster_lv_{vol}"
        uuid = vm.ok(f"blkid -p -o value -s UUID {device}").strip().splitlines()[-1]
        assert re.search(rf"^UUID={uuid}\s+/gluster_bricks/{vol}\s+xfs\s+inode64,noatime", fstab, re.M), fstab
        info = vm.ok(f"xfs_info /gluster_bricks/{vol}")
        assert "isize=512" in info and "bsize=8192" in info, info  # -i size=512 -n size=8192
        mounted = vm.ok(f"findmnt -no FSTYPE,MAJ:MIN /gluster_bricks/{vol}; "
                         f"lsblk -dno MAJ:MIN {device}").split()
        assert mounted[0] == "xfs" and mounted[1] == mounted[2], mounted
        assert vm.ok(f"stat -c %u:%g /gluster_bricks/{vol}/{vol}").split()[-1] == "36:36"

    # volumes: started, the virt group (sharding, eager lock) and the HCI options
    for vol in ("engine", "data", "vmstore"):
        info = vm.ok(f"gluster volume info {vol}")
        assert "Status: Started" in info and "Number of Bricks: 1" in info, info
        assert f"Brick1: {ADDRESS}:/gluster_bricks/{vol}/{vol}" in info, info
        for option in ("features.shard: on", "cluster.eager-lock: enable", "network.ping-timeout: 30",
                       "performance.strict-o-direct: on", "storage.owner-uid: 36", "storage.owner-gid: 36"):
            assert option in info, f"{vol}: {option} missing:\n{info}"

    # a file through the FUSE mount lands on the brick (on the thin LV)
    vm.ok("findmnt -no FSTYPE /mnt/glusterSD/data | grep -qx fuse.glusterfs && "
           "dd if=/dev/urandom of=/root/probe bs=64k count=16 status=none && "
           "cp /root/probe /mnt/glusterSD/data/probe && sync", timeout=300)
    sums = vm.ok("md5sum /root/probe /mnt/glusterSD/data/probe /gluster_bricks/data/data/probe")
    assert len(set(re.findall(r"^([0-9a-f]{32})\s", sums, re.M))) == 1, sums
    assert len(re.findall(r"^[0-9a-f]{32}\s", sums, re.M)) == 3, sums

    # a re-run changes nothing: every step's check says it is done
    started = time.monotonic()
    out = vm.ok("hcinode gluster deploy /root/spec.yaml --json > /root/rerun.json 2>/root/rerun.err; "
                 "rc=$?; python3 -c 'import json; s=open(\"/root/rerun.json\").read(); "
                 "d=json.loads(s[s.index(\"{\"):]); "
                 "print(\"RERUN\", json.dumps({k: d.get(k) for k in (\"changed\", \"done\", \"skipped\")}))'; "
                 "test $rc = 0",
             timeout=900)
    rerun_seconds = time.monotonic() - started
    rerun = json.loads(re.findall(r"RERUN (\{.*\})", out)[-1])
    assert rerun["changed"] is False, out
    assert not rerun["done"] and rerun["skipped"] == 31, out  # 16 brick + 12 cluster + 3 mount steps

    print(f"\ne2e gluster lvm: rescue shell after {booted:.0f} s; deploy (3 volumes, lvm thin) "
          f"{deploy_seconds:.0f} s; no-op re-run {rerun_seconds:.0f} s; QEMU CPU {qemu_cpu_seconds(vm):.0f} s")
    vm.kill()
