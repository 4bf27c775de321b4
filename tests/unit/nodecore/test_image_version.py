from pathlib import Path

from nodecore import __version__
from nodecore.image_version import running_version


def test_the_image_json_version_wins_else_the_package_version(tmp_path: Path) -> None:
    path = tmp_path / "image.json"
    assert running_version(str(path)) == __version__  # no image.json: a dev machine
    path.write_text('{"version": "0.1.1", "architecture": "amd64"}')
    assert running_version(str(path)) == "0.1.1"
    for bad in ("not json", "[]", '{"version": 3}', '{"version": ""}'):
        path.write_text(bad)
        assert running_version(str(path)) == __version__, bad
