"""--format markdown|latex|csv and --save-svg/--save-html. (scripts/check_exports.sh renders them for a person.)"""

from __future__ import annotations

import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import RunAttn, attn_process


def test_markdown_tables_are_well_formed(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "padding-mask", "--format", "markdown", "--stage", "weights", "--stage", "masked")
    assert r.code == 0, r.err
    blocks = r.out.strip().split("\n\n#### ")
    assert [b.splitlines()[0].removeprefix("#### ") for b in blocks] == ["masked", "weights = softmax"]
    for block in blocks:
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({line.count("|") for line in rows}) == 1  # every row has the same number of cells
        assert rows[1].startswith("|---|")
    assert "| **hello** | 0.7071 | 0.0000 | −∞ |" in r.out


def test_latex_tabulars_are_balanced_and_escaped(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "causal-4x4", "--format", "latex", "--precision", "2")
    assert r.out.count(r"\begin{tabular}") == r.out.count(r"\end{tabular}") == 10  # Q, K, V and 7 stages
    assert r"q1 & 0.71 & $-\infty$ & $-\infty$ & $-\infty$ \\" in r.out
    assert r"scores = Q$\cdot$K$^\top$" in r.out
    for table in re.findall(r"\\begin\{tabular\}\{l(r+)\}(.*?)\\end\{tabular\}", r.out, flags=re.S):
        columns = len(table[0]) + 1
        rows = [line for line in table[1].splitlines() if line.endswith(r"\\") and "multicolumn" not in line]
        assert all(line.count("&") == columns - 1 for line in rows)
    r = attn("compute", "--q", "1 0", "--k", "1 0", "--v", "1", "--format", "latex", "--stage", "weights", stdin="")
    assert r.code == 0


def test_csv_is_long_format_at_full_precision(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "mha-gqa", "--format", "csv", "--stage", "weights")
    rows = list(csv.DictReader(io.StringIO(r.out)))
    assert {row["slice"] for row in rows} == {"0", "1", "2", "3"}
    weights = json.loads(attn("compute", "--sample", "mha-gqa", "--json").out)["stages"]["weights"]
    first = rows[1]  # head 1, q1, k2
    assert (first["stage"], first["row"], first["column"]) == ("weights", "q1", "k2")
    assert float(first["value"]) == weights[0][0][1]
    head3 = attn("compute", "--sample", "mha-gqa", "--format", "csv", "--stage", "weights", "--head", "3").out
    assert {row["slice"] for row in csv.DictReader(io.StringIO(head3))} == {"2"}


def test_svg_and_html_record_what_was_shown(attn: RunAttn, tmp_path: Path) -> None:
    svg, html = tmp_path / "a.svg", tmp_path / "a.html"
    r = attn("compute", "--sample", "one-query-two-keys", "--save-svg", str(svg), "--save-html", str(html))
    assert r.code == 0 and "saved what was shown" in r.err
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    text = "".join(root.itertext()).replace("\xa0", " ")
    assert "0.5353" in text and "scores" in text
    assert "0.5353" in html.read_text() and "<html" in html.read_text().lower()


def test_format_and_export_conflicts_are_errors(attn: RunAttn, tmp_path: Path) -> None:
    r = attn("compute", "--sample", "cat-sits", "--format", "csv", "--json")
    assert r.code == 2 and "--format: give --json or --format, not both" in r.err
    r = attn("compute", "--sample", "cat-sits", "--json", "--save-svg", str(tmp_path / "x.svg"))
    assert r.code == 2 and "--save-svg: records the tables" in r.err
    r = attn("compute", "--sample", "cat-sits", "--stage", "output", "--format", "csv")
    assert r.code == 2 and "--format: there are no stage tables to format here" in r.err


def test_piped_output_carries_no_escape_codes() -> None:
    r = attn_process("compute", "--sample", "cat-sits", env={"NO_COLOR": "", "TERM": "xterm-256color"})
    assert r.code == 0 and "\x1b[" not in r.out


def test_heatmap_for_one_and_many_heads(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "causal-4x4", "--stage", "weights", "--heatmap")
    assert "the weights as a heatmap: rows = queries, columns = keys" in r.out
    assert "colour-blind-safe" in r.out
    r = attn("compute", "--sample", "mha-2heads", "--stage", "weights", "--heatmap", "--head", "2")
    assert "the weights as a heatmap  [head 2]" in r.out


def test_csv_names_the_visible_and_capped_stages(attn: RunAttn) -> None:
    r = attn("compute", "--sample", "softcap", "--window", "2", "--format", "csv")
    assert r.code == 0, r.err
    rows = list(csv.DictReader(io.StringIO(r.out)))
    stages = list(dict.fromkeys(row["stage"] for row in rows))
    assert stages == ["q", "k", "v", "scores", "scaled", "capped", "masked", "visible", "shifted", "exp", "weights",
                      "output"]  # fmt: skip
    doc = json.loads(attn("compute", "--sample", "softcap", "--window", "2", "--json").out)
    visible = [float(row["value"]) for row in rows if row["stage"] == "visible"]
    assert visible == [float(x) for line in doc["stages"]["visible"]["allowed"] for x in line]
    assert "allowed" not in stages
