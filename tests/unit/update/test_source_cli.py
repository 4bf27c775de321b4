import hashlib
import json
import subprocess

import pytest

from nodecore.cli import main
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner
from update.source import BOOT_FILES, candidates, parse_checksum_text, resolve, squashfs_of, squashfs_truncated


@pytest.fixture
def squashfs(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/hostname").write_text("x\n" * 5000)
    image = tmp_path / "filesystem.squashfs"
    subprocess.run(["mksquashfs", str(root), str(image), "-quiet", "-no-progress"], check=True)
    for name in BOOT_FILES:  # the build's pxe/ has them beside the squashfs
        (tmp_path / name).write_bytes(name.encode() * 100)
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


@pytest.mark.parametrize("name", BOOT_FILES)
def test_a_squashfs_without_its_kernel_or_initrd_beside_is_refused(squashfs, tmp_path, name):
    (tmp_path / name).unlink()
    report = ValidationReport()
    assert resolve(str(squashfs), sha(squashfs), str(tmp_path / "work"), report) is None
    text = report.render_text()
    assert f"no {name} beside" in text and f"pxe/{name}" in text, text


def test_a_kernel_that_is_not_the_one_the_checksum_file_names_is_refused(squashfs, tmp_path):
    (tmp_path / "SHA256SUMS").write_text(f"{sha(squashfs)}  filesystem.squashfs\n{'0' * 64}  vmlinuz\n"
                                         f"{sha(tmp_path / 'initrd.img')}  initrd.img\n")
    report = ValidationReport()
    assert resolve(str(squashfs), "", str(tmp_path / "work"), report) is None
    assert "sha256 of " in report.render_text() and "vmlinuz" in report.render_text()


class Server:
    """A real HTTP server on localhost serving one directory (what the e2e's harness serves)."""

    def __init__(self, directory):
        import functools
        import http.server
        import threading
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
        handler.log_message = lambda *a: None  # type: ignore[method-assign]
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def served(squashfs, tmp_path):
    (tmp_path / "SHA256SUMS").write_text("".join(f"{sha(tmp_path / n)}  {n}\n" for n in ("filesystem.squashfs",
                                                                                     *BOOT_FILES)))
    server = Server(tmp_path)
    yield server
    server.httpd.shutdown()


def test_a_url_is_downloaded_with_its_kernel_and_initrd_into_one_directory(served, tmp_path):
    report = ValidationReport()
    source = resolve(f"{served.base}/filesystem.squashfs", "", str(tmp_path / "work"), report)
    assert report.ok and source is not None, report.render_text()
    directory = tmp_path / "work" / ("download-" + source.checksum[:16])
    assert source.path == str(directory / "filesystem.squashfs")
    for name in BOOT_FILES:
        assert (directory / name).read_bytes() == (tmp_path / name).read_bytes()


@pytest.mark.parametrize("name", BOOT_FILES)
def test_a_url_without_its_kernel_or_initrd_beside_is_refused(served, tmp_path, name):
    (tmp_path / name).unlink()
    report = ValidationReport()
    assert resolve(f"{served.base}/filesystem.squashfs", "", str(tmp_path / "work"), report) is None
    assert f"no {name} beside http://127.0.0.1" in report.render_text(), report.render_text()


def test_a_downloaded_kernel_that_is_not_the_one_the_checksum_file_names_is_refused_and_removed(served, tmp_path):
    (tmp_path / "vmlinuz").write_bytes(b"another build's kernel")  # served; SHA256SUMS names the first one
    report = ValidationReport()
    assert resolve(f"{served.base}/filesystem.squashfs", "", str(tmp_path / "work"), report) is None
    assert "sha256 of http://127.0.0.1" in report.render_text() and "vmlinuz" in report.render_text()
    assert not list((tmp_path / "work").glob("download-*/vmlinuz"))  # not kept for the re-run


def make_iso(tmp_path, squashfs, names):
    tree = tmp_path / "iso-tree"
    (tree / "live").mkdir(parents=True)
    for name in names:
        src = squashfs if name == "filesystem.squashfs" else tmp_path / name
        (tree / "live" / name).write_bytes(src.read_bytes())
    iso = tmp_path / "node.iso"
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(iso), str(tree)], check=True,
                   capture_output=True)
    return iso


def test_an_iso_gives_its_squashfs_kernel_and_initrd_in_one_directory(squashfs, tmp_path):
    iso = make_iso(tmp_path, squashfs, ("filesystem.squashfs", *BOOT_FILES))
    report = ValidationReport()
    source = resolve(str(iso), sha(iso), str(tmp_path / "work"), report)
    assert source is not None and source.kind == "iso", report.render_text()
    out = squashfs_of(source, LocalRunner(), str(tmp_path / "work"), report)
    assert report.ok and out.endswith("/filesystem.squashfs"), report.render_text()
    for name in BOOT_FILES:
        assert (tmp_path / "work" / f"iso-{source.checksum[:16]}" / name).read_bytes() == (tmp_path / name).read_bytes()
    assert squashfs_of(source, LocalRunner(), str(tmp_path / "work"), report) == out  # extracted once


def test_an_iso_without_the_kernel_is_refused(squashfs, tmp_path):
    iso = make_iso(tmp_path, squashfs, ("filesystem.squashfs", "initrd.img"))
    report = ValidationReport()
    source = resolve(str(iso), sha(iso), str(tmp_path / "work"), report)
    assert source is not None
    assert squashfs_of(source, LocalRunner(), str(tmp_path / "work"), report) == ""
    assert "/live/vmlinuz" in report.render_text() and "not a node ISO" in report.render_text()


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
