"""The SVG export carries its own font: DejaVu Sans Mono cut to the picture's characters, nothing fetched,
and every character drawn is in it (Latin, Cyrillic, box drawing, math, ✓/✗, ⋮)."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from typing import Any

from cli.test_view_browser import _no_errors_nothing_fetched, _open, browser  # noqa: F401 (the Chromium fixture)
from fontTools.ttLib import TTFont

from attncli.render.exports import FONT_FAMILY, _svg_text

from conftest import RunAttn


def _fonts(svg: str) -> list[TTFont]:
    return [
        TTFont(io.BytesIO(base64.b64decode(d))) for d in re.findall(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", svg)
    ]


def _save_svg(attn: RunAttn, path: Path, *args: str) -> str:
    r = attn(*args, "--save-svg", str(path))
    assert r.code in (0, 1), r.err
    return path.read_text(encoding="utf-8")


def test_the_svg_embeds_a_font_with_every_character_it_draws(attn: RunAttn, tmp_path: Path) -> None:
    tall = "; ".join(f"{i % 3} 1" for i in range(30))  # 30 rows: cut with ⋮
    pictures = [
        _save_svg(attn, tmp_path / "ru.svg", "compute", "--sample", "causal-4x4", "--heatmap", "--lang", "ru"),
        _save_svg(attn, tmp_path / "tall.svg", "compute", "--q", tall, "--k", tall, "--v", tall, "--stage", "weights"),
        _save_svg(attn, tmp_path / "check.svg", "check", "--sample", "causal-4x4", "--lang", "ru"),
    ]
    drawn = set()
    for svg in pictures:
        assert "cdnjs" not in svg and "Fira Code" not in svg
        assert not re.findall(r"url\((?![\"']?(?:data:|#))", svg)  # only data: URLs and the SVG's own clip paths
        regular, bold = _fonts(svg)
        text = _svg_text(svg)
        drawn |= set(text)
        for face in (regular, bold):
            missing = {c for c in text if ord(c) not in face.getBestCmap()} - {"\n"}
            assert not missing, missing
        assert f'font-family: "{FONT_FAMILY}", monospace;' in svg
    assert {"⋮", "√", "✓"} <= drawn
    assert any("а" <= c <= "я" for c in drawn)  # Russian text was drawn, and found in the font


def test_a_small_picture_stays_small(attn: RunAttn, tmp_path: Path) -> None:
    svg = _save_svg(attn, tmp_path / "s.svg", "compute", "--q", "1 0", "--k", "1 0; 0 1", "--v", "1; 2")
    fonts = sum(len(d) for d in re.findall(r"data:font/woff;base64,([A-Za-z0-9+/=]+)", svg))
    assert fonts < 40_000, fonts  # the two faces cut to a few dozen characters, not the 88 kB files


def test_chromium_draws_it_with_the_embedded_font_offline(
    attn: RunAttn,
    tmp_path: Path,
    browser: Any,  # noqa: F811
) -> None:
    path = tmp_path / "c.svg"
    _save_svg(attn, path, "compute", "--sample", "causal-4x4", "--heatmap", "--lang", "ru")
    _open(browser, path)
    faces = browser.execute_async_script(
        "const done = arguments[0]; document.fonts.ready.then(() => done("
        "[...document.fonts].map(f => [f.family, f.weight, f.status])))"
    )
    assert [FONT_FAMILY, "400", "loaded"] in faces and [FONT_FAMILY, "700", "loaded"] in faces, faces
    _no_errors_nothing_fetched(browser)
