"""bench/image.py's size figures from a manifest (ours and the previous release's)."""

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench" / "image.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_image", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _artifacts(iso: int, squashfs: int, kernel: int, initrd: int) -> dict:
    return {"node.iso": {"size": iso}, "pxe/filesystem.squashfs": {"size": squashfs},
            "pxe/vmlinuz": {"size": kernel}, "pxe/initrd.img": {"size": initrd}}


def test_figures_of_a_manifest_with_the_iso_initrd() -> None:
    manifest = {"builds": {"node": {"artifacts": _artifacts(140, 100, 8, 19),
                                    "iso_parts": {"live/initrd.img": 11}}}}
    assert _bench().size_figures(manifest) == {"iso_size": 140, "squashfs_size": 100, "kernel_size": 8,
                                               "initrd_size": 19, "iso_initrd_size": 11}


def test_an_older_manifest_carried_pxe_s_initrd_on_the_iso() -> None:
    old = json.loads(json.dumps({"artifacts": _artifacts(213, 178, 8, 19)}))  # no builds, no iso_parts
    assert _bench().size_figures(old)["iso_initrd_size"] == 19


def test_the_previous_release_s_build_directory_gives_sizes_its_iso_and_build_steps(tmp_path, capsys) -> None:
    manifest = {"builds": {"node": {"artifacts": _artifacts(142, 113, 8, 19), "release": True,
                                    "step_seconds": {"stage": 5.4, "squashfs": 143.3}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "node.iso").write_bytes(b"")
    sizes, iso = _bench().load_previous(str(tmp_path))
    assert (sizes["iso_size"], iso) == (142, tmp_path / "node.iso")
    line = json.loads(capsys.readouterr().out)
    assert (line["bench"], line["value"], line["release"]) == ("image.previous.build", 148.7, True)
    # the manifest alone: sizes, nothing to boot
    assert _bench().load_previous(str(tmp_path / "manifest.json"))[1] is None


def test_a_previous_directory_without_its_iso_is_refused(tmp_path) -> None:
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(ValueError, match="no node.iso beside"):
        _bench().load_previous(str(tmp_path))


def test_userspace_to_console_from_the_log_the_clock_and_the_uptime() -> None:
    analyze = {"time": "Startup finished in 23.519s (kernel) + 27.911s (userspace) = 51.430s \r\r\n",
               "console_ready": "2026-12-06 08:37:50,907 INFO hcinode.tui: console ready in 4.120s (mode install)\r\n"
                                "2026-12-06 08:37:50,807 INFO hcinode.tui: console ready in 4.059s (mode install)\r\n"
                                "2026-12-06 08:38:11.164483580\r\n61.58 33.29\r\n"}
    # the first console ready, 20.357 s before the clock was read at 61.58 s: 41.22 s after the kernel
    assert _bench().userspace_to_console(analyze) == 17.7
    assert _bench().userspace_to_console({"time": analyze["time"], "console_ready": "\r\n"}) is None


def test_userspace_to_console_ignores_an_earlier_boot_s_lines() -> None:
    analyze = {"time": "Startup finished in 9.264s (kernel) + 27.937s (userspace) = 37.202s \n",
               "console_ready": "2026-12-05 10:00:00,000 INFO hcinode.tui: console ready in 3.1s (mode node)\n"
                                "2026-12-06 14:35:43,107 INFO hcinode.tui: console ready in 3.216s (mode node)\n"
                                "2026-12-06 14:36:13.727170150\n60.41 33.55\n"}
    assert _bench().userspace_to_console(analyze) == 20.5
