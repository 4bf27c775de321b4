"""python.slim_dependencies: third-party wheels in /usr/local ship bytecode only (their extension
modules stripped), the project's own packages keep their sources."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

from image_recipes import builder
from nodecore.runner import LocalRunner


def test_wheels_bytecode_only_project_keeps_sources(tmp_path: Path) -> None:
    site = tmp_path / builder.SITE_PACKAGES
    for package in ("thirdparty", "nodecore", "pykickstart"):
        (site / package).mkdir(parents=True)
        (site / package / "__init__.py").write_text("VALUE = 42\n")
    (site / "thirdparty-1.0.dist-info").mkdir()
    assert compileall.compile_dir(str(site), quiet=1)
    entries = builder.slim_dependencies(LocalRunner(), str(tmp_path))
    assert [e["path"] for e in entries] == [f"/{builder.SITE_PACKAGES}/thirdparty/**/*.py",
                                           f"/{builder.SITE_PACKAGES}/**/*.so"]
    assert (site / "thirdparty/__init__.pyc").exists() and not (site / "thirdparty/__init__.py").exists()
    assert (site / "nodecore/__init__.py").exists()  # ours: sources stay
    assert (site / "pykickstart/__init__.py").exists()  # it lists its own *.py files to load its handlers
    result = LocalRunner().run([sys.executable, "-c", "import thirdparty; print(thirdparty.VALUE)"],
                               env={"PYTHONPATH": str(site)})
    assert result.stdout.strip() == "42"


def test_the_real_pykickstart_still_parses_after_the_slim(tmp_path: Path) -> None:
    """pykickstart finds its handlers by listing its *.py files: the slim must leave it whole (a node
    image whose installer could not parse any kickstart was built once)."""
    import shutil

    import pykickstart

    site = tmp_path / builder.SITE_PACKAGES
    shutil.copytree(Path(pykickstart.__file__).parent, site / "pykickstart")
    assert compileall.compile_dir(str(site), quiet=1)
    builder.slim_dependencies(LocalRunner(), str(tmp_path))
    result = LocalRunner().run([sys.executable, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                                "from pykickstart.version import makeVersion; makeVersion(); print('ok')", str(site)])
    assert result.stdout.strip() == "ok"
