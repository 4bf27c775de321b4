"""node_setup in a VM booted from our image: bond + VLAN + static address, confirm, then an
unconfirmed change with a wrong gateway that NetworkManager rolls back by itself; then the
identity settings (host name, NTP, time zone, admin password, SSH) on the same running node.

One VM boot (TCG), NICs on a QEMU hub (it passes VLAN tags):

    nic-a 52:54:00:51:00:01 --+
    nic-b 52:54:00:51:00:02 --+-- hub -- "peer" 52:54:00:51:00:0f, moved into a network namespace
                                         inside the guest: 198.51.100.1/25 untagged and
                                         198.51.100.129/25 on VLAN 100 (the node's switch + gateway)

The peer namespace is a separate network stack, so "the node answers on its address" is measured
from outside the node's own stack. The live medium has no persistent /etc, so "intact after a
reboot" is checked the way a boot sees it: NetworkManager is stopped, the bond and VLAN devices
are deleted, and NetworkManager starts again from the keyfiles alone.
"""

from __future__ import annotations

import base64
import re
import time

import pytest

from tests.e2e.vm import OUTPUT_START_COMMAND, command_output, root_shell

BOND_VLAN = """\
interfaces:
  - {name: nic-a, mac: "52:54:00:51:00:01"}
  - {name: nic-b, mac: "52:54:00:51:00:02"}
bonds:
  - {name: bond0, slaves: [nic-a, nic-b], mode: active-backup, miimon: 100}
vlans:
  - name: bond0.100
    parent: bond0
    id: 100
    ipv4: {method: static, addresses: [198.51.100.130/25], gateway: 198.51.100.129}
check: {timeout: 60}
"""

WRONG_GATEWAY = BOND_VLAN.replace("198.51.100.130/25", "198.51.100.140/25").replace(
    "gateway: 198.51.100.129", "gateway: 198.51.100.200")

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
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGz9Wn7Gv8F3s0vB7P4u2qgYQ7kq7nq6xq1x4c8C4l7d e2e@hcinode"
MACS = {"nic-a": "52:54:00:51:00:01", "nic-b": "52:54:00:51:00:02", "peer": "52:54:00:51:00:0f"}


def hub_nics() -> list[str]:
    argv: list[str] = []
    for name, mac in MACS.items():
        argv += ["-netdev", f"hubport,id=hub-{name},hubid=7", "-device", f"virtio-net-pci,netdev=hub-{name},mac={mac}"]
    return argv


def put_file(vm, path: str, text: str) -> None:  # type: ignore[no-untyped-def]
    vm.run(f"echo {base64.b64encode(text.encode()).decode()} | base64 -d > {path}")


def rc_of(vm, command: str, timeout: float = 120) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run a command on the guest's root shell; (exit code, output)."""
    vm.sendline(f"{OUTPUT_START_COMMAND}; {command}; echo __EXIT_$?__DONE")
    match = vm.expect(r"__EXIT_(\d+)__DONE", timeout=timeout)
    output = command_output(vm.child.before.decode(errors="replace"))
    return int(match.group(1)) if match else -1, output


def peer_ping(vm, address: str) -> bool:  # type: ignore[no-untyped-def]
    return rc_of(vm, f"ip netns exec peer ping -n -c 1 -W 1 {address} >/dev/null")[0] == 0


