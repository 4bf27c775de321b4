"""The image carries its identity (/usr/share/hcinode/image.json), and a build can say it is another
version (HCINODE_IMAGE_VERSION / --image-version): how the update tests make a v2 of the same code."""

from __future__ import annotations

import json
import struct

import pytest

from image_recipes import builder
from image_recipes.cli import image_version
from image_recipes.recipe import load_recipe
from nodecore import __version__
from nodecore.cli import main
from nodecore.errors import InvalidInput
from nodecore.runner import RecordingRunner
from update.manifest import IMAGE_JSON, tree_manifest


def _plan(version: str = ""):
    options = builder.BuildOptions(project_dir=builder.default_project_dir(), build_dir="/tmp/b", cache_dir="/tmp/c",
                                   image_version=version)
    return builder.build_plan(load_recipe("node"), options, ["urwid==2.6.16"])


def _step(plan, action: str):
    return next(s for s in plan.steps if s.action == action)


def test_identity_is_content_only_and_stable() -> None:
    text = builder.image_identity("0.1.1", "amd64", "abc123", 1747699200)
    assert json.loads(text) == {"version": "0.1.1", "architecture": "amd64", "build_id": "abc123",
                                "source_date_epoch": 1747699200}
    assert text == builder.image_identity("0.1.1", "amd64", "abc123", 1747699200)
    assert list(json.loads(text)) == sorted(json.loads(text))


def test_default_version_is_the_package_version() -> None:
    plan = _plan()
    assert _step(plan, "stage").params["image_version"] == __version__
    assert _step(plan, "iso").params["version"] == __version__
    assert _step(plan, "manifest").params["image_version"] == __version__


def test_version_override_reaches_stage_iso_and_manifest_and_changes_the_stage_key() -> None:
    v1, v2 = _plan(), _plan("0.1.1")
    assert _step(v2, "stage").params["image_version"] == "0.1.1"
    assert _step(v2, "iso").params["version"] == "0.1.1"
    assert _step(v2, "stage").params["key"] != _step(v1, "stage").params["key"]
    # the cached stages below the stage step are shared: a v2 build reuses v1's root file system
    assert _step(v2, "prepare_base").params == _step(v1, "prepare_base").params
    assert _plan("0.1.1").id == v2.id


def _fake_root(tmp_path, machine: int = 0x3E):
    dash = tmp_path / "usr/bin/dash"
    dash.parent.mkdir(parents=True)
    dash.write_bytes(b"\x7fELF\x02\x01\x01" + b"\0" * 11 + struct.pack("<H", machine) + b"\0" * 40)
    return tmp_path


def test_write_identity_is_what_update_reads(tmp_path) -> None:
    root = _fake_root(tmp_path)
    runner = RecordingRunner()
    builder.write_identity(runner, str(root), "0.1.1", "k", 5)
    written = runner.files[str(root / IMAGE_JSON)].decode()
    assert json.loads(written)["architecture"] == "amd64"
    (root / IMAGE_JSON).parent.mkdir(parents=True)
    (root / IMAGE_JSON).write_text(written)
    manifest = tree_manifest(str(root))
    assert (manifest.version, manifest.architecture) == ("0.1.1", "amd64")


def test_image_version_option_env_and_bad_values() -> None:
    assert image_version("", {}) == ""
    assert image_version("", {"HCINODE_IMAGE_VERSION": "0.1.1"}) == "0.1.1"
    assert image_version("0.2.0", {"HCINODE_IMAGE_VERSION": "0.1.1"}) == "0.2.0"
    for bad, field in (("v2", "--image-version"), ("0.1.1-rc1", "--image-version"), ("1", "--image-version")):
        with pytest.raises(InvalidInput) as err:
            image_version(bad, {})
        assert field in err.value.report.render_text()
    with pytest.raises(InvalidInput) as err:
        image_version("", {"HCINODE_IMAGE_VERSION": "latest"})
    assert "HCINODE_IMAGE_VERSION" in err.value.report.render_text()


def test_cli_dry_run_with_the_env_override(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HCINODE_IMAGE_VERSION", "0.1.1")
    rc = main(["--log-file", str(tmp_path / "log"), "image", "build", "node", "--dry-run", "--json",
               "--build-dir", str(tmp_path / "b"), "--cache-dir", str(tmp_path / "c")])
    assert rc == 0
    plan = json.loads(capsys.readouterr().out)
    assert next(s for s in plan["steps"] if s["action"] == "iso")["params"]["version"] == "0.1.1"
    monkeypatch.setenv("HCINODE_IMAGE_VERSION", "two")
    assert main(["--log-file", str(tmp_path / "log"), "image", "build", "node", "--dry-run"]) == 2
    assert "HCINODE_IMAGE_VERSION" in capsys.readouterr().err


def test_the_node_image_ships_the_update_package() -> None:
    # `hcinode update` and hcinode-update-confirm.service run on the node: update/ must be in the image
    from image_recipes.recipe import PROJECT_PACKAGES

    plan = _plan()
    assert "update" in PROJECT_PACKAGES and "update" in _step(plan, "wheelhouse").params["packages"]
