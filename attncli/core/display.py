"""Display hooks without an upward import: results of the lower floors (Attention, MultiHead,
Explanation) show themselves in rich and Jupyter through `Displayable`, whose methods ask the
function that the roof (attncli/__init__.py) installs here for the renderable. That function lives
in attncli.render.display and is imported only when something is shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_renderable: Callable[[object], Any] | None = None
_html: Callable[[Any], str] | None = None


def install(renderable: Callable[[object], Any], html: Callable[[Any], str]) -> None:
    """Set how results become rich renderables, and renderables HTML (done once, by attncli/__init__.py)."""
    global _renderable, _html
    _renderable, _html = renderable, html


class Displayable:
    """Mixin: `__rich__` and `_repr_html_` through the installed renderer."""

    __slots__ = ()

    def __rich__(self) -> Any:
        if _renderable is None:  # attncli/__init__.py runs before any submodule, so this is a broken install
            raise RuntimeError("attncli's display hooks are not installed")
        return _renderable(self)

    def _repr_html_(self) -> str:
        assert _html is not None
        return _html(self.__rich__())