@pytest.mark.e2e
def test_bond_vlan_confirm_then_unconfirmed_wrong_gateway_rolls_back(vm_factory, node_iso) -> None:
    vm = vm_factory("network", boot="kernel", iso=node_iso, memory=2048, extra_qemu=hub_nics(),
                    kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1"])
    vm.start()
    root_shell(vm)
    # the peer: its NIC leaves the node's stack before NetworkManager starts
    code, out = rc_of(vm, f"P=$(ip -o link | grep -i {MACS['peer']} | awk -F': ' '{{print $2}}'); echo nic=$P; "
                          "ip netns add peer && ip link set $P netns peer && ip -n peer link set $P name p0 && "
                          "ip -n peer link set lo up && ip -n peer link set p0 up && "
                          "ip -n peer addr add 198.51.100.1/25 dev p0 && "
                          "ip -n peer link add link p0 name p0.100 type vlan id 100 && "
                          "ip -n peer link set p0.100 up && ip -n peer addr add 198.51.100.129/25 dev p0.100")
    assert code == 0, out
    code, out = rc_of(vm, "systemctl start NetworkManager && for i in $(seq 60); do "
                          "nmcli -t -f RUNNING general | grep -q running && break; sleep 1; done; nmcli general",
                      timeout=180)
    assert code == 0, out
    put_file(vm, "/root/bond.yaml", BOND_VLAN)
    put_file(vm, "/root/wrong.yaml", WRONG_GATEWAY)

    # 1. bond + VLAN + static address; the connectivity check pings the gateway through VLAN 100
    started = time.monotonic()
    code, out = rc_of(vm, "hcinode network apply /root/bond.yaml --rollback-timeout 300", timeout=600)
    apply_seconds = time.monotonic() - started
    assert code == 0 and "PENDING" in out, out
    code, out = rc_of(vm, "hcinode network confirm", timeout=300)
    assert code == 0, out
    assert peer_ping(vm, "198.51.100.130")
    code, bonding = rc_of(vm, "cat /proc/net/bonding/bond0")
    assert "active-backup" in bonding and bonding.count("Slave Interface") == 2, bonding
    code, good = rc_of(vm, "cd /etc/NetworkManager/system-connections && sha256sum bond0.nmconnection "
                           "bond0.100.nmconnection nic-a.nmconnection nic-b.nmconnection")
    assert code == 0, good
    good_sums = sorted(re.findall(r"[0-9a-f]{64}\s+\S+", good))

    # 2. wrong gateway, no check, nobody confirms: NetworkManager's timer restores the old state.
    # Timed inside the guest (serial round trips under TCG take seconds) from the moment the
    # checkpoint exists (the apply's first step) to the peer reaching the old address again.
    code, out = rc_of(vm, "hcinode network apply /root/wrong.yaml --no-check "
                          f"--rollback-timeout {ROLLBACK_TIMEOUT}", timeout=600)
    assert code == 0 and "PENDING" in out, out
    assert peer_ping(vm, "198.51.100.140")  # the wrong config is really active
    put_file(vm, "/root/wait-restored.sh", WAIT_RESTORED)
    code, out = rc_of(vm, "sh /root/wait-restored.sh", timeout=ROLLBACK_TIMEOUT + 240)
    assert code == 0, out
    restored = float(re.findall(r"restored_after=([0-9.]+)", out)[-1])
    # NetworkManager rolls back when the timer fires (measured: at 45.0 s, VLAN up again 1.8 s later;
    # 59.6 s to the first answering ping with three TCG VMs on two cores)
    assert restored <= ROLLBACK_TIMEOUT + 30, f"old address back only after {restored} s"  # TCG under load
    code, sums = rc_of(vm, "cd /etc/NetworkManager/system-connections && sha256sum *.nmconnection")
    assert sorted(re.findall(r"[0-9a-f]{64}\s+\S+", sums)) == good_sums, sums  # keyfiles untouched

    # 3. what a boot sees: NetworkManager from the keyfiles alone
    code, out = rc_of(vm, "systemctl stop NetworkManager && ip link del bond0.100; ip link del bond0; "
                          "systemctl start NetworkManager", timeout=180)
    assert code == 0, out
    up = None
    boot_started = time.monotonic()
    while time.monotonic() - boot_started < 180:
        if peer_ping(vm, "198.51.100.130"):
            up = time.monotonic() - boot_started
            break
        time.sleep(2)
    assert up is not None, rc_of(vm, "nmcli device; ip -o addr")[1]

    # 4. identity on the same node (systemd is PID 1 here): host name, NTP, time zone, password, SSH
    code, out = rc_of(vm, "hcinode node set hostname node-e2e && hcinode node set ntp 198.51.100.123 && "
                          "hcinode node set timezone Europe/Berlin && "
                          "echo 'Corr3ct-horse-battery' | hcinode node set password --stdin && "
                          f"hcinode node set ssh on --password-login off --key '{SSH_KEY}'", timeout=600)
    assert code == 0, out
    code, out = rc_of(vm, "hostname; cat /etc/hostname; grep ^server /etc/chrony/chrony.conf; "
                          "readlink /etc/localtime; grep ^root: /etc/shadow | cut -c1-8; "
                          "cat /etc/ssh/sshd_config.d/50-hcinode.conf /root/.ssh/authorized_keys; "
                          "systemctl is-active ssh")
    assert out.count("node-e2e") >= 2 and "server 198.51.100.123 iburst" in out, out
    assert "/usr/share/zoneinfo/Europe/Berlin" in out and "root:$6$" in out, out
    assert "PasswordAuthentication no" in out and SSH_KEY in out and "\nactive" in out, out
    code, out = rc_of(vm, "grep -rl Corr3ct-horse-battery /var/log/hcinode /var/lib/hcinode")
    assert code == 1, f"the password leaked into: {out}"

    print(f"e2e network: apply bond+vlan {apply_seconds:.0f} s; unconfirmed change with rollback timeout "
          f"{ROLLBACK_TIMEOUT} s: old address back {restored:.1f} s after the checkpoint was created; "
          f"NetworkManager restart from keyfiles reachable after {up:.0f} s")
    vm.kill()
