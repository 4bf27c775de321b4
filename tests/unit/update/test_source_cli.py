import hashlib
import json
import subprocess

import pytest

from nodecore.cli import main
from nodecore.report import ValidationReport
from update.source import candidates, parse_checksum_text, resolve, squashfs_truncated


@pytest.fixture
def squashfs(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("x\n" * 5000)
    image = tmp_path / "filesystem.squashfs"
    subprocess.run(["mksquashfs", str(root), str(image), "-quiet", "-no-progress"], check=True)
    return image


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_checksum_formats():
    digest = "a" * 64
    assert parse_checksum_text(digest + "\n", "x") == digest
    assert parse_checksum_text(f"{'b' * 64}  other\n{digest} *filesystem.squashfs\n", "filesystem.squashfs") == digest
    manifest = json.dumps({"artifacts": {"pxe/filesystem.squashfs": {"sha256": digest}}})
    assert parse_checksum_text(manifest, "filesystem.squashfs") == digest
    assert parse_checksum_text("garbage", "x") == ""
    assert candidates("/b/pxe/filesystem.squashfs") == ["/b/pxe/filesystem.squashfs.sha256", "/b/pxe/SHA256SUMS",
                                                        "/b/pxe/manifest.json", "/b/manifest.json"]


def test_resolve_finds_the_checksum_beside_and_verifies(squashfs, tmp_path):
    (tmp_path / "filesystem.squashfs.sha256").write_text(f"{sha(squashfs)}  filesystem.squashfs\n")
    report = ValidationReport()
    source = resolve(str(squashfs), "", str(tmp_path / "work"), report)
    assert report.ok and source is not None and source.kind == "squashfs"


def test_wrong_checksum_and_truncation_are_refused(squashfs, tmp_path):
    report = ValidationReport()
    assert resolve(str(squashfs), "0" * 64, str(tmp_path / "work"), report) is None
    assert "corrupt, truncated" in report.render_text()
    cut = tmp_path / "cut.squashfs"
    cut.write_bytes(squashfs.read_bytes()[:200])
    assert "truncated" in squashfs_truncated(str(cut))
    report = ValidationReport()
    assert resolve(str(cut), sha(cut), str(tmp_path / "work"), report) is None
    assert "truncated" in report.render_text()


def test_not_an_image(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"hello" * 1000)
    report = ValidationReport()
    assert resolve(str(junk), sha(junk), str(tmp_path), report) is None
    assert "neither a node ISO nor a squashfs" in report.render_text()


@pytest.mark.parametrize("argv, words", [
    (["update", "apply", "/no/such.squashfs"], "no such file"),
    (["update", "prune", "--keep", "0"], "the running image is always kept"),
])
def test_cli_bad_input_exits_2(argv, words, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path))
    assert main(["--log-file", str(tmp_path / "log"), *argv]) == 2
    assert words in capsys.readouterr().err


def test_cli_wrong_checksum_exits_2_and_writes_nothing(squashfs, capsys, tmp_path, monkeypatch):
    state = tmp_path / "state"
    monkeypatch.setenv("HCINODE_STATE_DIR", str(state))
    code = main(["--log-file", str(tmp_path / "log"), "update", "apply", str(squashfs), "--checksum", "1" * 64])
    assert code == 2
    assert "nothing was changed" in capsys.readouterr().err
    assert not (state / "update" / "images.json").exists() and not (state / "update" / "trial.json").exists()


def test_cli_not_a_node_image_exits_2(squashfs, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HCINODE_STATE_DIR", str(tmp_path / "state"))
    code = main(["--log-file", str(tmp_path / "log"), "update", "apply", str(squashfs), "--checksum", sha(squashfs)])
    assert code == 2
    assert "not an hcinode node image" in capsys.readouterr().err
