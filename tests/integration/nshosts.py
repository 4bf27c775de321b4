"""Namespaced test hosts: several "machines" on this one, each a network namespace on a private
bridge plus a private mount namespace with its own glusterd, sshd, /run, /var/lib/glusterd,
/var/log/glusterfs and /etc/lvm (an LVM devices file that lists only its own loop devices).

Only the harness's own setup uses namespace runners; the product under test reaches the hosts
over real ssh (verified host keys) like it would reach real machines. Addresses are
198.51.100.0/24 (TEST-NET-2) on a bridge the harness creates and deletes; nothing leaves it.

`NsCluster(virt=True)` adds, per host, libvirtd + virtlogd + sanlock in the host's mount namespace
(DESIGN.md "Measured facts for the harness"): private /etc/libvirt (qemu.conf with the sanlock lock
manager and no cgroups), /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt, /var/lib/hcinode,
/var/log/hcinode, /etc/hosts and /etc/fstab; `bridges={1: "ovirtmgmt"}` puts a host's address on a
bridge in its network namespace (its veth a port of it), so a VM's NIC there reaches the others. The
hosts have no systemd: a `systemctl` shim on the PATH of `NsHost.hcinode` runs the product's units
(the HA agent, the node agent) as plain processes in the host.

Cleanup is thorough and bounded, and runs even when setup failed halfway: client mounts are
lazily unmounted, every process that lives in a host's mount namespace (all started by us:
the holder, glusterd, bricks, sshd and its sessions, FUSE clients) is killed by pid, loop devices
are detached, the namespaces, veths and bridge deleted and the work directory removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from nodecore.errors import CommandFailed
from nodecore.runner import CommandResult, HostRunner, LocalRunner

SUBNET = "198.51.100"
BRIDGE_ADDRESS = f"{SUBNET}.254"
TIMEOUT = 60.0
LOCK_PATH = "/tmp/hcinode-nshosts.lock"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HCINODE = os.path.join(REPO, ".venv", "bin", "hcinode")
# per-host copies bind-mounted over these in the host's mount namespace (virt=True)
VIRT_DIRS = ("/var/lib/libvirt", "/var/log/libvirt", "/var/cache/libvirt", "/var/lib/hcinode", "/var/log/hcinode")
QEMU_CONF_EXTRA = (
    "\n# hcinode test harness (DESIGN.md): no cgroups in a namespaced host; the VM lease through sanlock\n"
    'cgroup_controllers = [ ]\nlock_manager = "sanlock"\n')
QEMU_SANLOCK_CONF = "auto_disk_leases = 0\nrequire_lease_for_disks = 0\n"
# units the product enables (no systemd in a namespaced host): run as processes, pid files in /run
UNITS = {"hcinode-hosted-engine-ha.service": "hosted-engine agent", "hcinode-agent.service": "agent"}
SYSTEMCTL_SHIM = """#!/bin/sh
# systemctl for a namespaced test host (no systemd): the product's units as plain processes
quiet=; now=; verb=
for a; do case $a in --quiet|-q) quiet=1;; --now) now=1;; -*) ;; *) [ -z "$verb" ] && verb=$a || unit=$a;; esac; done
d=/run/hcinode-units; mkdir -p $d
# the units log where a node's do (the host's own /var/log/hcinode), not into the test run's log dir
export HCINODE_LOG_DIR=/var/log/hcinode
case $unit in
{cases}
*) echo "systemctl shim: unknown unit $unit" >&2; exit 1;;
esac
pid=$(cat $d/$unit.pid 2>/dev/null)
alive() {{ [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }}
case $verb in
enable|start) [ "$verb" = enable ] && touch $d/$unit.enabled
  if [ "$verb" = start ] || [ -n "$now" ]; then alive || {{
    setsid {hcinode} $args >>/var/log/hcinode/$unit.log 2>&1 </dev/null & echo $! > $d/$unit.pid; }}; fi;;
disable|stop) [ "$verb" = disable ] && rm -f $d/$unit.enabled
  if [ "$verb" = stop ] || [ -n "$now" ]; then alive && kill "$pid"; rm -f $d/$unit.pid; fi;;
is-active) alive || {{ [ -n "$quiet" ] || echo inactive; exit 3; }}; [ -n "$quiet" ] || echo active;;
is-enabled) test -e $d/$unit.enabled || {{ [ -n "$quiet" ] || echo disabled; exit 1; }};;
restart) alive && kill "$pid"; setsid {hcinode} $args >>/var/log/hcinode/$unit.log 2>&1 </dev/null &
  echo $! > $d/$unit.pid;;
