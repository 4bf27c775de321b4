import xml.etree.ElementTree as ET

import pytest

from hosted_engine import layout
from hosted_engine.domain import DomainInputs, domain_xml, vm_uuid
from tests.goldenfiles import assert_golden

PATHS = layout.DeploymentPaths("/mnt/glusterSD/engine", "5d0c5c35-0000-4000-8000-000000000001")


@pytest.mark.parametrize(("domain_type", "with_seed"), [("kvm", False), ("qemu", True)])
def test_domain_xml_is_golden(spec, domain_type, with_seed):
    xml = domain_xml(spec, DomainInputs(PATHS, domain_type, with_seed=with_seed))
    assert_golden(f"hosted_engine/domain-{domain_type}{'-seed' if with_seed else ''}.xml", xml.rstrip("\n"))


def test_the_domain_holds_the_lease_disk_bridge_and_local_only_vnc(spec):
    root = ET.fromstring(domain_xml(spec, DomainInputs(PATHS, "kvm")))
    assert root.get("type") == "kvm"
    assert root.findtext("name") == "HostedEngine"
    lease = root.find("devices/lease")
    assert lease is not None
    assert (lease.findtext("lockspace"), lease.findtext("key")) == ("hosted-engine", "engine-vm")
    assert lease.find("target").get("path") == PATHS.vm_lease
    disks = root.findall("devices/disk")
    assert [d.find("source").get("file") for d in disks] == [PATHS.engine_disk]
    assert disks[0].find("driver").get("cache") == "none"
    nic = root.find("devices/interface")
    assert nic.get("type") == "bridge" and nic.find("source").get("bridge") == "ovirtmgmt"
    assert nic.find("mac").get("address") == spec.mac
    graphics = root.find("devices/graphics")
    assert graphics.get("listen") == "127.0.0.1"
    assert root.find("devices/serial/log").get("file").endswith("console.log")


def test_tcg_gets_the_maximum_cpu_without_erms_and_fsrm(spec):
    root = ET.fromstring(domain_xml(spec, DomainInputs(PATHS, "qemu")))
    cpu = root.find("cpu")
    assert (cpu.get("mode"), cpu.get("check")) == ("maximum", "none")
    assert {f.get("name"): f.get("policy") for f in cpu.findall("feature")} == {"erms": "disable",
                                                                                "fsrm": "disable"}


def test_the_seed_is_a_read_only_virtio_disk_only_on_first_boot(spec):
    root = ET.fromstring(domain_xml(spec, DomainInputs(PATHS, "kvm", with_seed=True)))
    seed = root.findall("devices/disk")[1]
    assert seed.find("source").get("file") == PATHS.seed
    assert seed.find("target").get("bus") == "virtio"
    assert seed.find("readonly") is not None


def test_the_vm_uuid_follows_the_deployment():
    assert vm_uuid(PATHS.uuid) == vm_uuid(PATHS.uuid) != vm_uuid("5d0c5c35-0000-4000-8000-000000000002")
