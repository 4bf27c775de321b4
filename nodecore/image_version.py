"""The version of the running image, as the console and `hcinode update status` name it.

Images carry /usr/share/hcinode/image.json (image_recipes.builder.write_identity): its version may
differ from the hcinode package's (HCINODE_IMAGE_VERSION at build time, an update's image of the same
code), so it wins; without it the package's version is the image's (update/manifest.py).
"""

from __future__ import annotations

import json

from nodecore import __version__

IMAGE_JSON = "/usr/share/hcinode/image.json"


def running_version(path: str = IMAGE_JSON) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            version = json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return __version__
    return version if isinstance(version, str) and version else __version__