*) echo "systemctl shim: unsupported verb $verb" >&2; exit 1;;
esac
"""


@dataclass
class NsHost:
    index: int
    prefix: str
    workdir: str
    address: str
    netns: str
    holder_pid: int = 0
    loops: list[str] = field(default_factory=list)
    host_key_fingerprint: str = ""
    bridge: str = ""  # a bridge in the host's network namespace holding its address ("" none)

    @property
    def name(self) -> str:
        return f"{self.prefix}-h{self.index}"

    @property
    def bin_dir(self) -> str:
        """The systemctl shim (first on PATH of hcinode())."""
        return os.path.join(self.workdir, "bin")

    @property
    def path_env(self) -> str:
        """PATH=... for the product in this host: the shim dir first."""
        return f"PATH={self.bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"

    def hcinode(self, *args: str, check: bool = False, timeout: float = 900) -> CommandResult:
        """The product's CLI in this host's namespaces, as root there (its PATH starts with the shim dir)."""
        return self.run("env", self.path_env, HCINODE, *args, check=check, timeout=timeout)

    def python(self, script: str, *args: str, check: bool = True, timeout: float = 900) -> CommandResult:
        """The product's Python (the repo's venv) running `script` in this host, PATH as hcinode()'s."""
        python = os.path.join(os.path.dirname(HCINODE), "python")
        return self.run("env", self.path_env, python, "-c", script, *args, check=check, timeout=timeout)

    @property
    def runner(self) -> HostRunner:
        return HostRunner.namespace(f"ns-{self.index}", netns=self.netns, mount_pid=self.holder_pid,
                                    inner=LocalRunner(default_timeout=TIMEOUT))

    def run(self, *argv: str, check: bool = True, timeout: float = TIMEOUT) -> CommandResult:
        return self.runner.run(list(argv), check=check, timeout=timeout)

    def sh(self, script: str, check: bool = True, timeout: float = TIMEOUT) -> CommandResult:
        return self.run("sh", "-c", script, check=check, timeout=timeout)


