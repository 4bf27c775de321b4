"""prune.python_bytecode_only: modules import from sourceless .pyc; tracebacks keep file and line."""

from __future__ import annotations

import compileall
import sys
from pathlib import Path

from image_recipes import builder
from image_recipes.recipe import load_recipe
from nodecore.runner import LocalRunner


def test_sources_with_bytecode_go_and_imports_still_work(tmp_path: Path) -> None:
    lib = tmp_path / "root/usr/lib/python3.11"
    (lib / "pkg").mkdir(parents=True)
    (lib / "pkg/__init__.py").write_text("from pkg.mod import fail\n")
    (lib / "pkg/mod.py").write_text("def fail():\n    raise ValueError('from mod')\n")
    (lib / "nocache.py").write_text("X = 1\n")  # no bytecode: the source stays
    assert compileall.compile_dir(str(lib / "pkg"), quiet=1)
    entry = builder.python_bytecode_only(str(tmp_path / "root"), "usr/lib/python3.11")
    assert entry["bytes"] > 0 and entry["path"] == "/usr/lib/python3.11/**/*.py"
    assert sorted(p.name for p in (lib / "pkg").iterdir() if p.is_file()) == ["__init__.pyc", "mod.pyc"]
    assert (lib / "nocache.py").exists()
    result = LocalRunner().run([sys.executable, "-c", "import pkg, nocache; pkg.fail()"],
                               env={"PYTHONPATH": str(lib)}, check=False)
    assert not result.ok
    assert "pkg/mod.py\", line 2, in fail" in result.stderr and "ValueError: from mod" in result.stderr


def test_the_node_recipe_keeps_the_project_sources() -> None:
    dirs = load_recipe("node").prune.python_bytecode_only
    assert dirs and not any(d.startswith("usr/local") for d in dirs)
