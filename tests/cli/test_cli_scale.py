"""Large inputs through the CLI: the blocked path, --save, --max-memory, --threads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from attncli import attention

from conftest import RunAttn


@pytest.fixture
def npy(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    paths = {}
    for name, shape in (("q", (300, 8)), ("k", (260, 8)), ("v", (260, 3))):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=shape))
        paths[name] = f"@{tmp_path / name}.npy"
    return paths


def test_stage_output_takes_the_blocked_path_and_equals_the_stages(attn: RunAttn, npy: dict[str, str]) -> None:
    r = attn("compute", "--q", npy["q"], "--k", npy["k"], "--v", npy["v"], "--causal", "--stage", "output", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert list(doc["stages"]) == ["output"]
    assert doc["config"]["shapes"]["scores"] == [300, 260]
    full = attention(*(np.load(p[1:]) for p in (npy["q"], npy["k"], npy["v"])), causal=True)
    np.testing.assert_allclose(doc["output"], full.output, rtol=0, atol=1e-12)
    table = attn("compute", "--q", npy["q"], "--k", npy["k"], "--v", npy["v"], "--stage", "output")
    assert "Computed by the blocked path" in table.out


def test_memory_budget_switches_to_the_blocked_path_and_says_so(attn: RunAttn, npy: dict[str, str]) -> None:
    r = attn("compute", "--q", npy["q"], "--k", npy["k"], "--v", npy["v"], "--max-memory", "1M")
    assert r.code == 0
    assert "the stage tables would need 4 MiB (budget 1 MiB, --max-memory): computing only the output" in r.err
    r = attn("compute", "--q", npy["q"], "--k", npy["k"], "--v", npy["v"], "--max-memory", "10M", "--json")
    assert r.code == 0  # 4 MiB of tables fit, but not their printing as JSON (about 400 bytes a cell)
    assert "the stage tables and their JSON would need 33 MiB (budget 10 MiB, --max-memory)" in r.err
    assert list(json.loads(r.out)["stages"]) == ["output"]


def test_memory_budget_refuses_explicit_stages(attn: RunAttn, npy: dict[str, str]) -> None:
    r = attn("compute", "--q", npy["q"], "--k", npy["k"], "--v", npy["v"], "--max-memory", "1M", "--stage", "weights")
    assert r.code == 2
    assert "ask for --stage output to compute only the output in bounded memory" in r.err


def test_save_npy_and_npz(attn: RunAttn, npy: dict[str, str], tmp_path: Path) -> None:
    r = attn(
        "compute",
        "--q",
        npy["q"],
        "--k",
        npy["k"],
        "--v",
        npy["v"],
        "--save",
        str(tmp_path / "o.npy"),
        "--threads",
        "1",
    )
    assert r.code == 0 and r.out == "" and "saved the output" in r.err
    assert np.load(tmp_path / "o.npy").shape == (300, 3)
    r = attn("compute", "--q", "1 0; 0 1", "--k", "1 0; 0 1", "--v", "1 0; 0 1", "--save", str(tmp_path / "s.npz"))
    stages = np.load(tmp_path / "s.npz")
    assert {"scores", "weights", "output"} <= set(stages.files)
    r = attn("compute", "--q", "1 0", "--k", "1 0", "--v", "1", "--save", str(tmp_path / "x.txt"))
    assert r.code == 2 and "--save: unknown file type '.txt'" in r.err