class NsCluster:
    """`with NsCluster(3, workdir) as cluster:` gives three hosts with glusterd and sshd running."""

    def __init__(self, count: int, workdir: str, *, disks_per_host: int = 1, disk_size: str = "1G",
                 prefix: str = "hcigt", virt: bool = False, bridges: dict[int, str] | None = None,
                 sanlock_io_timeout: int = 10) -> None:
        self.count = count
        self.virt = virt
        self.bridges = dict(bridges or {})
        self.sanlock_io_timeout = sanlock_io_timeout
        self.workdir = workdir
        self.disks_per_host = disks_per_host
        self.disk_size = disk_size
        self.prefix = prefix
        self.bridge = f"{prefix}br0"
        self.local = LocalRunner(default_timeout=TIMEOUT)
        self.hosts: list[NsHost] = []
        self.identity = os.path.join(workdir, "id_ed25519")

    # ------------------------------------------------------------ setup

    def __enter__(self) -> NsCluster:
        # one harness at a time on this machine: every run uses the same subnet, bridge and host names
        # (two worktrees' test runs at once killed each other's glusterd and ssh sessions)
        self._lock = open(LOCK_PATH, "w")  # noqa: SIM115 (held until __exit__)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            self.start()
        except BaseException:
            self.cleanup()
            self._lock.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.cleanup()
        finally:
            self._lock.close()

    def run(self, *argv: str, check: bool = True, timeout: float = TIMEOUT) -> CommandResult:
        return self.local.run(list(argv), check=check, timeout=timeout)

    def start(self) -> None:
        self.cleanup_stale()
        os.makedirs(self.workdir, exist_ok=True)
        self.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "hcinode-test", "-f", self.identity)
        self.run("ip", "link", "add", self.bridge, "type", "bridge")
        self.run("ip", "addr", "add", f"{BRIDGE_ADDRESS}/24", "dev", self.bridge)
        self.run("ip", "link", "set", self.bridge, "up")
        for i in range(1, self.count + 1):
            self.add_host(i)

    def add_host(self, i: int) -> NsHost:
        host = NsHost(i, self.prefix, os.path.join(self.workdir, f"h{i}"), f"{SUBNET}.{10 + i}",
                      f"{self.prefix}-h{i}")
        self.hosts.append(host)
        os.makedirs(host.workdir, exist_ok=True)
        veth_out, veth_in = f"{self.prefix}{i}o", f"{self.prefix}{i}i"
        self.run("ip", "netns", "add", host.netns)
        self.run("ip", "link", "add", veth_out, "type", "veth", "peer", "name", veth_in)
        self.run("ip", "link", "set", veth_in, "netns", host.netns)
        self.run("ip", "link", "set", veth_out, "master", self.bridge, "up")
        ns = ("ip", "netns", "exec", host.netns)
        self.run(*ns, "ip", "link", "set", "lo", "up")
        holds_address = veth_in
        if i in self.bridges:
            # the address on a bridge with the veth as its port: a VM NIC on the bridge is on the subnet
            host.bridge = holds_address = self.bridges[i]
            self.run(*ns, "ip", "link", "add", host.bridge, "type", "bridge")
            self.run(*ns, "ip", "link", "set", veth_in, "master", host.bridge)
            self.run(*ns, "ip", "link", "set", host.bridge, "up")
        self.run(*ns, "ip", "addr", "add", f"{host.address}/24", "dev", holds_address)
        self.run(*ns, "ip", "link", "set", veth_in, "up")
        # the holder: a process whose private mount namespace is the host's; `$!` is its pid
        # because unshare execs sleep; output goes to /dev/null so run() returns at once
        started = self.run("sh", "-c", f"nsenter --net=/run/netns/{host.netns} unshare --mount "
                           "--propagation private sleep 86400 </dev/null >/dev/null 2>&1 & echo $!")
        host.holder_pid = int(started.stdout.strip())
        self._wait_holder(host)
        self._private_dirs(host)
        self._loops(host)
        self.start_glusterd(host)
        self._start_sshd(host)
        if self.virt:
            self._virt_dirs(host)
            self.start_virt(host)
        return host

    def _wait_holder(self, host: NsHost) -> None:
        deadline = time.monotonic() + 10
        own = os.readlink("/proc/self/ns/mnt")
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{host.holder_pid}/ns/mnt") != own:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"host {host.index}: mount namespace holder did not start")

    def _private_dirs(self, host: NsHost) -> None:
        w = host.workdir
        for sub in ("glusterd", "log", "run", "lvm", "run/sshd"):
            os.makedirs(os.path.join(w, sub), exist_ok=True)
        shutil.copytree("/var/lib/glusterd/groups", os.path.join(w, "glusterd", "groups"), dirs_exist_ok=True)
        if os.path.isdir("/var/lib/glusterd/hooks"):
            shutil.copytree("/var/lib/glusterd/hooks", os.path.join(w, "glusterd", "hooks"), dirs_exist_ok=True)
        # LVM: the host sees only the devices in its own devices file
        with open(os.path.join(w, "lvm", "lvm.conf"), "w", encoding="utf-8") as f:
            f.write("devices {\n  use_devicesfile = 1\n}\n")
        os.makedirs(os.path.join(w, "lvm", "devices"), exist_ok=True)
        open(os.path.join(w, "lvm", "devices", "system.devices"), "w").close()
        binds = [(f"{w}/glusterd", "/var/lib/glusterd"), (f"{w}/log", "/var/log/glusterfs"),
                 (f"{w}/lvm", "/etc/lvm"), (f"{w}/run", "/run")]
        script = " && ".join(f"mount --bind {src} {dst}" for src, dst in binds)
        if self.virt:
            # before the /etc/lvm bind, which then sits on the overlay
            script = self._etc_overlay(host) + " && " + script
        host.sh(script)

    def _etc_overlay(self, host: NsHost) -> str:
        """A writable private /etc for the host (overlay: the machine's /etc below, the host's changes
        in its workdir), with the libvirt settings of DESIGN.md in the upper layer."""
        upper, work = os.path.join(host.workdir, "etc-upper"), os.path.join(host.workdir, "etc-work")
        libvirt = os.path.join(upper, "libvirt")
        os.makedirs(libvirt, exist_ok=True)
        os.makedirs(work, exist_ok=True)
        extra = {"qemu.conf": QEMU_CONF_EXTRA,
                 "libvirtd.conf": '\nlog_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'}
        for name, text in extra.items():
            with open(f"/etc/libvirt/{name}", encoding="utf-8") as f:
                original = f.read()
            with open(os.path.join(libvirt, name), "w", encoding="utf-8") as f:
                f.write(original + text)
        with open(os.path.join(libvirt, "qemu-sanlock.conf"), "w", encoding="utf-8") as f:
            f.write(QEMU_SANLOCK_CONF)
        return f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"

    def _loops(self, host: NsHost) -> None:
        for d in range(self.disks_per_host):
            image = os.path.join(host.workdir, f"disk{d}.img")
            self.run("truncate", "-s", self.disk_size, image)
            loop = self.run("losetup", "-f", "--show", image).stdout.strip()
            host.loops.append(loop)
            host.run("lvmdevices", "--adddev", loop, "-y", check=False)

    def start_glusterd(self, host: NsHost) -> None:
        host.run("glusterd", "-p", "/run/glusterd.pid", "--log-file", "/var/log/glusterfs/glusterd.log")
        deadline = time.monotonic() + 30
        while not host.run("gluster", "pool", "list", check=False, timeout=10).ok:
            if time.monotonic() > deadline:
                raise RuntimeError(f"glusterd on host {host.index} did not come up")
            time.sleep(0.3)

    def _start_sshd(self, host: NsHost) -> None:
        key = os.path.join(host.workdir, "ssh_host_ed25519_key")
        self.run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
        shutil.copy(self.identity + ".pub", os.path.join(host.workdir, "authorized_keys"))
        config = os.path.join(host.workdir, "sshd_config")
        with open(config, "w", encoding="utf-8") as f:
            f.write(f"ListenAddress {host.address}\nHostKey {key}\nPidFile /run/sshd.pid\n"
                    f"AuthorizedKeysFile {host.workdir}/authorized_keys\nPermitRootLogin prohibit-password\n"
                    "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                    "MaxStartups 100\nMaxSessions 100\n")
        host.run("/usr/sbin/sshd", "-f", config)
        fp = self.run("ssh-keygen", "-l", "-E", "sha256", "-f", key + ".pub").stdout.split()[1]
        host.host_key_fingerprint = fp
        deadline = time.monotonic() + 10
        while not self.run("ssh-keyscan", "-T", "2", host.address, check=False).stdout.strip():
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd on host {host.index} did not come up")
            time.sleep(0.2)

    # ------------------------------------------------------------ libvirt + sanlock (virt=True)

    def _virt_dirs(self, host: NsHost) -> None:
        v = os.path.join(host.workdir, "virt")
        binds = []
        for target in VIRT_DIRS:
            # the bind's mount point: a machine without the product installed (or a test that removed
            # its state) lacks /var/lib/hcinode ("mount point does not exist", seen on this machine)
            os.makedirs(target, exist_ok=True)
            src = os.path.join(v, target.strip("/").replace("/", "-"))
            _copy_dir_tree(target, src)
            binds.append((src, target))
        # no autostarted libvirt networks (they would want dnsmasq and virbr0 in every host)
        host.sh(" && ".join(f"mount --bind {a} {b}" for a, b in binds) +
                " && rm -f /etc/libvirt/qemu/networks/autostart/*.xml")
        os.makedirs(host.bin_dir, exist_ok=True)
        cases = "\n".join(f"{unit}) args='{args}';;" for unit, args in UNITS.items())
        shim = os.path.join(host.bin_dir, "systemctl")
        with open(shim, "w", encoding="utf-8") as f:
            f.write(SYSTEMCTL_SHIM.format(cases=cases, hcinode=HCINODE))
        os.chmod(shim, 0o755)

    def start_virt(self, host: NsHost) -> None:
        """sanlock (unprivileged, no watchdog: test only), virtlogd and libvirtd in the host's mount
        namespace; libvirtd's sanlock plugin finds the daemon at the default /run/sanlock (private /run)."""
        host.sh(f"mkdir -p /run/sanlock && SANLOCK_PRIVILEGED=0 setsid sanlock daemon -D -w 0 -l 0 -h 0 -L -1 -S -1 "
                f"-e {host.name} -o {self.sanlock_io_timeout} </dev/null >>/var/log/hcinode/sanlock.log 2>&1 &")
        self._wait(host, ["sanlock", "client", "status"], 20, "sanlock")
        host.run("virtlogd", "-d")
        host.run("libvirtd", "-d")
        # the first API call probes qemu's capabilities (~7.5 s)
        self._wait(host, ["virsh", "-c", "qemu:///system", "uri"], 60, "libvirtd")

    @staticmethod
    def _wait(host: NsHost, argv: list[str], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not host.run(*argv, check=False, timeout=seconds).ok:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} on host {host.index} did not come up")
            time.sleep(0.3)

    # ------------------------------------------------------------ faults

    def gluster_pids(self, host: NsHost) -> list[int]:
        """glusterd, bricks and self-heal daemon of a host (from their pid files in its private /run)."""
        out = host.sh("cat /run/glusterd.pid; find /run/gluster -name '*.pid' -exec cat {} + 2>/dev/null",
                      check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]

    def kill_gluster(self, host: NsHost) -> list[int]:
        pids = self.gluster_pids(host)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        # SIGKILL is asynchronous: a brick still exiting holds its pidfile's lock, and a glusterd
        # started at that moment takes the brick for running and never restarts it (a heal that
        # then waited 120 s for a brick that was not there, once in make test)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        return pids

    # ------------------------------------------------------------ cleanup

    def _pids_in(self, host: NsHost) -> list[int]:
        """Every process of the host: in its mount namespace, or in its network namespace (libvirt
        runs each qemu in a mount namespace of its own: a cleanup by mount namespace alone left the
        engine's qemu running after the test)."""
        try:
            mnt = os.readlink(f"/proc/{host.holder_pid}/ns/mnt")
            net = os.readlink(f"/proc/{host.holder_pid}/ns/net")
        except OSError:
            return []
        own = os.getpid()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == own:
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/mnt") == mnt or os.readlink(f"/proc/{entry}/ns/net") == net:
                    pids.append(int(entry))
        return pids

    def stop_host(self, host: NsHost) -> None:
        if host.holder_pid:
            # lazy-unmount FUSE clients first so nothing blocks on a dead volume
            host.sh("awk '$3 ~ /fuse/ {print $2}' /proc/self/mounts | xargs -r -n1 umount -l", check=False,
                    timeout=20)
            for _ in range(3):
                pids = self._pids_in(host)
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
                time.sleep(0.2)
        for loop in host.loops:
            self.run("losetup", "-d", loop, check=False)
        host.loops.clear()
        self.run("ip", "netns", "del", host.netns, check=False)
        self.run("ip", "link", "del", f"{self.prefix}{host.index}o", check=False)

    def cleanup(self) -> None:
        for host in self.hosts:
            with contextlib.suppress(CommandFailed, OSError):
                self.stop_host(host)
        self.hosts.clear()
        self.run("ip", "link", "del", self.bridge, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def cleanup_stale(self) -> None:
        """Leftovers of a killed earlier run of this harness (same names): only ours, by name."""
        for i in range(1, 10):
            netns = f"{self.prefix}-h{i}"
            if os.path.exists(f"/run/netns/{netns}"):
                # its glusterd, bricks and sshd outlive a killed run and would answer the next one
                for pid in self.run("ip", "netns", "pids", netns, check=False).stdout.split():
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), 9)
                self.run("ip", "netns", "del", netns, check=False)
            self.run("ip", "link", "del", f"{self.prefix}{i}o", check=False)
        self.run("ip", "link", "del", self.bridge, check=False)
        out = self.run("losetup", "-a", check=False).stdout
        for line in out.splitlines():
            if self.workdir in line:
                self.run("losetup", "-d", line.split(":")[0], check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _copy_dir_tree(src: str, dst: str) -> None:
    """The directories of `src` (modes and owners, no files) under `dst`: what the packages made
    (e.g. /var/log/libvirt/qemu, where libvirt opens a VM's log and refuses to start it without)."""
    os.makedirs(dst, exist_ok=True)
    for root, _dirs, _files in os.walk(src):
        target = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(target, exist_ok=True)
        st = os.stat(root)
        os.chmod(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)


@contextlib.contextmanager
def ns_cluster(count: int, workdir: str, **kwargs: object) -> Iterator[NsCluster]:
    with NsCluster(count, workdir, **kwargs) as cluster:  # type: ignore[arg-type]
        yield cluster


def spec_data(cluster: NsCluster, hosts: Sequence[NsHost], volumes: Sequence[dict[str, object]]) -> dict[str, object]:
    """A gluster spec (YAML data) for these hosts: bricks straight on their loop devices."""
    return {
        "hosts": [{"address": h.address, "host_key": h.host_key_fingerprint, "disks": list(h.loops),
                   "vg_name": f"hcigt_vg{h.index}"} for h in hosts],
        "volumes": list(volumes),
        "lvm": False,
        "brick_root": "/run/gluster_bricks",
        "mount_root": "/run/glusterSD",
        "fstab": "/run/fstab",
        "ssh": {"identity": cluster.identity, "known_hosts": "", "connect_timeout": 5},
    }


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has let go of its files and locks)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
