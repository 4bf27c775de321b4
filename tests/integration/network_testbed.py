"""A real NetworkManager for tests, without systemd and without touching the host's network.

Layout (all created here and removed by `stop()`):

    netns <node>: NetworkManager 1.42 (private mount + UTS namespace: its own /etc/NetworkManager,
                  /var/lib/NetworkManager, /run/NetworkManager; /sys read-only so it does not wait
                  for udev, which does not run here), talking on a private system D-Bus
                  (dbus-daemon on a socket in the scratch dir), NICs eth0 and eth1
    netns <gw>:   the "switch + gateway": bridge br0 with g0 (peer of eth0), addresses 198.51.100.1/25
                  and 198.51.100.129/25 (two subnets, so a change of address and gateway can be tested);
                  g1 (peer of eth1) on its own bridge br1, so bridging eth0 and eth1 on the node makes no loop;
                  IPv6 2001:db8:100::1/64 (a static subnet's gateway) and 2001:db8:200::1/64, whose
                  prefix dnsmasq announces in router advertisements when a test asks for SLAAC

This machine's kernel has no VLAN (8021q) and no bonding support (CONFIG_VLAN_8021Q and
CONFIG_BONDING are not set, and there are no modules), so bonds and VLANs can only be activated in
the VM e2e test; here they prove that a failed activation rolls back.

Only 198.51.100.0/24 (TEST-NET-2) is used. NetworkManager is told not to manage DNS or the host
name, so the host's /etc/resolv.conf and host name stay untouched.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from nodecore.runner import CommandResult, LocalRunner

REPO = Path(__file__).resolve().parents[2]

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"""

NM_CONF = """[main]
plugins=keyfile
no-auto-default=*
dns=none
rc-manager=unmanaged
hostname-mode=none
systemd-resolved=false

[connectivity]
enabled=false

[logging]
level=INFO
"""

START_NM = """set -e
mount --make-rprivate /
mount -o remount,ro /sys
mount --bind {dir}/etc /etc/NetworkManager
mount --bind {dir}/lib /var/lib/NetworkManager
mkdir -p /run/NetworkManager
mount -t tmpfs tmpfs /run/NetworkManager
export DBUS_SYSTEM_BUS_ADDRESS={bus}
setsid NetworkManager --debug >{dir}/nm.log 2>&1 </dev/null &
# NetworkManager writes no pid file when it does not daemonize (--debug): record it here
echo $! > {dir}/nm.pid
"""


IPV6_GATEWAY = "2001:db8:100::1"
IPV6_SLAAC_ROUTER = "2001:db8:200::1"  # its /64 is what the router advertisements announce


