"""How check's messages name cells: labels when given (repeated words told apart), positions when not."""

from __future__ import annotations

from attncli.analysis.cellnames import CellNames


def test_positions_without_labels() -> None:
    names = CellNames.of({}, 2, 3)
    assert (names.query(1), names.key(2), names.row(1), names.pair(0, 1)) == ("q2", "k3", "2", "q1, k2")
    assert names.cell((1, 2), 2, "weights") == "row 2, column 3"
    assert names.cell((0, 1, 2), 3, "weights") == "[0] row 2, column 3"


def test_labels_name_queries_keys_rows_and_cells() -> None:
    names = CellNames.of({"q": ("Этот", "фильм"), "k": ("a", "b", "c")}, 2, 3)
    assert (names.query(1), names.key(2), names.row(1), names.pair(0, 1)) == ("фильм", "c", "“фильм”", "Этот → b")
    assert names.cell((1, 2), 2, "weights") == "фильм → c"
    assert names.cell((1, 0), 2, "output") == "фильм → d1"
    assert names.cell((1, 1, 2), 3, "scores") == "[1] фильм → c"


def test_labels_that_do_not_fit_or_repeat() -> None:
    names = CellNames.of({"q": ("a", "b"), "k": ("x",)}, 2, 3)  # the keys' labels do not fit: by position
    assert (names.key(0), names.cell((0, 0), 2, "weights")) == ("k1", "a → k1")
    pieces = CellNames.of({"q": ("##т", "и", "##т")}, 3, 3)
    assert (pieces.query(0), pieces.query(1), pieces.query(2)) == ("##т (q1)", "и", "##т (q3)")
