"""Does KVM really boot a guest here? (Having /dev/kvm is not enough: on some hosts, nested
virtualization among them, Linux guests hang in early boot under KVM.)

The probe boots a Linux kernel with no root filesystem under `-accel kvm` and waits, with a
timeout, for the panic about the missing root: reaching it proves the guest got through early
boot. The answer is cached per host kernel and QEMU binary.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence

from nodecore.errors import CommandFailed
from nodecore.runner import LocalRunner, Runner

CACHE_PATH = os.environ.get("HCINODE_KVM_PROBE_CACHE", "/var/cache/hcinode/kvm-probe.json")
# Printed once the kernel has left early boot and looks for its root filesystem.
BOOTED_MARKERS = ("VFS: Unable to mount root", "Kernel panic - not syncing", "Run /init", "Freeing unused")


def _cache_key() -> str:
    qemu = "/usr/bin/qemu-system-x86_64"
    stamp = int(os.stat(qemu).st_mtime) if os.path.exists(qemu) else 0
    return f"{os.uname().release}:{stamp}"


def cached_result() -> bool | None:
    try:
        with open(CACHE_PATH, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data.get("boots") if data.get("key") == _cache_key() else None


def find_kernel(candidates: Sequence[str] = ()) -> str | None:
    for path in [*candidates, "build/pxe/vmlinuz", *sorted(glob.glob("/boot/vmlinuz-*"), reverse=True)]:
        if os.path.isfile(path) and os.access(path, os.R_OK):
            return path
    return None


def probe(kernel: str | None = None, timeout: float = 60.0, runner: Runner | None = None) -> tuple[bool, str]:
    """(boots, reason). Caches a definite answer."""
    runner = runner or LocalRunner()
    if not os.path.exists("/dev/kvm"):
        return False, "no /dev/kvm"
    kernel = kernel or find_kernel()
    if not kernel:
        return False, "no Linux kernel to boot for the probe (build the image first)"
    argv = ["qemu-system-x86_64", "-accel", "kvm", "-m", "256", "-smp", "1", "-nodefaults",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-kernel", kernel,
            "-append", "console=ttyS0 panic=-1 loglevel=4"]
    try:
        out = runner.run(argv, check=False, timeout=timeout)
        text, reason = out.stdout + out.stderr, f"qemu exited {out.returncode}"
    except CommandFailed as exc:
        text, reason = exc.stdout + exc.stderr, f"no boot within {timeout:.0f}s"
    boots = any(marker in text for marker in BOOTED_MARKERS)
    if boots:
        reason = "kernel reached its root-mount stage under KVM"
    try:
        os.makedirs(os.path.dirname(CACHE_PATH), exist_ok=True)
        with open(CACHE_PATH, "w", encoding="utf-8") as f:
            json.dump({"key": _cache_key(), "boots": boots, "reason": reason}, f)
    except OSError:
        pass  # a read-only cache location only costs a re-probe
    return boots, reason
