"""Readable on any terminal (issue 12, section 5): ASCII line drawing for TERM=vt100/linux with
LANG=C, and a palette whose mono and 16-colour columns keep focus, selection and errors visible."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import urwid

from tui import charset
from tui.framework import pages_for
from tui.palette import PALETTE
from tui.render import press, render_text

from .conftest import check_golden, make_app


@pytest.mark.parametrize(("env", "ascii_"), [
    ({"TERM": "vt100", "LANG": "en_US.UTF-8"}, True),
    ({"TERM": "vt220", "LANG": "C.UTF-8"}, True),
    ({"TERM": "linux", "LANG": "C"}, True),
    ({"TERM": "linux"}, True),  # no locale at all: C
    ({"TERM": "linux", "LANG": "C", "LC_CTYPE": "C.UTF-8"}, True),  # Python's own PEP 538 coercion
    ({"TERM": "xterm-256color", "LANG": "en_US.ISO-8859-1"}, True),
    ({"TERM": "linux", "LANG": "de_DE.UTF-8"}, False),
    ({"TERM": "xterm-256color", "LC_ALL": "C.utf8"}, False),
    ({"TERM": "screen", "LANG": "C", "LC_ALL": "en_GB.UTF-8"}, False),
])
def test_ascii_is_chosen_from_term_and_locale(env: dict[str, str], ascii_: bool) -> None:
    assert charset.wants_ascii(env) is ascii_


@pytest.fixture
def ascii_mode() -> Iterator[None]:
    charset.use_ascii(True)
    try:
        yield
    finally:
        charset.use_ascii(False)


def assert_ascii(screen: str) -> None:
    bad = sorted({c for c in screen if ord(c) > 127})
    assert not bad, f"non-ASCII characters {bad} on the screen:\n{screen}"


@pytest.mark.parametrize(("mode", "page"), [("node", p.name) for p in pages_for("node")]
                         + [("install", p.name) for p in pages_for("install")])
def test_every_page_is_ascii_at_80x24(ascii_mode: None, mode: str, page: str) -> None:
    app = make_app(mode)
    app.go(page)
    assert_ascii(render_text(app.root, 80, 24))


def test_dialogs_plans_progress_and_lock_are_ascii(ascii_mode: None) -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["b"])  # a form dialog, cut: "more below"
    assert_ascii(render_text(app.root, 80, 24))
    press(app.root, ["esc", "f10"])  # nothing to apply: a message
    assert_ascii(render_text(app.root, 80, 24))
    press(app.root, ["enter", "meta q"])  # the quit question
    screen = render_text(app.root, 80, 24)
    assert_ascii(screen)
    assert "+" in screen and "|" in screen  # the frames are drawn, with ASCII
    press(app.root, ["esc", "f12"])
    assert_ascii(render_text(app.root, 80, 24))
    from nodecore.executor import Progress
    from tui import dialogs

    progress = dialogs.ProgressDialog("Applying", 3)
    progress.update(Progress(index=2, total=3, title="Add profile", state="running"))
    app.unlock()
    app.open_dialog(progress)
    assert_ascii(render_text(app.root, 80, 24))


def test_ascii_network_page_golden(ascii_mode: None) -> None:
    app = make_app("node")
    app.go("Network")
    press(app.root, ["b"])
    check_golden("node-network-bond-ascii-80x24", render_text(app.root, 80, 24))


def palette() -> dict[str, tuple[str, ...]]:
    return {entry[0]: entry[1:] for entry in PALETTE}


def mono(name: str) -> frozenset[str]:
    return frozenset(a for a in palette()[name][2].split(",") if a)


def sixteen(name: str) -> tuple[str, str]:
    fg, bg = palette()[name][0], palette()[name][1]
    return fg, bg


def test_every_palette_entry_is_valid_in_mono_16_and_256_colours() -> None:
    screen = urwid.raw_display.Screen()
    screen.register_palette(PALETTE)  # urwid parses all three columns here and refuses bad ones
    for entry in PALETTE:
        assert len(entry) == 6, entry
        basic, mono_spec, *_rest, high = screen._palette[entry[0]]
        assert mono_spec is not None and basic is not None and high is not None


# (normal, focused or marked) pairs that must look different on every screen
PAIRS = [("menu", "menu_focus"), ("menu", "menu_current"), ("menu_current", "menu_focus"), ("edit", "edit_focus"),
         ("button", "button_focus"), ("dialog", "button_focus"), ("dialog", "menu_focus"), ("body", "button_focus"),
         ("body", "edit_focus"), ("body", "error"), ("dialog", "dialog_error"), ("dialog", "dialog_title"),
         ("bar_empty", "bar_done"), ("footer", "footer_key")]


@pytest.mark.parametrize(("normal", "marked"), PAIRS)
def test_focus_selection_and_errors_are_visible_in_mono(normal: str, marked: str) -> None:
    assert mono(normal) != mono(marked)


@pytest.mark.parametrize(("normal", "marked"), PAIRS)
def test_focus_selection_and_errors_are_visible_in_16_colours(normal: str, marked: str) -> None:
    assert sixteen(normal) != sixteen(marked)


def test_focus_in_mono_is_reverse_video_on_plain_ground() -> None:
    for focus in ("menu_focus", "edit_focus", "button_focus"):
        assert "standout" in mono(focus)
    for ground in ("body", "menu", "dialog"):  # reverse on reverse would hide the focus
        assert "standout" not in mono(ground)
    assert mono("error") & {"bold", "underline", "standout"}
