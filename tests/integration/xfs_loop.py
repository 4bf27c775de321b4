"""An XFS file system on a loop file, mounted for one test module (O_DIRECT works there; tmpfs refuses it)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def xfs_mount(size: str = "300M") -> Iterator[str]:
    work = tempfile.mkdtemp(prefix="hcinode-he-xfs-")
    image, mnt = os.path.join(work, "xfs.img"), os.path.join(work, "mnt")
    os.mkdir(mnt)
    subprocess.run(["truncate", "-s", size, image], check=True)
    subprocess.run(["mkfs.xfs", "-q", "-f", image], check=True)
    subprocess.run(["mount", "-o", "loop", image, mnt], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", mnt], check=False)
        subprocess.run(["rm", "-rf", work], check=False)