class NMTestbed:
    def __init__(self, name: str = "") -> None:
        suffix = name or str(os.getpid())
        self.node = f"hcn-node-{suffix}"
        self.gw = f"hcn-gw-{suffix}"
        self.dir = Path(tempfile.mkdtemp(prefix="hcinode-nm-"))
        self.bus = f"unix:path={self.dir}/bus.sock"
        self.keyfiles = self.dir / "etc" / "system-connections"
        self.runner = LocalRunner(default_timeout=120)
        self.dbus_pid = 0
        self.macs = {"eth0": "52:54:00:51:00:01", "eth1": "52:54:00:51:00:02"}

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self) -> NMTestbed:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        run = self.runner.run
        for sub in ("etc/system-connections", "etc/conf.d", "lib", "state", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / "bus.conf").write_text(BUS_CONF.format(socket=f"{self.dir}/bus.sock"))
        (self.dir / "etc" / "NetworkManager.conf").write_text(NM_CONF)
        out = run(["dbus-daemon", f"--config-file={self.dir}/bus.conf", "--fork", "--print-pid"]).stdout
        self.dbus_pid = int(out.split()[0])
        run(["ip", "netns", "add", self.node])
        run(["ip", "netns", "add", self.gw])
        gw = ["ip", "-n", self.gw]
        run([*gw, "link", "set", "lo", "up"])
        run(["ip", "-n", self.node, "link", "set", "lo", "up"])
        for br in ("br0", "br1"):
            run([*gw, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
            run([*gw, "link", "set", br, "up"])
        for i in (0, 1):
            run(["ip", "link", "add", f"hcn{i}-{os.getpid() % 100000}", "address", self.macs[f"eth{i}"],
                 "netns", self.node, "type", "veth", "peer", "name", f"g{i}", "netns", self.gw])
            run(["ip", "-n", self.node, "link", "set", f"hcn{i}-{os.getpid() % 100000}", "name", f"eth{i}"])
            run([*gw, "link", "set", f"g{i}", "master", f"br{i}", "up"])
        run([*gw, "addr", "add", "198.51.100.1/25", "dev", "br0"])
        run([*gw, "addr", "add", "198.51.100.129/25", "dev", "br0"])
        # IPv6 (documentation prefixes): a static subnet with its gateway, and a prefix that
        # start_router_advertisements() announces for SLAAC (nodad: usable at once)
        for address in (IPV6_GATEWAY + "/64", IPV6_SLAAC_ROUTER + "/64"):
            run([*gw, "addr", "add", address, "dev", "br0", "nodad"])
        script = self.dir / "start-nm.sh"
        script.write_text(START_NM.format(dir=self.dir, bus=self.bus))
        run(["ip", "netns", "exec", self.node, "unshare", "--mount", "--uts", "sh", str(script)])
        deadline = time.monotonic() + 30
        while self.nmcli("-t", "-f", "RUNNING", "general").stdout.strip() != "running":
            if time.monotonic() > deadline:
                raise RuntimeError("NetworkManager did not come up:\n" + self.log_tail())
            time.sleep(0.3)

    def start_router_advertisements(self) -> None:
        """dnsmasq in the gateway namespace, router advertisements only (no DNS, no DHCP leases):
        the SLAAC prefix 2001:db8:200::/64 on br0, so an `ipv6: {method: auto}` profile gets an address."""
        self.runner.run(["ip", "netns", "exec", self.gw, "dnsmasq", "--conf-file=/dev/null", "--port=0",
                         "--interface=br0", "--bind-interfaces", "--enable-ra", "--leasefile-ro",
                         "--dhcp-range=2001:db8:200::,ra-only,64,10m", "--ra-param=br0,5,1800",
                         f"--pid-file={self.dir}/dnsmasq.pid", f"--log-facility={self.dir}/dnsmasq.log"])

    def stop_router_advertisements(self) -> None:
        pid_file = self.dir / "dnsmasq.pid"
        if pid_file.exists():
            self.runner.run(["kill", pid_file.read_text().strip()], check=False)
            pid_file.unlink()

    def stop(self) -> None:
        run = self.runner.run
        self.stop_router_advertisements()
        pid_file = self.dir / "nm.pid"
        if pid_file.exists():
            pid = pid_file.read_text().strip()
            run(["kill", pid], check=False)  # setsid execs NetworkManager: this is its pid
            deadline = time.monotonic() + 10
            while run(["kill", "-0", pid], check=False).ok and time.monotonic() < deadline:
                time.sleep(0.2)
        if self.dbus_pid:
            run(["kill", str(self.dbus_pid)], check=False)
        for ns in (self.node, self.gw):
            run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join((self.dir / "nm.log").read_text().splitlines()[-lines:])
        except OSError:
            return "(no NetworkManager log)"

    # --- helpers ----------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.bus, "HCINODE_STATE_DIR": str(self.dir / "state"),
                "HCINODE_LOG_DIR": str(self.dir / "log"), "PYTHONPATH": str(REPO)}

    def nmcli(self, *args: str) -> CommandResult:
        return self.runner.run(["nmcli", *args], check=False, env=self.env(), timeout=30)

    def hcinode(self, *args: str, timeout: float = 180) -> CommandResult:
        """Run the real CLI inside the node's network namespace (its pings see the node's links)."""
        return self.runner.run(["ip", "netns", "exec", self.node, sys.executable, "-m", "nodecore.cli", *args],
                               check=False, env=self.env(), timeout=timeout)

    def in_node(self, *argv: str) -> CommandResult:
        return self.runner.run(["ip", "netns", "exec", self.node, *argv], check=False, timeout=30)

    def ipv6_addresses(self, device: str) -> list[str]:
        """Global IPv6 addresses on a node device (`ip -6 addr`), as address/prefix."""
        out = self.in_node("ip", "-6", "-o", "addr", "show", "dev", device, "scope", "global").stdout
        return sorted(line.split()[3] for line in out.splitlines())

    def gw_ping(self, address: str, count: int = 1) -> bool:
        return self.runner.run(["ip", "netns", "exec", self.gw, "ping", "-n", "-c", str(count), "-W", "1",
                                address], check=False, timeout=30).ok

    def snapshot(self) -> dict[str, object]:
        """What "the previous state exactly" means here: addresses, routes, links, profiles on disk."""
        addrs = self.in_node("ip", "-o", "addr", "show").stdout
        routes = self.in_node("ip", "route", "show").stdout + self.in_node("ip", "-6", "route", "show").stdout
        links = self.in_node("ip", "-o", "link", "show").stdout
        return {
            # valid_lft counters tick; keep interface, family and address only
            "addresses": sorted(" ".join(line.split()[1:4]) for line in addrs.splitlines()
                                if " inet" in line and "fe80::" not in line),
            # router-advertised routes count their lifetime down: compare without it
            "routes": sorted(re.sub(r" expires \d+sec", "", r) for r in routes.splitlines()),
            "links": sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines()),
            "keyfiles": {p.name: p.read_bytes() for p in sorted(self.keyfiles.glob("*"))},
        }

    def write(self, name: str, text: str) -> str:
        path = self.dir / name
        path.write_text(text)
        return str(path)

    def describe(self, result: CommandResult) -> str:
        return (f"$ {shlex.join(result.argv)}\nrc={result.returncode}\nstdout:\n{result.stdout}\n"
                f"stderr:\n{result.stderr}\nNetworkManager log:\n{self.log_tail()}")
