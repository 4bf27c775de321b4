"""bench/image.py's size figures from a manifest (ours and the previous release's)."""

import importlib.util
import json
from pathlib import Path

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
