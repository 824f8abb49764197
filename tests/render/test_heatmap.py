"""The heatmap's cuts: which key columns stay when not all fit, and labels that repeat."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from attncli.render.heatmap import _hidden, columns_to_show, numbered

from conftest import RunAttn


@settings(max_examples=200, deadline=None)
@given(
    weights=st.integers(1, 12).flatmap(
        lambda t: st.integers(1, 40).flatmap(
            lambda s: arrays(np.float64, (t, s), elements=st.floats(0, 1, allow_subnormal=False))
        )
    ),
    limit=st.integers(3, 30),
)
def test_every_rows_largest_weight_stays_when_there_is_room(weights: np.ndarray, limit: int) -> None:
    cols = columns_to_show(weights, limit)
    n = weights.shape[1]
    assert len(cols) <= max(limit, 1) or n <= limit
    shown = [c for c in cols if c is not None]
    assert shown == sorted(set(shown)) and all(0 <= c < n for c in shown)
    # a '…' stands exactly where columns are missing, never twice in a row
    assert all(not (a is None and b is None) for a, b in itertools.pairwise(cols))
    for a, b in itertools.pairwise(cols):
        if a is not None and b is not None:
            assert b == a + 1
    peaks = set(np.argmax(weights, axis=1).tolist())
    if len(peaks) * 2 + 1 <= limit:  # room for every peak with a '…' on both sides: none is dropped
        assert peaks <= set(shown)
    if n <= limit:
        assert cols == list(range(n))


def test_the_column_most_rows_peak_at_is_kept() -> None:
    w = np.full((5, 21), 0.01)
    w[:, 12] = 0.8  # the middle column holds every row's largest weight: a first/last window would drop it
    cols = columns_to_show(w, 7)
    assert 12 in cols and cols[0] == 0 and cols[-1] == 20
    assert _hidden(cols, 21) == ", ".join(
        f"{a}–{b}" if a != b else f"{a}" for a, b in _runs([c for c in range(21) if c not in cols])
    )


def _runs(missing: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for j in missing:
        if runs and runs[-1][1] == j:
            runs[-1] = (runs[-1][0], j + 1)
        else:
            runs.append((j + 1, j + 1))
    return runs


def test_repeated_labels_get_positions() -> None:
    assert numbered(["a", "b"]) == ["a", "b"]
    assert numbered(["##т", "x", "##т"]) == ["1:##т", "2:x", "3:##т"]
    assert numbered(["##т", "##т"], header=True) == ["##т\n1", "##т\n2"]


def test_the_russian_heatmap_at_80_columns_keeps_the_peaks_and_numbers_the_pieces(attn: RunAttn) -> None:
    """The issue's case: «Этот фильм потрясающий» in MiniLM is 21 pieces; at 80 columns the heatmap
    cannot show them all, so it keeps each row's largest weight and says which columns are hidden."""
    import json

    doc = json.loads(attn("explain", "Этот фильм потрясающий", "--json").out)
    weights = np.array(doc["stages"]["weights"])
    text = attn("explain", "Этот фильм потрясающий", columns=80).out
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("4 · weights"))
    positions = [int(p) for p in lines[at + 2].split() if p.isdigit()]
    assert set(np.argmax(weights, axis=1) + 1) <= set(positions)
    assert "3:##т" in text and "5:##т" in text and "hidden:" in " ".join(text.split())
    assert max(len(line) for line in lines) <= 80


def _rgb(text: str) -> tuple[int, int, int]:
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def test_exported_text_contrasts_enough_with_its_background(attn: RunAttn, tmp_path: Path) -> None:
    """WCAG AA (4.5 : 1) for every text colour of the HTML export on its own background (the page's white
    where none is set): heatmap cells, the colour scale's numbers, dim captions; and the SVG's dim text."""
    import re

    from attncli.render.exports import dim_colours
    from attncli.render.heatmap import contrast

    page, picture = tmp_path / "c.html", tmp_path / "c.svg"
    r = attn("compute", "--sample", "causal-4x4", "--heatmap", "--save-html", str(page), "--save-svg", str(picture))
    assert r.code == 0, r.err
    classes = re.findall(r"\.r\d+ \{([^}]*)\}", page.read_text())
    checked = 0
    for style in classes:
        fg = re.search(r"(?<!-)color: (#[0-9a-f]{6})", style)
        bg = re.search(r"background-color: (#[0-9a-f]{6})", style)
        if fg:
            ratio = contrast(_rgb(fg.group(1)), _rgb(bg.group(1)) if bg else (255, 255, 255))
            assert ratio >= 4.5, f"{style}: {ratio:.2f}"
            checked += 1
    assert checked >= 10  # the heatmap's cells and the colour scale are among them
    svg = picture.read_text()
    faint, readable = dim_colours("svg")
    assert faint not in svg and readable in svg
    assert contrast(_rgb(readable), (41, 41, 41)) >= 4.5
