"""Engine appliance disk image: the staged Debian root on a sparse qcow2 (BIOS grub, serial console)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nodecore.runner import Runner


def disk_image(runner: Runner, p: Mapping[str, Any]) -> None:
    raise RuntimeError("the engine appliance disk image is not implemented yet")
