"""The engine appliance boots with a cloud-init NoCloud seed and shows its new hostname on serial."""

from __future__ import annotations

import pytest

from nodecore.runner import LocalRunner
from tests.e2e.vm import Disk, make_disk

USER_DATA = """#cloud-config
hostname: engine-e2e
fqdn: engine-e2e.example.test
"""
META_DATA = "instance-id: hcinode-e2e-1\nlocal-hostname: engine-e2e\n"


@pytest.mark.e2e
def test_appliance_boots_with_cloud_init_seed(vm_factory, appliance_image, tmp_path) -> None:
    # a copy-on-write overlay: the built image stays pristine
    disk = make_disk(tmp_path / "engine.qcow2", "4G", backing=appliance_image)
    (tmp_path / "user-data").write_text(USER_DATA)
    (tmp_path / "meta-data").write_text(META_DATA)
    seed = tmp_path / "seed.iso"
    LocalRunner().run(["cloud-localds", str(seed), str(tmp_path / "user-data"), str(tmp_path / "meta-data")],
                      timeout=60)
    vm = vm_factory("engine", boot="disk", disks=[Disk(disk)], seed_iso=seed, memory=1024)
    vm.start()
    vm.expect("engine-e2e login:", timeout=600)
    vm.poweroff()
