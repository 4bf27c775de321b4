"""Never two engines (issue 15): a node whose sanlock daemon freezes is reset by the watchdog before
another host may take its leases.

A VM booted from our ISO (rescue target: a root shell on the serial line; the image enables sanlock
and wdmd for every boot, the rescue target starts neither) starts sanlock.service, which pulls in
wdmd (its drop-in loads softdog: the VM has no hardware watchdog). On a raw virtio disk it joins a
lockspace at the deploy's default io_timeout and holds a resource lease for a sleeping process
(`sanlock client command`), as libvirt holds the engine VM's lease for qemu. Then the sanlock
daemon is SIGSTOPped: it no longer renews its host id and can no longer kill the lease's holder.
wdmd stops petting /dev/watchdog once sanlock's renewal deadline (8 * io_timeout after the last
renewal) passes, and softdog resets the machine fire_timeout (60 s) after the last keepalive: at
most host_dead = 8 * io_timeout + 60 s after the last renewal, the moment other hosts may take the
lease. `-no-reboot` turns the guest's reset into QEMU's exit.

The time is measured on the guest's clock (from `/proc/uptime` at the SIGSTOP to the kernel's
timestamp on softdog's "Initiating system reboot"), and on the host's (to QEMU's exit) as a check.
"""

from __future__ import annotations

import re
import time

import pexpect
import pytest

from tests.e2e.vm import Disk, make_disk, root_shell

IO_TIMEOUT = 10  # the deploy's default (hosted_engine/spec.py; deployment.json)
RENEWAL_FAIL = 8 * IO_TIMEOUT  # sanlock: a host id not renewed for this long has failed
FIRE_TIMEOUT = 60  # wdmd's default: /dev/watchdog fires 60 s after the last keepalive
HOST_DEAD = RENEWAL_FAIL + FIRE_TIMEOUT  # sanlock: others may take the host's leases after this
LEASES = "/dev/disk/by-id/virtio-wdleases"  # the raw virtio disk below, by its serial
LOCKSPACE = f"wdtest:1:{LEASES}:0"
RESOURCE = f"wdtest:engine-vm:{LEASES}:1048576"  # 512-byte sectors, 1 MiB align: the second MiB
SOFTDOG_RESET = r"\[\s*(\d+\.\d+)\] softdog: Initiating system reboot"


def _softdog_reset_at(serial: str) -> float | None:
    """The guest's uptime when softdog reset the machine (kernel printk time), if it printed it."""
    match = re.search(SOFTDOG_RESET, serial)
    return float(match.group(1)) if match else None


@pytest.mark.e2e  # no VM: runs with the test below (tests/unit never imports tests/e2e)
def test_softdog_reset_time_is_read_from_the_kernel_line() -> None:
    assert _softdog_reset_at("x\r\n[  312.045117] softdog: Initiating system reboot\r\n") == 312.045117
    assert _softdog_reset_at("softdog: Initiating system reboot") is None


