"""Kickstart and image fetches are bounded: size (after decoding), overall deadline; real HTTP
servers on loopback in a thread."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from installer import sources


class _Hostile(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        try:
            getattr(self, "_" + self.path.strip("/"))()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should

    def _huge_length(self) -> None:  # claims 2 GiB, sends little
        self.send_response(200)
        self.send_header("Content-Length", str(2 * 1024**3))
        self.end_headers()
        self.wfile.write(b"rootpw --lock\n")

    def _endless(self) -> None:  # no length, never ends
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(10_000):
            self.wfile.write(b"# filler\n" * 8192)

    def _bomb(self) -> None:  # 100 KiB of gzip that decodes to 100 MiB
        body = _BOMB
        self.send_response(200)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self) -> None:  # a byte a second: each read is well inside any per-read timeout
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        for _ in range(60):
            self.wfile.write(b"#")
            self.wfile.flush()
            time.sleep(1.0)

    def _slow_headers(self) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * 60:
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(1.0)

    def _ok(self) -> None:
        body = b"rootpw --lock\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client hanging up on a hostile answer is the point of these tests


_BOMB = gzip.compress(b"\0" * (100 * 1024**2), compresslevel=9)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = _Server(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _fails_fast(call, match: str, within: float) -> None:
    started = time.monotonic()
    with pytest.raises(sources.SourceError, match=match):
        call()
    assert time.monotonic() - started < within


def test_a_2gib_content_length_is_refused_before_reading(server: str) -> None:
    _fails_fast(lambda: sources.fetch_http(f"{server}/huge_length", sleep=lambda s: None), "2147483648 bytes", 5)


def test_an_endless_body_stops_at_the_limit(server: str) -> None:
    _fails_fast(lambda: sources.fetch_http(f"{server}/endless", sleep=lambda s: None), "more than the limit", 10)


def test_a_gzip_bomb_stops_at_the_limit_after_decoding(server: str) -> None:
    _fails_fast(lambda: sources.fetch_http(f"{server}/bomb", sleep=lambda s: None), "more than the limit", 10)


def test_a_trickling_body_hits_the_overall_deadline(server: str) -> None:
    # timeout=15 per read: only the overall deadline can end a byte-a-second answer
    _fails_fast(lambda: sources.fetch_http(f"{server}/trickle", timeout=15, deadline=2.5, attempts=1),
                "too slow", 6)


def test_trickling_headers_hit_the_overall_deadline(server: str) -> None:
    _fails_fast(lambda: sources.fetch_http(f"{server}/slow_headers", timeout=15, deadline=2.5, attempts=1),
                "too slow", 6)


def test_image_downloads_are_bounded_too(server: str, tmp_path) -> None:
    dest = tmp_path / "image.squashfs"
    _fails_fast(lambda: sources.download(f"{server}/endless", str(dest), limit=1024**2, backoff=0), "limit", 10)
    _fails_fast(lambda: sources.download(f"{server}/trickle", str(dest), deadline=2.5, attempts=1), "too slow", 6)
    assert not dest.exists() and not list(tmp_path.iterdir())  # no .part left behind
    digest = sources.download(f"{server}/ok", str(dest))
    assert dest.read_bytes() == b"rootpw --lock\n"
    assert digest == hashlib.sha256(b"rootpw --lock\n").hexdigest()  # hashed as it arrived


def test_a_normal_kickstart_still_fetches(server: str) -> None:
    assert sources.fetch_http(f"{server}/ok") == b"rootpw --lock\n"


def test_dev_zero_is_not_a_kickstart() -> None:
    with pytest.raises(sources.SourceError, match="not a regular file"):
        sources.fetch("/dev/zero", runner=None)  # type: ignore[arg-type]


def test_validate_mounts_nothing_for_hd_and_cdrom_sources() -> None:
    from nodecore.runner import RecordingRunner

    runner = RecordingRunner()
    for value in ("hd:LABEL=KS:/ks.cfg", "hd:sdb1:/ks.cfg", "cdrom:/ks.cfg", "cdrom:sr1:/ks.cfg"):
        with pytest.raises(sources.SourceError, match="mounts no device"):
            sources.fetch(value, runner, mount=False)
    assert runner.calls == []
