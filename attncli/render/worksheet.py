"""Exercise sheets with their worked keys: the key of an exercise is attncli's own stage-by-stage
explanation (the tables and captions of attncli.render.tables, with the exercise's real numbers),
taken apart into blocks that attncli.serialize.worksheet writes as Markdown, LaTeX or HTML."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.columns import Columns
from rich.console import Group
from rich.table import Table
from rich.text import Text

from attncli.i18n import _
from attncli.render.format import View
from attncli.render.tables import render_attention
from attncli.serialize.worksheet import Block, Grid, Heading, Paragraph, exercise_blocks, write_sheet

if TYPE_CHECKING:
    from rich.console import RenderableType

    from attncli.analysis.exercises import Exercise

KEY_PRECISION = 4


def _blocks(renderable: RenderableType) -> list[Block]:
    """The titles, tables and captions of a rendered Group, in order (blank lines dropped)."""
    if isinstance(renderable, Group):
        return [b for part in renderable.renderables for b in _blocks(part)]
    if isinstance(renderable, Columns):
        return [b for part in renderable.renderables for b in _blocks(part)]
    if isinstance(renderable, Table):
        header = [str(c.header) for c in renderable.columns]
        cells = [[str(cell) for cell in c._cells] for c in renderable.columns]
        return [Grid("", header, [list(row) for row in zip(*cells, strict=True)])]
    if isinstance(renderable, Text):
        text = renderable.plain.strip()
        if not text:
            return []
        return [Heading(text, 4) if renderable.style == "bold" else Paragraph(text)]
    return []  # pragma: no cover (render_attention makes nothing else)


# The multi-head topics' keys: the pipeline's stages around the per-head ones.
MULTIHEAD_KEY_STAGES = {
    "two-heads": ("projected", "heads", "scores", "scaled", "softmax", "concat", "projection"),
    "rope": ("rope", "scores"),
    "sinusoidal": ("positional", "scores"),
    "alibi": ("alibi", "scores", "scaled", "masked", "softmax", "concat"),
}


def key_stages(exercise: Exercise) -> list[str]:
    """The stages the key works through: those asked, with the softmax step by step and the variants' own."""
    from attncli.core.multihead import MultiHead

    if isinstance(exercise.result, MultiHead):
        return list(MULTIHEAD_KEY_STAGES[exercise.topic])
    stages = [s for s in exercise.asked if s != "output"]
    r = exercise.result
    if r.capped is not None:
        stages.insert(stages.index("scaled") + 1, "capped")
    if r.variants.any:
        stages.insert(stages.index("masked") + 1, "visible")
    if "weights" in stages:
        stages.insert(stages.index("weights"), "softmax")
    return stages + (["output"] if "output" in exercise.asked else [])


def key_blocks(exercise: Exercise) -> list[Block]:
    """The worked key: the stages the exercise asks for, with attncli's captions (softmax step by step)."""
    from attncli.core.multihead import MultiHead
    from attncli.render.multihead import render_multihead

    view = View(precision=KEY_PRECISION, width=200)
    stages = key_stages(exercise)
    if isinstance(exercise.result, MultiHead):
        rendered = render_multihead(exercise.result, stages, view)
    else:
        rendered = render_attention(exercise.result, stages, view)
    return [Heading(_("Worked answer"), 3), *_blocks(rendered)]


def sheet(exercises: Sequence[Exercise], *, key: bool, format: str) -> str:
    """The exercise sheet (with `key`: each exercise followed by its worked key) in `format`."""
    first = exercises[0]
    from attncli.analysis.exercises import topic_name

    name = _("Answer key") if key else _("Exercises")
    title = _("{what}: {topic} (level {level}, seed {seed})").format(
        what=name, topic=topic_name(first.topic), level=first.level, seed=first.seed
    )
    blocks: list[Block] = []
    for exercise in exercises:
        blocks += exercise_blocks(exercise)
        if key:
            blocks += key_blocks(exercise)
    return write_sheet(blocks, title, format)
