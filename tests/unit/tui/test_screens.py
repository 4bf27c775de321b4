"""Golden screens: every page rendered to text at 80x24 and 132x43 (pytest --regenerate rewrites)."""

from __future__ import annotations

import pytest

from tui.framework import pages_for
from tui.render import render_text

from .conftest import check_golden, make_app

SIZES = [(80, 24), (132, 43)]
NODE_PAGES = [p.name for p in pages_for("node")]
INSTALL_PAGES = [p.name for p in pages_for("install")]


def slug(name: str) -> str:
    return name.lower().replace(" ", "-").replace("/", "-")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("page", NODE_PAGES)
def test_node_page_golden(page: str, size: tuple[int, int]) -> None:
    app = make_app("node")
    app.go(page)
    check_golden(f"node-{slug(page)}-{size[0]}x{size[1]}", render_text(app.root, *size))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("page", INSTALL_PAGES)
def test_install_page_golden(page: str, size: tuple[int, int]) -> None:
    app = make_app("install")
    app.go(page)
    check_golden(f"install-{slug(page)}-{size[0]}x{size[1]}", render_text(app.root, *size))


def test_too_small_golden() -> None:
    app = make_app("node")
    check_golden("too-small-40x12", render_text(app.root, 40, 12))
