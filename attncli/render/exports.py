"""What rich's SVG and HTML exports need on top: dim text that still reads (WCAG AA) on the export's
background. rich draws dim text 50 % (HTML) or 40 % (SVG) of the way from the theme's foreground to its
background colour, 3.9 : 1 and 4.1 : 1 against the background (AA asks 4.5 for text); here it is drawn
at a quarter of the way instead."""

from __future__ import annotations

from typing import Literal

Export = Literal["html", "svg"]


def _theme(kind: Export) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(foreground, background) of the theme rich exports `kind` with."""
    from rich.terminal_theme import DEFAULT_TERMINAL_THEME, SVG_EXPORT_THEME

    theme = SVG_EXPORT_THEME if kind == "svg" else DEFAULT_TERMINAL_THEME
    fg, bg = theme.foreground_color, theme.background_color
    return (fg.red, fg.green, fg.blue), (bg.red, bg.green, bg.blue)


def _hex(rgb: tuple[int, ...]) -> str:
    return "#" + "".join(f"{c:02x}" for c in rgb)


def dim_colours(kind: Export) -> tuple[str, str]:
    """(the colour rich draws dim text in, the one drawn instead) for an export of `kind`."""
    fg, bg = _theme(kind)
    fade = 0.4 if kind == "svg" else 0.5  # as rich's export_svg and Style.get_html_style blend them
    blend = tuple(int(f + (b - f) * fade) for f, b in zip(fg, bg, strict=True))  # rich's blend_rgb
    readable = tuple(int(f + (b - f) * 0.25) for f, b in zip(fg, bg, strict=True))
    return _hex(blend), _hex(readable)


def readable_export(text: str, kind: Export) -> str:
    """rich's export with its dim text drawn in a colour that contrasts enough with the background."""
    faint, readable = dim_colours(kind)
    return text.replace(faint, readable)
