"""prune.glibc_gconv_extra: the modules only gconv-modules-extra.conf names go, the base set stays,
and gconv-modules.cache is rebuilt (iconvconfig in the image root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from image_recipes import builder

BASE = """# glibc's base gconv-modules
module  ISO-8859-1//  INTERNAL  ISO8859-1  1
module  INTERNAL  ISO-8859-1//  ISO8859-1  1
alias   UTF16//  UTF-16//
module  UTF-16//  INTERNAL  UTF-16  1
"""
EXTRA = """module  SJIS//  INTERNAL  SJIS  1   # Japanese
module  INTERNAL  SJIS//  SJIS  1
module  IBM037//  INTERNAL  IBM037  1
module  ISO-8859-1//  INTERNAL  ISO8859-1  1
"""


class Recorder:
    def __init__(self) -> None:
        self.argvs: list[list[str]] = []

    def run(self, argv: list[str], **_: Any) -> None:
        self.argvs.append(list(argv))
        if argv[0] == "rm":
            for path in argv[3:]:
                Path(path).unlink()


def test_extra_modules_go_base_stays_cache_rebuilt(tmp_path: Path) -> None:
    gconv = tmp_path / builder.GCONV_DIR
    (gconv / "gconv-modules.d").mkdir(parents=True)
    (gconv / "gconv-modules").write_text(BASE)
    (gconv / builder.GCONV_EXTRA_CONF).write_text(EXTRA)
    for name in ("ISO8859-1", "UTF-16", "SJIS", "IBM037", "libJIS"):
        (gconv / f"{name}.so").write_bytes(b"x" * 100)
    runner = Recorder()
    entry = builder.gconv_extra(runner, str(tmp_path))  # type: ignore[arg-type]
    left = sorted(p.name for p in gconv.iterdir() if p.is_file())
    assert left == ["ISO8859-1.so", "UTF-16.so", "gconv-modules"]  # a module both files name stays
    assert not (gconv / builder.GCONV_EXTRA_CONF).exists()
    assert ["chroot", str(tmp_path), "iconvconfig"] in runner.argvs
    assert entry["bytes"] >= 300 and entry["removes"] and entry["proven_by"]
