"""The README's Python API examples run, in order, as a reader would paste them."""

from __future__ import annotations

import os
import re

from conftest import ROOT


def test_the_python_examples_of_the_readme_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    assert len(blocks) >= 4
    namespace: dict[str, object] = {}
    here = os.getcwd()
    os.chdir(ROOT)  # the examples open samples/ as a reader in a checkout would
    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    finally:
        os.chdir(here)
    r = namespace["r"]
    assert r.weights.round(4).tolist() == [[1.0, 0.0], [0.3302, 0.6698]]  # type: ignore[attr-defined]
    out = namespace["out"]
    assert abs(out.output - r.output).max() < 1e-6  # type: ignore[attr-defined]
