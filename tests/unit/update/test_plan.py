from nodecore.report import ValidationReport
from tests.goldenfiles import assert_golden
from update.facts import ClusterFacts, ThinLV, UpdateFacts, bootstrap_registry, kernel_args, parse_lvs, thin_root
from update.images import Image, Registry, dm_path, grub_cfg, to_prune
from update.manifest import ImageManifest
from update.plan import UpdatePaths, apply_plan, prune_plan, rollback_plan, rollback_target, validate_apply

GiB = 1024**3
RUNNING = ImageManifest("0.1.0", "amd64")
NEW = ImageManifest("0.2.0", "amd64")
ROOT = ThinLV("onn", "root", "pool00", 6 * GiB, 2 * GiB, "/dev/mapper/onn-root")
PATHS = UpdatePaths("/var/lib/hcinode/update")


def facts(pool_free=20 * GiB, registry=None):
    return UpdateFacts(RUNNING, ROOT, "ext4", pool_free, "1111-boot", True, "console=ttyS0,115200n8",
                       "6.1.0-28-amd64", registry or bootstrap_registry(RUNNING, ROOT, "6.1.0-28-amd64"), "b1")


def test_apply_plan_golden():
    plan = apply_plan(facts(), NEW, squashfs="/srv/pxe/filesystem.squashfs", source="/srv/pxe/filesystem.squashfs",
                      checksum_from="/srv/manifest.json", paths=PATHS, bound=300)
    assert_golden("update/apply-plan.txt", plan.render_text())
    actions = [s.action for s in plan.steps if s.action]
    # the image is written by the installer's own actions, not a copy of them
    assert {"mount_target", "copy_payload", "bind_system", "make_initramfs", "unmount_target"} <= set(actions)
    assert not any(a == "onn/root" for s in plan.steps for a in s.argv)  # the running root is never an argument


def test_boot_menu_golden_and_trial_logic():
    registry = bootstrap_registry(RUNNING, ROOT, "6.1.0-28-amd64").with_image(
        Image("0.2.0", "onn/root-0.2.0", dm_path("onn", "root-0.2.0"), "/hcinode/0.2.0/vmlinuz",
              "/hcinode/0.2.0/initrd.img", "staged"))
    text = grub_cfg(registry.images, default="0.1.0", boot_uuid="1111-boot", append="console=ttyS0,115200n8",
                    timeout=5)
    assert_golden("update/grub.cfg", text)
    assert "save_env next_entry" in text and 'set fallback="hcinode-0.1.0"' in text
    assert text.index("insmod loadenv") < text.index("load_env")  # the installed core image lacks loadenv
    assert "root=/dev/mapper/onn-root--0.2.0 ro console=ttyS0,115200n8 panic=10" in text
    assert text.index("--id hcinode-0.1.0") < text.index("--id hcinode-0.2.0")  # the default first


def test_validate_refuses_a_full_pool_a_downgrade_and_the_engine_host():
    report = validate_apply(facts(pool_free=1 * GiB), ImageManifest("0.0.9", "amd64"),
                            ClusterFacts(engine_vm_here=True, heal_pending=(("engine", 3),), joined=True,
                                         agent_status="Up"), squashfs_bytes=150 * 1024**2,
                            allow_downgrade=False, force=False)
    fields = sorted(p.field for p in report.errors)
    assert fields == ["SOURCE", "engine-vm", "gluster", "maintenance", "thin pool"]


def test_force_makes_safety_refusals_warnings():
    report = validate_apply(facts(), NEW, ClusterFacts(engine_vm_here=True), squashfs_bytes=GiB // 10,
                            allow_downgrade=False, force=True)
    assert report.ok and [p.field for p in report.warnings] == ["engine-vm"]


def test_joined_in_maintenance_passes():
    report = validate_apply(facts(), NEW, ClusterFacts(joined=True, agent_status="Maintenance"),
                            squashfs_bytes=GiB // 10, allow_downgrade=False, force=False)
    assert report.ok


def test_parse_lvs_finds_the_thin_root_and_pool_space():
    text = ('{"report":[{"lv":[{"vg_name":"onn","lv_name":"pool00","pool_lv":"","lv_size":"10737418240",'
            '"data_percent":"25.00","lv_attr":"twi-aotz--"},{"vg_name":"onn","lv_name":"root","pool_lv":"pool00",'
            '"lv_size":"6442450944","data_percent":"50.00","lv_attr":"Vwi-aotz--"}]}]}')
    lv, free = thin_root(parse_lvs(text), "/dev/mapper/onn-root")
    assert lv == ThinLV("onn", "root", "pool00", 6 * GiB, 3 * GiB, "/dev/mapper/onn-root")
    assert free == int(10 * GiB * 0.75)


def test_kernel_args_drop_what_each_entry_sets():
    grub = "GRUB_CMDLINE_LINUX='console=ttyS0,115200n8 quiet'\n"
    assert kernel_args(grub, "") == "console=ttyS0,115200n8 quiet"
    assert kernel_args("", "BOOT_IMAGE=/vmlinuz root=/dev/mapper/onn-root ro quiet panic=10") == "quiet"


def test_rollback_and_prune():
    registry = Registry((Image("0.1.0", "onn/root", "/dev/mapper/onn-root", "/vmlinuz-6", "/initrd.img-6"),
                         Image("0.2.0", "onn/root-0.2.0", "/dev/mapper/onn-root--0.2.0", "/hcinode/0.2.0/vmlinuz",
                               "/hcinode/0.2.0/initrd.img"),
                         Image("0.3.0", "onn/root-0.3.0", "/dev/mapper/onn-root--0.3.0", "/hcinode/0.3.0/vmlinuz",
                               "/hcinode/0.3.0/initrd.img")), "0.3.0")
    f = UpdateFacts(ImageManifest("0.3.0", "amd64"), ROOT, "ext4", 0, "u", True, "", "6", registry)
    report = ValidationReport()
    assert rollback_target(f, "", report) == "0.2.0" and report.ok
    rollback_target(f, "9.9", report)
    assert "no image 9.9" in report.render_text()
    assert_golden("update/rollback-plan.txt", rollback_plan(f, "0.2.0", PATHS).render_text())
    assert [i.version for i in to_prune(registry, "0.3.0")] == ["0.1.0"]
    assert_golden("update/prune-plan.txt", prune_plan(f, PATHS, 2).render_text())
