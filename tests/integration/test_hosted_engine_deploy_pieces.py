"""The hosted-engine deploy's pieces against the real tools (no VM is booted, no daemon needed):
the domain XML through libvirt's own schema (virt-xml-validate), the NoCloud seed built by
cloud-localds and read back with isoinfo/xorriso, and the plan's engine-disk and metadata steps
run by the executor with real qemu-img and dd on a real file system (O_DIRECT, as on Gluster).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from hosted_engine import layout
from hosted_engine.domain import DomainInputs, domain_xml
from hosted_engine.plan import PlanFacts, deploy_plan, paths_for
from hosted_engine.seed import build_seed
from hosted_engine.spec import parse_spec
from nodecore.executor import Executor
from nodecore.plan import Plan
from nodecore.runner import LocalRunner
from tests.unit.hosted_engine.conftest import base_data

pytestmark = pytest.mark.integration

TOOLS = ("virt-xml-validate", "xmllint", "cloud-localds", "isoinfo", "xorriso", "qemu-img", "dd")
if os.geteuid() != 0 or not all(shutil.which(t) for t in TOOLS):
    pytest.skip("needs root and libvirt-clients, libxml2-utils, cloud-image-utils, genisoimage, xorriso, "
                "qemu-utils", allow_module_level=True)


@pytest.fixture
def spec(tmp_path: Path):
    data = base_data()
    data["storage"]["mount_root"] = str(tmp_path / "mnt")
    data["vm"]["disk_gib"] = 4
    data["appliance"] = {"path": str(tmp_path / "appliance.qcow2")}
    parsed, report = parse_spec(data)
    assert parsed is not None, report.render_text()
    return parsed


def _run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


@pytest.mark.parametrize(("domain_type", "with_seed"), [("kvm", False), ("qemu", True)])
def test_the_domain_xml_passes_libvirts_schema(spec, tmp_path, domain_type, with_seed):
    path = tmp_path / "vm.xml"
    path.write_text(domain_xml(spec, DomainInputs(paths_for(spec), domain_type, with_seed=with_seed)))
    result = subprocess.run(["virt-xml-validate", str(path), "domain"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_seed_iso_is_a_cidata_volume_with_our_files(spec, tmp_path):
    from engine.ca import make_ca

    cert, key = make_ca(spec.engine.fqdn)
    (tmp_path / "ca.pem").write_bytes(cert)
    (tmp_path / "ca.key").write_bytes(key)
    (tmp_path / "pw").write_text("Correct-Horse-Battery-42\n")
    out = tmp_path / "seed.iso"
    build_seed(LocalRunner(), {"admin_password_file": str(tmp_path / "pw"), "ca_cert": str(tmp_path / "ca.pem"),
                               "ca_key": str(tmp_path / "ca.key"), "output": str(out)}, spec)
    assert out.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "seed.iso.partial").exists()
    assert "Volume id: cidata" in _run("isoinfo", "-d", "-i", str(out))
    extracted = tmp_path / "extracted"
    _run("xorriso", "-osirrox", "on", "-indev", str(out), "-extract", "/", str(extracted))
    assert sorted(p.name for p in extracted.iterdir()) == ["meta-data", "network-config", "user-data"]
    user = yaml.safe_load((extracted / "user-data").read_text())
    appliance = yaml.safe_load(next(f for f in user["write_files"] if f["path"].endswith("seed.yaml"))["content"])
    assert appliance["fqdn"] == spec.engine.fqdn and appliance["ca_cert"] == cert.decode()
    assert appliance["admin_password_hash"].startswith("$y$")
    assert "Correct-Horse-Battery-42" not in (extracted / "user-data").read_text()
    network = yaml.safe_load((extracted / "network-config").read_text())
    assert network["ethernets"]["eth0"]["addresses"] == ["192.0.2.10/24"]


def _disk_steps(spec, tmp_path) -> Plan:
    facts = PlanFacts("kvm", 512, True, str(tmp_path / "state"))
    wanted = ("Make the deployment directory", "Copy the appliance", "Keep the copied engine disk",
              "Resize the engine disk", "Write the metadata file", "Write the VM definition", "Write deployment.json")
    steps = [s for s in deploy_plan(spec, facts).steps if s.title.startswith(wanted)]
    assert len(steps) == len(wanted)
    return Plan("engine disk", tuple(steps))


def test_the_engine_disk_and_metadata_steps_with_real_qemu_img_and_a_rerun_skips_them(spec, tmp_path):
    from hosted_engine.deploy import write_file

    _run("qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "appliance.qcow2"), "64M")
    plan = _disk_steps(spec, tmp_path)
    actions = {"hosted_engine.write_file": write_file}
    first = Executor(LocalRunner(), actions=actions).execute(plan)
    assert len(first.done) == len(plan.steps)
    paths = paths_for(spec)
    info = json.loads(_run("qemu-img", "info", "--output=json", paths.engine_disk))
    assert info["format"] == "qcow2" and info["virtual-size"] == 4 * 1024**3
    assert not os.path.exists(paths.engine_disk + ".partial")
    assert os.path.getsize(paths.metadata) == layout.METADATA_SIZE
    assert json.loads(Path(paths.deployment_json).read_text())["uuid"] == spec.deployment_uuid
    again = Executor(LocalRunner(), actions=actions).execute(plan)
    assert not again.done and len(again.skipped) == len(plan.steps)
