"""Keyfile text <-> libnm connections, through libnm's own keyfile reader and writer.

Using NetworkManager's parser (not our own) means a profile handed to the running daemon is the
same one the daemon would load from disk at boot.
"""

from __future__ import annotations

from typing import Any

KEYFILE_BASE_DIR = "/etc/NetworkManager/system-connections"


def nm_module() -> Any:
    """The libnm GI module (raises RuntimeError with the package name when it is missing)."""
    try:
        import gi

        gi.require_version("NM", "1.0")
        from gi.repository import NM
    except (ImportError, ValueError) as exc:
        raise RuntimeError("libnm GI bindings are missing: install gir1.2-nm-1.0 and python3-gi") from exc
    return NM


def parse_keyfile(text: str) -> Any:
    """Keyfile text -> NM.SimpleConnection (normalized, verified). Raises ValueError when libnm rejects it."""
    NM = nm_module()
    from gi.repository import GLib

    keyfile = GLib.KeyFile()
    try:
        keyfile.load_from_data(text, len(text.encode()), GLib.KeyFileFlags.NONE)
        conn = NM.keyfile_read(keyfile, KEYFILE_BASE_DIR, NM.KeyfileHandlerFlags.NONE, None, None)
        conn.normalize()
        conn.verify()
    except GLib.Error as exc:
        raise ValueError(f"NetworkManager rejects the profile: {exc.message}") from None
    return conn


def write_keyfile(conn: Any) -> str:
    """NM.Connection -> keyfile text as NetworkManager itself would write it."""
    NM = nm_module()
    keyfile = NM.keyfile_write(conn, NM.KeyfileHandlerFlags.NONE, None, None)
    text: str = keyfile.to_data()[0]
    return text
