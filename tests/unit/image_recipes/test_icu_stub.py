"""prune.icu_data_stub: the stub libicudata keeps libxml2 (libvirt's XML) working."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from image_recipes import builder
from image_recipes.recipe import load_recipe
from nodecore.runner import LocalRunner


@pytest.fixture
def stub_lib(tmp_path: Path) -> Path:
    """This machine's ICU major version, stubbed into a fake root (the image is the same Debian)."""
    libdir = tmp_path / "root/usr/lib/x86_64-linux-gnu"
    libdir.mkdir(parents=True)
    real = sorted(Path("/usr/lib/x86_64-linux-gnu").glob("libicudata.so.*.*"))[0]
    (libdir / real.name).write_bytes(b"\0" * 4096)
    entry = builder.icu_data_stub(LocalRunner(), str(tmp_path / "root"))
    assert entry["path"] == f"/usr/lib/x86_64-linux-gnu/{real.name}" and entry["bytes"] < 4096
    assert entry["removes"] and entry["proven_by"]
    (libdir / real.name.rsplit(".", 1)[0]).symlink_to(real.name)  # the soname link, as in the image
    return libdir


def test_stub_is_reproducible(tmp_path: Path, stub_lib: Path) -> None:
    first = next(stub_lib.glob("libicudata.so.*.*")).read_bytes()
    again = tmp_path / "again/usr/lib/x86_64-linux-gnu"
    again.mkdir(parents=True)
    name = next(stub_lib.glob("libicudata.so.*.*")).name
    (again / name).write_bytes(b"x")
    builder.icu_data_stub(LocalRunner(), str(tmp_path / "again"))
    assert (again / name).read_bytes() == first
    assert len(first) < 20_000


def test_libxml2_and_libvirt_work_with_the_stub(tmp_path: Path, stub_lib: Path) -> None:
    env = {"LD_LIBRARY_PATH": str(stub_lib)}
    runner = LocalRunner()
    assert str(stub_lib) in runner.run(["ldd", "/usr/bin/xmllint"], env=env).stdout  # the stub is the one loaded
    utf8 = tmp_path / "d.xml"
    utf8.write_text('<?xml version="1.0" encoding="UTF-8"?><domain type="kvm"><name>n\u00e9</name></domain>')
    assert "n\u00e9" in runner.run(["xmllint", str(utf8)], env=env).stdout
    latin1 = tmp_path / "l.xml"
    latin1.write_bytes(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>')
    assert runner.run(["xmllint", "--encode", "UTF-8", str(latin1)], env=env).stdout.count("\u00e9") == 1
    xml = runner.run(["virsh", "-c", "test:///default", "dumpxml", "test"], env=env).stdout
    assert "<name>test</name>" in xml


def test_the_node_recipe_uses_the_stub() -> None:
    recipe = load_recipe("node")
    assert recipe.prune.icu_data_stub
    assert builder.base_key(recipe) != builder.base_key(
        replace(recipe, prune=replace(recipe.prune, icu_data_stub=False)))
