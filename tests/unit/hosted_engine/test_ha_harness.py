"""The pure parts of the HA test bed (tests/integration/hosted_engine_hosts.py): which processes
count as the engine's qemu and which pids hold a hosted-engine lease."""

from tests.integration import hosted_engine_hosts as he

STATUS = """daemon 5b7c1a8e-hcigt-h2
p -1 helper
p -1 listener
p 4242
p -1 status
s hosted-engine:2:/run/glusterSD/engine/hosted-engine/u/lockspace:0
r hosted-engine:engine-vm:/run/glusterSD/engine/hosted-engine/u/vm.lease:1048576:7 p 4242
r other:thing:/x:0:1 p 99
"""


def test_lease_holders_are_the_pids_of_hosted_engine_resources():
    assert he.parse_lease_holders(STATUS) == [4242]
    assert he.parse_lease_holders("") == []


def test_the_engine_qemu_is_the_qemu_named_after_the_domain():
    qemu = [b"/usr/bin/qemu-system-x86_64", b"-name", b"guest=HostedEngine,debug-threads=on", b""]
    assert he.is_engine_qemu(qemu)
    assert not he.is_engine_qemu([b"/usr/bin/qemu-system-x86_64", b"-name", b"guest=Other,debug-threads=on"])
    # libvirtd's child before exec (the lease is asked for there) is not a qemu yet
    assert not he.is_engine_qemu([b"/usr/sbin/libvirtd", b"-d"])
    assert not he.is_engine_qemu([b""])


def test_host_dead_is_eight_io_timeouts_and_the_watchdog_minute():
    assert he.host_dead(5) == 100 and he.host_dead(10) == 140
