"""The node image's cluster units: the agent is disabled until a join enables it; the first-boot join
runs only where the installer left a join file, and never blocks the boot; sanlock runs with the
watchdog on every boot, and libvirt holds VM leases through it as hosted_engine/preflight.py checks."""

from __future__ import annotations

import configparser
from pathlib import Path

from hosted_engine.preflight import QEMU_CONF, QEMU_SANLOCK_CONF, conf_value
from image_recipes.recipe import load_recipe

SYSTEM = Path(__file__).resolve().parents[3] / "image_recipes/recipes/node/overlay/etc/systemd/system"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEM / name)
    return parser


def test_agent_unit_restarts_always_and_is_not_enabled_in_the_image() -> None:
    agent = unit("hcinode-agent.service")
    assert agent["Service"]["ExecStart"] == "/usr/local/bin/hcinode agent"
    assert agent["Service"]["Restart"] == "always"
    assert not any(p.name == "hcinode-agent.service" for p in SYSTEM.glob("*.wants/*"))


def test_firstboot_join_unit() -> None:
    join = unit("hcinode-firstboot-join.service")
    assert join["Unit"]["ConditionPathExists"] == "/var/lib/hcinode/firstboot-join.json"
    assert join["Service"]["Type"] == "exec"  # not oneshot: the boot does not wait for the engine
    assert "--from-file /var/lib/hcinode/firstboot-join.json" in join["Service"]["ExecStart"]
    assert join["Service"]["RestartPreventExitStatus"] == "2"
    assert (SYSTEM / "multi-user.target.wants/hcinode-firstboot-join.service").resolve() == \
        (SYSTEM / "hcinode-firstboot-join.service").resolve()


def test_hosted_engine_ha_unit_needs_sanlock_and_is_not_enabled_in_the_image() -> None:
    ha = unit("hcinode-hosted-engine-ha.service")
    assert ha["Service"]["ExecStart"] == "/usr/local/bin/hcinode hosted-engine agent"
    assert ha["Service"]["Restart"] == "always"
    assert ha["Unit"]["ConditionPathExists"] == "/var/lib/hcinode/hosted-engine/host.json"
    assert "sanlock.service" in ha["Unit"]["Requires"] and "wdmd.service" in ha["Unit"]["After"]
    assert not any(p.name == "hcinode-hosted-engine-ha.service" for p in SYSTEM.glob("*.wants/*"))


def test_sanlock_uses_the_watchdog_and_wdmd_gets_one() -> None:
    overlay = SYSTEM.parents[2]
    opts = [line for line in (overlay / "etc/default/sanlock").read_text().splitlines() if line.startswith("sanlock_")]
    assert opts == ['sanlock_opts=""']  # Debian's default "-w 0" runs without a watchdog: split brain
    assert "ExecStartPre=/usr/libexec/hcinode/watchdog-check" in \
        (SYSTEM / "wdmd.service.d/hcinode-watchdog.conf").read_text()
    check = overlay / "usr/libexec/hcinode/watchdog-check"
    assert check.stat().st_mode & 0o111 and "modprobe softdog" in check.read_text()
    recipe = (SYSTEM.parents[3] / "recipe.yaml").read_text()
    assert "drivers/watchdog" not in recipe  # softdog must stay in the image


def test_sanlock_and_wdmd_run_on_every_boot_and_sanlock_waits_for_wdmd() -> None:
    services = load_recipe("node").services
    for name in ("sanlock.service", "wdmd.service"):
        assert name in services.enable and name not in services.disable and name not in services.mask
    # Debian's sanlock.service only Wants= wdmd: without ordering a lockspace could be joined
    # before the watchdog is armed
    drop_in = unit("sanlock.service.d/hcinode-watchdog.conf")
    assert drop_in["Unit"]["Requires"] == "wdmd.service" and drop_in["Unit"]["After"] == "wdmd.service"
    libvirtd = unit("libvirtd.service.d/hcinode-sanlock.conf")
    assert libvirtd["Unit"]["Wants"] == "sanlock.service" and libvirtd["Unit"]["After"] == "sanlock.service"


def test_libvirt_uses_the_sanlock_lock_manager_as_preflight_requires() -> None:
    recipe = load_recipe("node")
    assert "libvirt-sanlock" in recipe.packages.all()  # the lock driver plugin (sanlock.so)
    overlay = SYSTEM.parents[2]
    qemu = (overlay / QEMU_CONF.lstrip("/")).read_text()
    sanlock = (overlay / QEMU_SANLOCK_CONF.lstrip("/")).read_text()
    # the same reader preflight uses, so the image passes the deploy's check by construction
    assert conf_value(qemu, "lock_manager") == "sanlock"
    assert conf_value(sanlock, "auto_disk_leases") == "0"
    assert conf_value(sanlock, "require_lease_for_disks") == "0"  # VMs without a <lease> still start
    # host_id belongs to libvirt's own automatic lockspace only: the HA agent joins the hosted-engine
    # lockspace with the engine-assigned id, a second id here would be a second source of truth
    assert conf_value(sanlock, "host_id") == ""
