"""The real entry point, end to end: the commands the README shows."""

from __future__ import annotations

import json

from conftest import SAMPLES, RunAttn, attn_process


def test_compute_tables_show_every_stage(attn: RunAttn) -> None:
    r = attn("compute", "--q", "[[1,0]]", "--k", "[[0.5,0.5],[0.3,0.7]]", "--v", "[[1,0],[0.5,0.5]]")
    assert r.code == 0, r.err
    for title in ("1 · scores = Q·Kᵀ", "2 · scaled", "4c · softmax, step 3: weights", "5 · output = weights · V"):
        assert title in r.out
    assert "q1·k2 = 1.0×0.3 + 0.0×0.7 = 0.3" in r.out
    assert "÷ √2 = × 0.7071" in r.out
    assert r.err == ""


def test_compute_json_pipes_back_in(attn: RunAttn) -> None:
    first = attn("compute", "--input", str(SAMPLES / "causal-4x4.json"), "--json")
    assert first.code == 0, first.err
    second = attn("compute", "--json", stdin=first.out)
    assert second.code == 0, second.err
    assert json.loads(second.out)["output"] == json.loads(first.out)["output"]


def test_python_m_and_version() -> None:
    r = attn_process("--version")
    assert r.code == 0 and r.out.startswith("attn ")