@pytest.mark.e2e
def test_frozen_sanlock_daemon_resets_the_node_before_host_dead(vm_factory, node_iso, tmp_path) -> None:
    leases = make_disk(tmp_path / "leases.img", "8M", fmt="raw")
    vm = vm_factory("watchdog", boot="kernel", iso=node_iso, memory=1536, disks=[Disk(leases, serial="wdleases")],
                    # QEMU's q35 has an ICH9 TCO watchdog that iTCO_wdt drives (found here: it is
                    # watchdog0, and wdmd would use it): keep it out to prove the fallback of a
                    # machine without a hardware watchdog, softdog from wdmd.service's drop-in
                    kernel_args=["systemd.unit=rescue.target", "systemd.setenv=SYSTEMD_SULOGIN_FORCE=1",
                                 "modprobe.blacklist=iTCO_wdt"])
    vm.start()
    root_shell(vm)

    # what the image ships: both run on every boot, sanlock with the watchdog (no "-w 0")
    assert vm.ok("systemctl is-enabled sanlock.service wdmd.service").split()[-2:] == ["enabled", "enabled"]
    assert vm.ok("grep -v '^#' /etc/default/sanlock").split() == ['sanlock_opts=""']
    vm.ok("systemctl start sanlock.service", timeout=300)  # Requires= and After= wdmd.service
    assert vm.ok("systemctl is-active wdmd.service sanlock.service").split()[-2:] == ["active", "active"]
    identity = vm.ok("cat /sys/class/watchdog/watchdog0/identity").splitlines()[-1]
    assert identity == "Software Watchdog"
    assert vm.ok("ls -l /proc/$(pidof wdmd)/fd").count("/dev/watchdog") >= 1  # wdmd holds it open
    assert vm.ok("cat /sys/class/watchdog/watchdog0/timeout").endswith(str(FIRE_TIMEOUT))
    # libvirt's lock manager as hosted_engine/preflight.py requires it
    assert 'lock_manager = "sanlock"' in vm.ok("cat /etc/libvirt/qemu.conf")
    assert vm.ok("ls /usr/lib/x86_64-linux-gnu/libvirt/lock-driver/").split()[-1] == "sanlock.so"

    vm.ok(f"sanlock client init -s wdtest:0:{LEASES}:0 -o {IO_TIMEOUT}", timeout=120)
    vm.ok(f"sanlock client init -r {RESOURCE}", timeout=120)
    joined = time.monotonic()
    vm.ok(f"sanlock client add_lockspace -s {LOCKSPACE} -o {IO_TIMEOUT}", timeout=600)
    join_s = time.monotonic() - joined
    # the holder: registered with sanlock, holding the lease, then exec'd into a long sleep
    # (in a subshell: run_rc appends "; echo", and "&;" is a syntax error)
    vm.ok(f"(setsid sanlock client command -r {RESOURCE} -c /bin/sleep 100000 </dev/null >/dev/null 2>&1 &)")
    vm.ok("for i in $(seq 120); do sanlock client status | grep -q '^r wdtest:engine-vm:' && break; sleep 1; done;"
          " sanlock client status | grep '^r wdtest:engine-vm:'", timeout=180)
    assert vm.ok("cat /sys/class/watchdog/watchdog0/state").endswith("active")

    # freeze every sanlock process (the daemon and its helper); the guest's uptime at that moment
    host_stop = time.monotonic()
    out = vm.ok("kill -STOP $(pidof sanlock) && cut -d' ' -f1 /proc/uptime")
    guest_stop = float(out.split()[-1])
    child = vm.child
    assert child is not None
    try:
        child.expect(pexpect.EOF, timeout=HOST_DEAD + 300)  # bounded; TCG is slow, not that slow
    except pexpect.TIMEOUT:
        pytest.fail(f"no reset {HOST_DEAD + 300} s after sanlock froze (host_dead {HOST_DEAD} s); "
                    f"serial tail:\n{vm.tail()}")
    host_s = time.monotonic() - host_stop
    reset_at = _softdog_reset_at(vm.tail(20000))
    assert reset_at is not None, f"QEMU exited without softdog's reset line; serial tail:\n{vm.tail()}"
    guest_s = reset_at - guest_stop
    print(f"\ne2e watchdog: io_timeout {IO_TIMEOUT} s, add_lockspace {join_s:.0f} s; sanlock SIGSTOP -> reset "
          f"{guest_s:.1f} s (guest clock), {host_s:.1f} s to QEMU's exit (host clock); "
          f"renewal deadline {RENEWAL_FAIL} s, host_dead {HOST_DEAD} s; watchdog {identity!r}")
    # not before the lease could have failed (nothing else reset the machine), and before any other
    # host could take the lease: the last renewal was at most 2 * io_timeout before the stop
    assert RENEWAL_FAIL <= guest_s <= HOST_DEAD
