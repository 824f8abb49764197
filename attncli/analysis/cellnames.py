"""How a report names queries, keys and cells: by the problem's labels when it has them (the notes'
words, «Этот → потрясающий»), by position when not (q1, k2, "row 1, column 2").

    >>> names = CellNames.of({"q": ("Этот", "фильм"), "k": ("Этот", "фильм")}, 2, 2)
    >>> names.query(0), names.key(1), names.cell((0, 1), 2, "weights")
    ('Этот', 'фильм', 'Этот → фильм')
    >>> CellNames().query(0), CellNames().cell((0, 1), 2, "weights")
    ('q1', 'row 1, column 2')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from attncli.i18n import _
from attncli.parse.matrix import where


@dataclass(frozen=True)
class CellNames:
    """The names of the queries and keys of one problem; empty: by position."""

    queries: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    @classmethod
    def of(cls, labels: Mapping[str, Sequence[str]], t: int, s: int) -> CellNames:
        """The labels that fit a problem of `t` queries and `s` keys (others are not used)."""
        queries, keys = tuple(labels.get("q") or ()), tuple(labels.get("k") or ())
        return cls(queries if len(queries) == t else (), keys if len(keys) == s else ())

    @property
    def labelled(self) -> bool:
        return bool(self.queries or self.keys)

    def query(self, i: int) -> str:
        """Query i (0-based): its label, or q1, q2, …"""
        return _name(self.queries, i, "q")

    def key(self, j: int) -> str:
        """Key j (0-based): its label, or k1, k2, …"""
        return _name(self.keys, j, "k")

    def row(self, i: int) -> str:
        """Row i (0-based) as it follows the word "row": 2, or the query's label in quotes ("фильм")."""
        if not self.queries:
            return str(i + 1)
        return _("“{word}”").format(word=self.query(i))

    def pair(self, i: int, j: int) -> str:
        """Query i and key j in a worked example: "q1, k2", or with labels "Этот → фильм"."""
        if not self.labelled:
            return f"{self.query(i)}, {self.key(j)}"
        return _("{query} → {key}").format(query=self.query(i), key=self.key(j))

    def cell(self, cell: tuple[int, ...], ndim: int, stage: str) -> str:
        """Where a cell of a stage is: "row 1, column 3", or with labels its query and key ("Этот → фильм";
        an output cell: its query and value column, "Этот → d1"); a head or batch index goes first."""
        if not self.labelled or len(cell) < 2:
            return where(cell, ndim)
        i, j = cell[-2:]
        column = f"d{j + 1}" if stage == "output" else self.key(j)
        text = _("{query} → {key}").format(query=self.query(i), key=column)
        if len(cell) > 2:
            text = "[" + "][".join(str(n) for n in cell[:-2]) + "] " + text
        return text


def _name(labels: tuple[str, ...], i: int, prefix: str) -> str:
    if not labels:
        return f"{prefix}{i + 1}"
    if labels.count(labels[i]) > 1:  # a repeated word (##т three times): its position tells them apart
        return f"{labels[i]} ({prefix}{i + 1})"
    return labels[i]


__all__ = ["CellNames"]
