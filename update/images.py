"""The images on this node (images.json in the update state dir) and the GRUB menu made from them.

Each image is a root file system on its own thin LV with its kernel and initrd on the shared /boot
(under /boot/hcinode/<version>/; the image the installer wrote keeps /boot/vmlinuz-<kernel>). The
menu is written whole from this list every time (installer.target writes grub.cfg the same way:
directly, no grub-mkconfig), with the trial logic of trial.py in its header:

- `saved_entry` (grubenv) is the default: the last image that reached healthy;
- `next_entry` (grubenv, set by `update apply`) boots once: GRUB clears it before it boots, so a
  trial boot that panics, hangs or loses power comes back to `saved_entry` on the next boot;
- `fallback` is the default image as well: a trial entry whose kernel does not load falls back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from installer.target import grub_serial_command

IMAGES_FILE = "images.json"
BOOT_DIR = "hcinode"  # on the /boot file system: /boot/hcinode/<version>/{vmlinuz,initrd.img}
KEEP = 2  # the running image and one previous
# a panic reboots (GRUB then boots the saved default); a hang needs the watchdog (docs/update.md)
TRIAL_ARGS = "panic=10"


@dataclass(frozen=True)
class Image:
    version: str
    lv: str  # vg/lv
    device: str  # /dev/mapper/... (the root= argument)
    kernel: str  # path on the /boot file system
    initrd: str
    state: str = "good"  # good (booted healthy once) | staged (never booted healthy) | failed

    @property
    def entry_id(self) -> str:
        return entry_id(self.version)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry_id(version: str) -> str:
    return "hcinode-" + re.sub(r"[^A-Za-z0-9._+-]", "_", version)


def lv_name(version: str) -> str:
    """The thin LV of an image: root-<version> (LVM allows letters, digits and ._+-)."""
    return "root-" + re.sub(r"[^A-Za-z0-9._+]", "_", version)


def dm_path(vg: str, lv: str) -> str:
    """/dev/mapper/<vg>-<lv> with device-mapper's escaping (a '-' inside a name is doubled)."""
    return f"/dev/mapper/{vg.replace('-', '--')}-{lv.replace('-', '--')}"


@dataclass(frozen=True)
class Registry:
    images: tuple[Image, ...]
    default: str  # the version GRUB boots by default (saved_entry)

    def find(self, version: str) -> Image | None:
        return next((i for i in self.images if i.version == version), None)

    def with_image(self, image: Image) -> Registry:
        others = tuple(i for i in self.images if i.version != image.version)
        return replace(self, images=(*others, image))

    def without(self, version: str) -> Registry:
        return replace(self, images=tuple(i for i in self.images if i.version != version))

    def to_dict(self) -> dict[str, Any]:
        return {"default": self.default, "images": [i.to_dict() for i in self.images]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registry:
        return cls(tuple(Image(**{k: str(v) for k, v in i.items()}) for i in data.get("images", [])),
                   str(data.get("default", "")))


def load_registry(path: str) -> Registry | None:
    try:
        with open(path, encoding="utf-8") as f:
            return Registry.from_dict(json.load(f))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an image list ({exc})") from None


def to_prune(registry: Registry, running: str, keep: int = KEEP) -> list[Image]:
    """Images beyond the running one and the newest others up to `keep` in all (failed ones go first);
    the default is never pruned (it is what the next boot runs)."""
    from update.manifest import version_key

    protected = {running, registry.default}
    others = [i for i in registry.images if i.version not in protected]
    others.sort(key=lambda i: (i.state != "failed", version_key(i.version)), reverse=True)
    room = max(0, keep - len(protected & {i.version for i in registry.images}))
    return sorted(others[room:], key=lambda i: version_key(i.version))


def previous_of(registry: Registry, running: str) -> Image | None:
    """The newest good image other than the running one: what `rollback` returns to."""
    from update.manifest import version_key

    good = [i for i in registry.images if i.version != running and i.state == "good"]
    return max(good, key=lambda i: version_key(i.version)) if good else None


def grub_cfg(images: Sequence[Image], *, default: str, boot_uuid: str, append: str, timeout: int) -> str:
    """The whole menu: the default image first, then the others newest first; each with --id."""
    from update.manifest import version_key

    ordered = sorted(images, key=lambda i: (i.version != default, [-n for n, _ in version_key(i.version)]))
    serial = grub_serial_command(append)
    terminal = f"{serial}\nterminal_input console serial\nterminal_output console serial\n" if serial else ""
    default_id = entry_id(default)
    lines = [
        "# written by hcinode update (images.json); trial boots: update/trial.py",
        terminal.rstrip("\n"),
        # the installed core image does not carry loadenv: without it load_env/save_env are unknown
        # commands and next_entry never boots the trial (found by tests/e2e/test_update.py)
        "insmod loadenv",
        "if [ -s $prefix/grubenv ]; then",
        "    load_env",
        "fi",
        'if [ -n "${next_entry}" ]; then',
        '    set default="${next_entry}"',
        "    set next_entry=",
        "    save_env next_entry",
        'elif [ -n "${saved_entry}" ]; then',
        '    set default="${saved_entry}"',
        "else",
        f'    set default="{default_id}"',
        "fi",
        f'set fallback="{default_id}"',
        f"set timeout={int(timeout)}",
        "insmod part_gpt",
        "insmod ext2",
        "insmod xfs",
        f"search --no-floppy --fs-uuid --set=root {boot_uuid}",
        "",
    ]
    for image in ordered:
        args = f"root={image.device} ro {append}".rstrip()
        if image.state != "good":
            args += f" {TRIAL_ARGS}"
        label = f"hcinode {image.version}" + (" (trial)" if image.state == "staged" else "") + \
            (" (failed its trial)" if image.state == "failed" else "")
        lines += [f'menuentry "{label}" --id {image.entry_id} {{',
                  f"    linux {image.kernel} {args}",
                  f"    initrd {image.initrd}",
                  "}"]
    return "\n".join(line for line in lines if line is not None) + "\n"
