"""node_setup on an INSTALLED node (the session's PXE install, booted from an overlay of its disk):
bond + VLAN + static address, confirm, then an unconfirmed change with a wrong gateway that
NetworkManager rolls back by itself; identity settings and remote syslog; then a real reboot, after
which the confirmed config must come back from the keyfiles alone.

Everything runs over ssh (the kickstart authorized the session's key; tests/e2e/vm.py forwards a
127.0.0.1 port to the node's static 10.0.2.50:22 through user-net). NICs, in PCI order:

    mgmt  52:54:00:12:34:56   user-net (restrict=on): the installed static address, ssh
    nic-a 52:54:00:51:00:01 --+
    nic-b 52:54:00:51:00:02 --+-- hub -- "peer" 52:54:00:51:00:0f, moved into a network namespace
                                         inside the guest: 198.51.100.1/25 untagged and
                                         198.51.100.129/25 on VLAN 100 (the node's switch + gateway)

The management NIC comes first, as during the install, so it keeps its name and the installed
profile (matched by MAC) brings it up; the network YAML lists it unchanged, so applies and
rollbacks never touch the ssh path. The peer namespace is a separate network stack, so "the node
answers on its address" is measured from outside the node's own stack.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nodecore.runner import CommandResult
from tests.e2e.test_install import ROOT_HASH, STATIC_IP, InstalledNode, overlay_of
from tests.e2e.vm import VM, Disk, vm_ssh, wait_for_ssh

MGMT_MAC = "52:54:00:12:34:56"  # tests/e2e/vm.py's first NIC, the one the kickstart configured

BOND_VLAN = """\
interfaces:
  - name: {mgmt}
    mac: "52:54:00:12:34:56"
    ipv4: {{method: static, addresses: [10.0.2.50/24], gateway: 10.0.2.254}}
    ipv6: {{method: auto}}
  - {{name: nic-a, mac: "52:54:00:51:00:01"}}
  - {{name: nic-b, mac: "52:54:00:51:00:02"}}
bonds:
  - {{name: bond0, slaves: [nic-a, nic-b], mode: active-backup, miimon: 100}}
vlans:
  - name: bond0.100
    parent: bond0
    id: 100
    ipv4:
      method: static
      addresses: [198.51.100.130/25]
      gateway: 198.51.100.129
      # the untagged half of the peer (the syslog target) through the VLAN's gateway
      routes: [{{to: 198.51.100.0/25, via: 198.51.100.129}}]
dns: {{servers: [10.0.2.3]}}
check: {{timeout: 60, hosts: [198.51.100.129]}}
"""

ROLLBACK_TIMEOUT = 45  # TCG is slow: leave time to see the wrong config active before the timer fires
# seconds from the checkpoint's creation (CLOCK_BOOTTIME, as NetworkManager counts) until the peer
# reaches the old address and no longer the wrong one
WAIT_RESTORED = r"""
created=$(python3 -c 'import json; print(json.load(open("/var/lib/hcinode/network/pending.json"))["created"])')
until ip netns exec peer ping -n -c 1 -W 1 198.51.100.130 >/dev/null &&
      ! ip netns exec peer ping -n -c 1 -W 1 198.51.100.140 >/dev/null; do
    sleep 0.5
done
python3 -c "import time; print('restored_after=%.1f' % (time.clock_gettime(time.CLOCK_BOOTTIME) - $created / 1000))"
"""
# the peer's NIC leaves the node's stack for a namespace: the node's switch and gateway
PEER_SETUP = r"""
P=$(ip -o link | grep -i {mac} | awk -F': ' '{{print $2}}'); echo nic=$P
ip netns add peer && ip link set $P netns peer && ip -n peer link set $P name p0 &&
ip -n peer link set lo up && ip -n peer link set p0 up &&
ip -n peer addr add 198.51.100.1/25 dev p0 &&
ip -n peer link add link p0 name p0.100 type vlan id 100 &&
ip -n peer link set p0.100 up && ip -n peer addr add 198.51.100.129/25 dev p0.100
"""
# a syslog receiver in the peer namespace: every UDP datagram on port 514 into a file
SYSLOG_LISTENER = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 514))
s.settimeout(5)
end = time.time() + 600
with open(sys.argv[1], "ab", buffering=0) as out:
    while time.time() < end:
        try:
            data, peer = s.recvfrom(65536)
        except socket.timeout:
            continue
        out.write(peer[0].encode() + b" " + data + b"\n")
"""
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz9Wn7Gv8F3s0vB7P4u2qgYQ7kq7nq6xq1x4c8C4l7d e2e@hcinode"
MACS = {"nic-a": "52:54:00:51:00:01", "nic-b": "52:54:00:51:00:02", "peer": "52:54:00:51:00:0f"}
KEYFILE_SUMS = "cd /etc/NetworkManager/system-connections && sha256sum *.nmconnection"


