"""What the image's bytes are: the biggest files and directories of the staged root, for the manifest.

Uncompressed sizes are the regular files' sizes in the staged root (a hard-linked file counts
once, as in the squashfs; symlinks and what the squashfs leaves out count nothing).

Compressed sizes (release builds) are an estimate made the way mksquashfs compresses data: each
file is cut into 1 MiB blocks, each block is compressed on its own with xz (LZMA2 preset 6, 1 MiB
dictionary; ELF files with the x86 BCJ filter in front, which mksquashfs -Xbcj x86 also tries and
which wins on x86 code: trying both would double the time), and a block that does not shrink
counts its own size (mksquashfs stores it uncompressed). Not counted: the squashfs
metadata and the packing of small files' tails into shared fragments (so small files come out a
little bigger than they are in the image). A directory's figure is the sum of its files'.
"""

from __future__ import annotations

import fnmatch
import lzma
import os
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

BLOCK = 1 << 20
# what mksquashfs is told to leave out (builder.squashfs) besides the recipe's excludes
SKIPPED_TOPS = ("proc", "sys", "dev", "run", "tmp")
_LZMA2 = {"id": lzma.FILTER_LZMA2, "preset": 6, "dict_size": BLOCK}


@dataclass(frozen=True)
class FileSize:
    path: str  # relative to the root, no leading '/'
    size: int
    elf: bool = False
    mtime_ns: int = 0

    def stamp(self) -> str:
        """Identifies the file's bytes for the estimate cache (the staged root keeps mtimes)."""
        return f"{self.path}\0{self.size}\0{self.mtime_ns}"


def squashfs_files(root: str, exclude: Iterable[str] = ()) -> list[FileSize]:
    """Regular files the squashfs gets (each inode once), sorted by path."""
    patterns = tuple(exclude)
    seen: set[tuple[int, int]] = set()
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in SKIPPED_TOPS]
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(full)
            if not os.path.isfile(full) or os.path.islink(full) or (st.st_dev, st.st_ino) in seen:
                continue
            if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
                continue
            seen.add((st.st_dev, st.st_ino))
            with open(full, "rb") as f:
                elf = f.read(4) == b"\x7fELF"
            out.append(FileSize(rel, st.st_size, elf, st.st_mtime_ns))
    return out


def compressed_block_size(block: bytes, elf: bool) -> int:
    """One data block as mksquashfs -comp xz -b 1M -Xbcj x86 would store it (payload bytes)."""
    filters = [{"id": lzma.FILTER_X86}, _LZMA2] if elf else [_LZMA2]
    return min(len(lzma.compress(block, format=lzma.FORMAT_RAW, filters=filters)), len(block))


def compressed_file_size(path: str, elf: bool) -> int:
    total = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            total += compressed_block_size(block, elf)
    return total


def _compress_job(job: tuple[str, bool]) -> int:
    return compressed_file_size(*job)


def estimate_compressed(root: str, files: list[FileSize], workers: int = 2,
                        known: dict[str, int] | None = None) -> dict[str, int]:
    """path -> estimated compressed bytes (the module docstring says how). `known` maps
    FileSize.stamp() to an earlier estimate: only new or changed files are compressed (a release
    rebuild after a Python-only change redoes a few MiB, not the whole root)."""
    known = known or {}
    todo = [f for f in files if f.stamp() not in known]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        done = list(pool.map(_compress_job, [(os.path.join(root, f.path), f.elf) for f in todo], chunksize=64))
    fresh = {f.stamp(): n for f, n in zip(todo, done, strict=True)}
    return {f.path: fresh[f.stamp()] if f.stamp() in fresh else known[f.stamp()] for f in files}


def biggest(files: list[FileSize], compressed: dict[str, int] | None = None,
            count: int = 30) -> dict[str, list[dict[str, Any]]]:
    """The `count` biggest files and directories (uncompressed, then by path), with compressed
    estimates when given. A directory includes everything below it."""
    dirs: dict[str, int] = {}
    dirs_c: dict[str, int] = {}
    for f in files:
        parts = f.path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            dirs[d] = dirs.get(d, 0) + f.size
            if compressed is not None:
                dirs_c[d] = dirs_c.get(d, 0) + compressed.get(f.path, 0)

    def entry(path: str, size: int, comp: int | None) -> dict[str, Any]:
        return {"path": "/" + path, "bytes": size, "compressed_bytes": comp}

    top_files = sorted(files, key=lambda f: (-f.size, f.path))[:count]
    top_dirs = sorted(dirs.items(), key=lambda kv: (-kv[1], kv[0]))[:count]
    return {
        "files": [entry(f.path, f.size, None if compressed is None else compressed.get(f.path, 0))
                  for f in top_files],
        "directories": [entry(d, s, None if compressed is None else dirs_c.get(d, 0)) for d, s in top_dirs],
    }
