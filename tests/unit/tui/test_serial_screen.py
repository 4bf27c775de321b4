import urwid

from tui.app import SerialSafeScreen


def test_a_zero_size_from_the_terminal_counts_as_80x24(monkeypatch):
    # seen on the node's serial console: urwid crashed with ValueError: 0 drawing a 0-wide canvas
    monkeypatch.setattr(urwid.raw_display.Screen, "get_cols_rows", lambda self: (0, 0))
    assert SerialSafeScreen().get_cols_rows() == (80, 24)
    monkeypatch.setattr(urwid.raw_display.Screen, "get_cols_rows", lambda self: (132, 43))
    assert SerialSafeScreen().get_cols_rows() == (132, 43)