def hub_nics() -> list[str]:
    argv: list[str] = []
    for name, mac in MACS.items():
        argv += ["-netdev", f"hubport,id=hub-{name},hubid=7", "-device", f"virtio-net-pci,netdev=hub-{name},mac={mac}"]
    return argv


def sums_of(text: str) -> list[str]:
    return sorted(re.findall(r"[0-9a-f]{64}\s+\S+", text))


@pytest.mark.e2e
# the "degraded" boot this test found on 1 Dec 2026 was NetworkManager-wait-online waiting on DHCP for
# the unconfigured NICs (fixed in node_setup/plan.py: no-auto-default on installed nodes)
def test_installed_node_bond_vlan_rollback_identity_syslog_survive_reboot(
        vm_factory: Callable[..., VM], installed_node: InstalledNode, tmp_path: Path) -> None:
    t0 = time.monotonic()
    overlay = overlay_of(installed_node, tmp_path / "network.qcow2")
    vm = vm_factory("network", boot="disk", memory=2048, ssh_to=STATIC_IP, allow_reboot=True,
                    disks=[Disk(overlay)], extra_qemu=hub_nics())
    key = installed_node.key
    vm.start()
    vm.drain_serial()

    def sh(command: str, timeout: float = 300, check: bool = True, stdin: str | None = None) -> str:
        result = vm_ssh(vm, key, command, timeout=timeout, check=False, stdin=stdin)
        if check:
            assert result.ok, f"$ {command}\nrc={result.returncode}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def peer_ping(address: str) -> bool:
        return vm_ssh(vm, key, f"ip netns exec peer ping -n -c 1 -W 2 {address}", check=False, timeout=60).ok

    def password_login() -> CommandResult:
        """An ssh login attempt by password only; sshd lists the methods it allows when it refuses."""
        return vm_ssh(vm, key, "true", check=False, options=(
            "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive"))

    boot_id = wait_for_ssh(vm, key, timeout=1200, command="cat /proc/sys/kernel/random/boot_id").strip()
    boot_s = time.monotonic() - t0
    # a node that boots with a failed unit looks broken to the technician (and often is)
    state = sh("systemctl is-system-running --wait; systemctl --failed --no-legend --plain", check=False)
    assert state.startswith("running"), state
    assert "password" in password_login().stderr  # the install's root password allows it
    mgmt = sh(f"ip -o link | grep -i {MGMT_MAC} | awk -F': ' '{{print $2}}'").strip()
    assert mgmt and f"{mgmt}.nmconnection" in sh("ls /etc/NetworkManager/system-connections"), mgmt
    # the installer recorded the kickstart's settings as the last confirmed config
    confirmed = sh("cat /var/lib/hcinode/network/confirmed.yaml")
    assert "hostname: e2e-node1.example.com" in confirmed and "10.0.2.50/24" in confirmed, confirmed
    sh(PEER_SETUP.format(mac=MACS["peer"]))
    sh("cat > /root/bond.yaml", stdin=BOND_VLAN.format(mgmt=mgmt))
    wrong = BOND_VLAN.format(mgmt=mgmt).replace("198.51.100.130/25", "198.51.100.140/25").replace(
        "gateway: 198.51.100.129", "gateway: 198.51.100.200")
    sh("cat > /root/wrong.yaml", stdin=wrong)
    installed_sum = sh(KEYFILE_SUMS)

    # 1. bond + VLAN + static address; the check pings the gateway through VLAN 100
    started = time.monotonic()
    out = sh("hcinode network apply /root/bond.yaml --rollback-timeout 300", timeout=600)
    apply_seconds = time.monotonic() - started
    assert "PENDING" in out, out
    sh("hcinode network confirm")
    assert peer_ping("198.51.100.130")
    bonding = sh("cat /proc/net/bonding/bond0")
    assert "active-backup" in bonding and bonding.count("Slave Interface") == 2, bonding
    good_sums = sums_of(sh(KEYFILE_SUMS))
    names = sorted(line.split()[1] for line in good_sums)
    assert names == sorted(["bond0.nmconnection", "bond0.100.nmconnection", "nic-a.nmconnection",
                            "nic-b.nmconnection", f"{mgmt}.nmconnection"]), names
    # the management profile was listed unchanged: the installed keyfile is byte for byte the same
    assert next(s for s in good_sums if s.endswith(f"{mgmt}.nmconnection")) in installed_sum

    # 2. wrong gateway, no check, nobody confirms: NetworkManager's timer restores the old state.
    # Timed inside the guest from the moment the checkpoint exists (the apply's first step) to the
    # peer reaching the old address again.
    out = sh(f"hcinode network apply /root/wrong.yaml --no-check --rollback-timeout {ROLLBACK_TIMEOUT}", timeout=600)
    assert "PENDING" in out, out
    assert peer_ping("198.51.100.140")  # the wrong config is really active
    sh("cat > /root/wait-restored.sh", stdin=WAIT_RESTORED)
    out = sh("sh /root/wait-restored.sh", timeout=ROLLBACK_TIMEOUT + 240)
    restored = float(re.findall(r"restored_after=([0-9.]+)", out)[-1])
    # NetworkManager rolls back when the timer fires (live ISO: at 45.0 s, VLAN up again 1.8 s later)
    assert restored <= ROLLBACK_TIMEOUT + 30, f"old address back only after {restored} s"  # TCG under load
    assert sums_of(sh(KEYFILE_SUMS)) == good_sums  # keyfiles untouched
    out = sh("hcinode network status")
    assert "rolled back" in out or "no network change pending" in out, out

    # 3. identity on the same node: host name, NTP, time zone, password (stdin only), SSH (our key kept)
    sh("hcinode node set hostname node-e2e && hcinode node set ntp 198.51.100.123 && "
       "hcinode node set timezone Europe/Berlin", timeout=600)
    sh("hcinode node set password --stdin", stdin="Corr3ct-horse-battery\n")
    sh(f"hcinode node set ssh on --password-login off --key '{SSH_KEY}' --key '{key.public}'", timeout=600)
    out = sh("hostname; cat /etc/hostname; grep ^server /etc/chrony/chrony.conf; readlink /etc/localtime; "
             "cat /etc/ssh/sshd_config.d/50-hcinode.conf /root/.ssh/authorized_keys; systemctl is-active ssh")
    assert out.count("node-e2e") >= 2 and "server 198.51.100.123 iburst" in out, out
    assert "/usr/share/zoneinfo/Europe/Berlin" in out, out
    assert "PasswordAuthentication no" in out and SSH_KEY in out and "\nactive" in out, out
    # the running sshd took it (restarted): it offers no password login any more (the install's
    # root password had it on)
    assert "Permission denied (publickey)." in password_login().stderr
    shadow = sh("grep ^root: /etc/shadow | cut -d: -f2")
    assert shadow.startswith("$y$") and shadow.strip() != ROOT_HASH, "password not changed"
    leaked = vm_ssh(vm, key, "grep -rl Corr3ct-horse-battery /var/log/hcinode /var/lib/hcinode /var/log/journal",
                    check=False)
    assert leaked.returncode == 1, f"the password leaked into: {leaked.stdout}"

    # 4. remote syslog: rsyslog forwards the journal to a UDP listener in the peer namespace
    sh("cat > /root/listen.py", stdin=SYSLOG_LISTENER)
    sh("ip netns exec peer setsid python3 /root/listen.py /root/syslog-got.txt </dev/null >/dev/null 2>&1 &")
    out = sh("hcinode node set syslog 198.51.100.1 && cat /etc/rsyslog.d/50-hcinode-remote.conf && "
             "systemctl is-active rsyslog")
    assert "@198.51.100.1:514" in out and "\nactive" in out, out
    marker = f"hcinode-e2e-syslog-{int(time.time())}"
    sh(f"logger -t hcinode-e2e {marker}")
    got = sh(f"for i in $(seq 60); do grep -q {marker} /root/syslog-got.txt && break; sleep 1; done; "
             "cat /root/syslog-got.txt", check=False)
    assert marker in got and "198.51.100.130" in got, got

    # 5. a real reboot: the confirmed network comes back from the keyfiles alone
    sh("sync; (sleep 2; systemctl reboot) </dev/null >/dev/null 2>&1 &")
    reboot_started = time.monotonic()
    new_boot = boot_id
    while new_boot == boot_id:
        time.sleep(5)
        new_boot = wait_for_ssh(vm, key, timeout=1200, command="cat /proc/sys/kernel/random/boot_id").strip()
    reboot_s = time.monotonic() - reboot_started
    assert sums_of(sh(KEYFILE_SUMS)) == good_sums
    out = sh("for i in $(seq 120); do ip -o -4 addr show bond0.100 2>/dev/null | grep -q 198.51.100.130 && break; "
             "sleep 1; done; ip -o -4 addr show bond0.100; hostname; readlink /etc/localtime; "
             "cat /proc/net/bonding/bond0; echo rsyslog=$(systemctl is-active rsyslog)")
    assert "198.51.100.130/25" in out and "node-e2e" in out and "Europe/Berlin" in out, out
    assert "rsyslog=active" in out, out  # the forward target exists now, so rsyslog starts at boot
    assert out.count("Slave Interface") == 2, out
    sh(PEER_SETUP.format(mac=MACS["peer"]))
    deadline = time.monotonic() + 120
    while not peer_ping("198.51.100.130"):
        assert time.monotonic() < deadline, sh("nmcli device; ip -o addr", check=False)
        time.sleep(2)

    print(f"e2e network (installed node): boot to ssh {boot_s:.0f} s; apply bond+vlan {apply_seconds:.0f} s; "
          f"unconfirmed change with rollback timeout {ROLLBACK_TIMEOUT} s: old address back {restored:.1f} s "
          f"after the checkpoint was created; reboot to ssh {reboot_s:.0f} s; total {time.monotonic() - t0:.0f} s")
    vm.kill()

