"""Build attncli/render/fonts/: DejaVu Sans Mono (regular and bold) cut to the characters attncli's tables
use (Latin, Greek, Cyrillic, punctuation, super- and subscripts, arrows, mathematical operators, box
drawing, blocks, geometric shapes, ✓/✗), plus DejaVu Sans's ⋮ (U+22EE, which the mono font lacks)
re-centred in the mono cell. The SVG export cuts these again to the characters of each picture.

    python scripts/build_font.py [FOLDER]   # default /usr/share/fonts/truetype/dejavu (Debian's fonts-dejavu-core)

Needs fontTools (a runtime dependency of attncli for the SVG export).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.pens.recordingPen import DecomposingRecordingPen
from fontTools.pens.transformPen import TransformPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont

RANGES = (
    (0x20, 0x7E), (0xA0, 0x17F), (0x370, 0x3FF), (0x400, 0x45F), (0x1D2C, 0x1D6A), (0x2010, 0x205E),
    (0x2070, 0x209C), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x259F), (0x25A0, 0x25FF),
    (0x2713, 0x2718),
)  # fmt: skip
BORROWED = (0x22EE,)  # from DejaVu Sans: ⋮ (the tables' cut rows)
OUT = Path(__file__).resolve().parent.parent / "attncli" / "render" / "fonts"


def build(source: Path, mono: str, sans: str) -> Path:
    font, donor = TTFont(source / f"{mono}.ttf"), TTFont(source / f"{sans}.ttf")
    for code in BORROWED:
        _borrow(font, donor, code)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.drop_tables += ["FFTM"]
    cutter = subset.Subsetter(options)
    cutter.populate(unicodes=[c for a, b in RANGES for c in range(a, b + 1)])
    cutter.subset(font)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{mono}.ttf"
    font.save(path)
    return path


def _borrow(font: TTFont, donor: TTFont, code: int) -> None:
    """Copy the donor's glyph for `code` into `font`, centred in the mono font's advance width."""
    name = donor.getBestCmap()[code]
    width = font["hmtx"]["a"][0]
    donor_width = donor["hmtx"][name][0]
    recording = DecomposingRecordingPen(donor.getGlyphSet())
    donor.getGlyphSet()[name].draw(recording)
    pen = TTGlyphPen(None)
    recording.replay(TransformPen(pen, (1, 0, 0, 1, (width - donor_width) / 2, 0)))
    glyph = pen.glyph()
    order = [*font.getGlyphOrder(), name]
    font.setGlyphOrder(order)
    font["glyf"].setGlyphOrder(order)
    font["glyf"][name] = glyph
    glyph.recalcBounds(font["glyf"])
    font["hmtx"][name] = (width, glyph.xMin if hasattr(glyph, "xMin") else 0)
    for table in font["cmap"].tables:
        if table.isUnicode():
            table.cmap[code] = name


if __name__ == "__main__":
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/fonts/truetype/dejavu")
    for mono, sans in (("DejaVuSansMono", "DejaVuSans"), ("DejaVuSansMono-Bold", "DejaVuSans-Bold")):
        out = build(folder, mono, sans)
        print(f"{out}: {out.stat().st_size} bytes")
