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
    # d = 4 at 80 columns: Q, K and V stacked, every column shown (side by side they were cut to 2 of 4)
    ("inputs-d4-stacked-80", ["--q", "1 0 1 0; 0 1 0 1", "--k", "1 0 1 0; 0 1 0 1", "--v", "1 2 3 4; 5 6 7 8"], 80),
]


@pytest.mark.parametrize(("name", "args", "columns"), CASES, ids=[c[0] for c in CASES])
def test_golden_render(attn: RunAttn, golden: Golden, name: str, args: list[str], columns: int) -> None:
    r = attn("compute", *args, columns=columns)
    assert r.code == 0, r.err
    golden(name, r.out)
    assert max(len(line) for line in r.out.splitlines()) <= columns


def test_inputs_are_stacked_before_they_are_cut(attn: RunAttn) -> None:
    args = ("--q", "1 0 1 0; 0 1 0 1", "--k", "1 0 1 0; 0 1 0 1", "--v", "1 2 3 4; 5 6 7 8", "--stage", "inputs")
    narrow, wide = attn("compute", *args, columns=80).out, attn("compute", *args, columns=140).out
    assert "showing" not in narrow and narrow.count("d4") == 3
    assert "Q (queries)" in wide.splitlines()[1] and "K (keys)" in wide.splitlines()[1]  # side by side when they fit
    d = 40  # wider than the terminal alone: cut, and said so
    wide_q = "; ".join(" ".join(["1"] * d) for _ in range(2))
    cut = attn("compute", "--q", wide_q, "--k", wide_q, "--v", wide_q, "--stage", "inputs", columns=80).out
    assert f"of {d} columns" in cut
