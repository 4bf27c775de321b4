import pytest

from hosted_engine import layout


def test_deployment_paths_live_in_one_directory_per_deployment():
    p = layout.DeploymentPaths(mount="/mnt/engine", uuid="u-1")
    assert p.directory == "/mnt/engine/hosted-engine/u-1"
    assert p.engine_disk == "/mnt/engine/hosted-engine/u-1/engine.qcow2"
    assert p.lockspace.endswith("/u-1/lockspace")
    assert p.vm_lease.endswith("/u-1/vm.lease")
    assert p.metadata.endswith("/u-1/metadata")
    assert p.vm_xml.endswith("/u-1/vm.xml")
    assert p.deployment_json.endswith("/u-1/deployment.json")
    assert p.seed.endswith("/u-1/seed.iso")


def test_metadata_has_a_global_slot_and_250_host_slots():
    assert layout.METADATA_SIZE == 251 * 4096
    assert layout.metadata_offset(0) == 0
    assert layout.metadata_offset(250) == 250 * 4096
    with pytest.raises(ValueError):
        layout.metadata_offset(251)


def test_host_state_is_under_the_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    assert layout.host_state_path() == str(tmp_path / "hosted-engine" / "host.json")
