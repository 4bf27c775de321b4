"""A package that does not exist in the mirror fails the bootstrap with its name (real mmdebstrap)."""

from __future__ import annotations

import os
import shutil

import pytest

from image_recipes import builder
from image_recipes.recipe import load_recipe


@pytest.mark.integration
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mmdebstrap"), reason="needs root and mmdebstrap")
def test_missing_package_is_named(tmp_path) -> None:
    recipe = load_recipe("node")
    params = {"dest": str(tmp_path / "rootfs" / "x"), "suite": recipe.distribution.suite,
              "mirrors": recipe.mirror_lines(), "packages": ["hcinode-no-such-package"],
              "epoch": recipe.distribution.source_date_epoch}
    from nodecore.runner import LocalRunner

    with pytest.raises(RuntimeError, match="hcinode-no-such-package"):
        builder.bootstrap(LocalRunner(), params)
    # nothing was published under the cache key
    assert not (tmp_path / "rootfs" / "x").exists()
