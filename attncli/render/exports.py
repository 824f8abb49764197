"""What rich's SVG and HTML exports need on top: the SVG's own font, and dim text that still reads
(WCAG AA) on the export's background.

rich's SVG asks for Fira Code from a CDN: offline it falls back to whatever monospace (or proportional)
font the viewer has, and the columns stop lining up. Here the SVG carries DejaVu Sans Mono (regular and
bold; attncli/render/fonts, covering Latin, Greek, Cyrillic, box drawing and mathematical symbols), cut
to the characters of the picture (a small table adds about 10 kB) and laid out with its own width
(0.602 em), so Chromium, Firefox and librsvg draw the same picture.

Dim text: rich draws dim text 50 % (HTML) or 40 % (SVG) of the way from the theme's foreground to its
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


FONT_FAMILY = "attncli mono"
FONT_ASPECT_RATIO = 1233 / 2048  # DejaVu Sans Mono's advance width over its em: rich spaces the cells by it
_FONTS = (("DejaVuSansMono.ttf", 400), ("DejaVuSansMono-Bold.ttf", 700))


def svg_with_font(svg: str) -> str:
    """rich's SVG with its CDN font faces replaced by the embedded ones (cut to the characters used)."""
    import re

    text = _svg_text(svg)
    faces = "\n".join(_font_face(name, weight, text) for name, weight in _FONTS)
    svg = re.sub(r"@font-face \{[^}]*\}\s*", "", svg)
    svg = svg.replace("<style>", "<style>\n" + faces, 1)
    return svg.replace("font-family: Fira Code, monospace;", f'font-family: "{FONT_FAMILY}", monospace;')


def _svg_text(svg: str) -> str:
    """Every character an SVG's <text> elements draw."""
    import html
    import re

    return html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))


def _font_face(name: str, weight: int, text: str) -> str:
    import base64
    import io
    from importlib.resources import files

    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(files("attncli.render").joinpath("fonts", name).read_bytes()))
    options = subset.Options()
    options.flavor = "woff"  # zlib: no brotli needed
    options.notdef_outline = True
    options.layout_features = []
    cutter = subset.Subsetter(options)
    cutter.populate(text=text + " ")
    cutter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff"
    font.save(out)
    data = base64.b64encode(out.getvalue()).decode("ascii")
    return (
        f'@font-face {{ font-family: "{FONT_FAMILY}"; font-weight: {weight}; font-style: normal; '
        f'src: url("data:font/woff;base64,{data}") format("woff"); }}'
    )
