"""Golden renders: the whole table output at a fixed width, compared character for character.

Regenerate after an intended change with  ATTN_UPDATE_GOLDEN=1 python -m pytest tests/render/test_golden.py
and read the diff before committing it.
"""

from __future__ import annotations

import pytest

from conftest import SAMPLES, Golden, RunAttn

CASES = [
    ("one-query-two-keys-80", ["--input", str(SAMPLES / "one-query-two-keys.json")], 80),
    ("causal-4x4-80", ["--input", str(SAMPLES / "causal-4x4.json")], 80),
    ("padding-mask-120", ["--input", str(SAMPLES / "padding-mask.json")], 120),
    (
        "cross-attention-weights-80",
        [
            "--input",
            str(SAMPLES / "cross-attention.json"),
            "--stage",
            "weights",
            "--stage",
            "output",
            "--precision",
            "3",
        ],
        80,
    ),
    ("mha-2heads-head2-80", ["--input", str(SAMPLES / "mha-2heads.json"), "--head", "2"], 80),
    ("mha-rope-120", ["--input", str(SAMPLES / "mha-rope.json"), "--stage", "rope", "--stage", "weights"], 120),
]


@pytest.mark.parametrize(("name", "args", "columns"), CASES, ids=[c[0] for c in CASES])
def test_golden_render(attn: RunAttn, golden: Golden, name: str, args: list[str], columns: int) -> None:
    r = attn("compute", *args, columns=columns)
    assert r.code == 0, r.err
    golden(name, r.out)
    assert max(len(line) for line in r.out.splitlines()) <= columns
