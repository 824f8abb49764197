"""Rich renderables for looking across heads and layers: the head search table, the role grid and the
strongest heads per role. Nothing here prints."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from attncli.analysis.heads import Link
from attncli.analysis.roles import Roles
from attncli.i18n import _
from attncli.render.format import fmt
from attncli.render.heatmap import colour


def links_view(links: Sequence[Link], precision: int = 2) -> Table:
    """One row per head, best first: place, layer, head, weight (coloured) and the key's rank."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for name in ("#", _("layer"), _("head"), _("weight"), _("rank of the key")):
        table.add_column(name, justify="right", no_wrap=True)
    for place, link in enumerate(links, start=1):
        rank = _("{rank} of {n}").format(rank=link.rank, n=link.keys)
        weight = Text(fmt(link.weight, precision), style=colour(link.weight))
        table.add_row(str(place), str(link.layer + 1), str(link.head + 1), weight, rank)
    return table


def role_texts() -> dict[str, tuple[str, str, str]]:
    """Each role's (short code for the grid, name, one-line definition), in the language in use."""
    return {
        "previous": (_("prev"), _("previous token"), _("mean of A[i, i−1]: the token just before")),
        "next": (_("next"), _("next token"), _("mean of A[i, i+1]: the token just after (encoders)")),
        "self": (_("self"), _("self"), _("mean of A[i, i]: the token itself")),
        "first": (_("1st"), _("first-token sink"), _("mean weight on the first token ([CLS], <s>)")),
        "end": (_("end"), _("[SEP]/EOS sink"), _("mean weight on the closing special tokens ([SEP], </s>)")),
        "punctuation": (_("punc"), _("punctuation"), _("mean weight on punctuation tokens")),
        "broad": (
            _("broad"),
            _("broad"),
            _("mean of each row's entropy ÷ log(keys it sees): 1 = weight spread evenly"),
        ),
        "duplicate": (
            _("dup"),
            _("duplicate token"),
            _("on a repeated random sequence: mean weight on the earlier copy of the same token"),
        ),
        "induction": (
            _("ind"),
            _("induction"),
            _("on a repeated random sequence: mean weight on the token after the earlier copy"),
        ),
    }


def roles_grid(found: Roles, width: int) -> Group:
    """Layer × head: each head's strongest role (short code) over its score, '—' when none holds;
    as many heads per table as fit in `width` columns, the rest in tables below."""
    texts = role_texts()
    grid = found.strongest()
    heads = len(grid[0])
    cell = max(5, *(len(texts[r][0]) for r in found.names)) + 1
    per_table = max(1, (width - 6) // cell)
    tables = []
    for first in range(0, heads, per_table):
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=0)
        table.add_column(_("layer"), justify="right", no_wrap=True)
        for hi in range(first, min(first + per_table, heads)):
            table.add_column(str(hi + 1), justify="center", no_wrap=True, min_width=5)
        for li, row in enumerate(grid):
            cells: list[str | Text] = []
            for box_cell in row[first : first + per_table]:
                if box_cell is None:
                    cells.append(Text("—\n", style="dim"))
                    continue
                role, score = box_cell
                cells.append(Text(f"{texts[role][0]}\n{fmt(score, 2)}", style=colour(score)))
            table.add_row(str(li + 1), *cells)
        tables.append(table)
    return Group(*tables)


def roles_top(found: Roles, n: int = 3) -> Table:
    """One row per role: its name and the n heads that score highest (the definitions are under the heatmaps)."""
    texts = role_texts()
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column(_("role"), no_wrap=True)
    table.add_column(_("strongest heads (layer.head score)"), no_wrap=True)
    for role in found.names:
        heads = ", ".join(f"{li + 1}.{hi + 1} {fmt(s, 2)}" for li, hi, s in found.top(role, n))
        table.add_row(Text(texts[role][1]), heads)
    return table


__all__ = ["links_view", "role_texts", "roles_grid", "roles_top"]
