"""The house rules of ARCHITECTURE.md, checked: imports only go down the floors, nothing forms a
circle, the core stays pure NumPy, only the CLI names flags, and functions stay short enough to read."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import ROOT

PACKAGE = ROOT / "attncli"

# Lowest first. A module may import from its own floor or any floor below, never above.
FLOORS: list[tuple[str, ...]] = [
    ("attncli.errors", "attncli.i18n", "attncli.version", "attncli.machine"),
    ("attncli.core",),
    ("attncli.parse",),
    ("attncli.problem",),
    ("attncli.models",),
    ("attncli.analysis",),
    ("attncli.serialize",),
    ("attncli.render",),
    ("attncli.cli",),
    ("attncli", "attncli.__main__"),  # the public API and `python -m attncli`: the roof
]
# Libraries a floor may not import (directly or through anything it imports from attncli).
FORBIDDEN = {
    "attncli.core": ("rich", "typer", "click"),
    "attncli.parse": ("rich", "typer", "click"),
    "attncli.problem": ("rich", "typer", "click"),
    "attncli.models": ("rich", "typer", "click"),
    "attncli.analysis": ("rich", "typer", "click"),
    "attncli.serialize": ("rich", "typer", "click"),
    "attncli.render": ("typer", "click"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def floor(module: str) -> int:
    best = -1, -1  # (length of the matching prefix, floor)
    for i, prefixes in enumerate(FLOORS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = len(prefix), i
    assert best[1] >= 0, f"{module} is on no floor: add it to FLOORS and ARCHITECTURE.md"
    return best[1]


def imports(path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(module, line) of every import in the file, at any depth (in functions and TYPE_CHECKING too)."""
    own = module_name(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            base = node.module
            if node.level:  # relative: resolve against this package
                package = own if path.name == "__init__.py" else own.rpartition(".")[0]
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], node.module])
            for alias in node.names:  # `from attncli.serialize import export` imports a module
                sub = f"{base}.{alias.name}"
                yield (sub if sub in known else base), node.lineno


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target, _line in imports(path, known) if target in known and target != name}
        for name, path in known.items()
    }


def test_every_module_is_on_a_floor_and_imports_only_downwards() -> None:
    known = modules()
    upward = []
    for name, path in known.items():
        for target, line in imports(path, known):
            if target in known and target != name and floor(target) > floor(name):
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {target}, a floor above it")
    assert not upward, "\n".join(upward)


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            walk(node, [node])
    assert not circles, "import circles:\n" + "\n".join(" → ".join(c) for c in circles)


@pytest.mark.parametrize("prefix", sorted(FORBIDDEN))
def test_lower_floors_import_no_terminal_or_command_line_library(prefix: str) -> None:
    known = modules()
    found = []
    for name, path in known.items():
        if name == prefix or name.startswith(prefix + "."):
            for target, line in imports(path, known):
                if target.split(".")[0] in FORBIDDEN[prefix]:
                    found.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not found, "\n".join(found)


FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")


def test_only_the_cli_names_flags() -> None:
    """Library code raises errors naming its own arguments (q, kv_heads); cli/ says which flag that was.
    Docstrings and comments may mention flags; string constants that reach the user may not."""
    found = []
    for name, path in modules().items():
        if floor(name) >= floor("attncli.cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(n.body[0].value)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                for flag in FLAG.findall(node.value):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {flag}")
    assert not found, "flag names outside cli/:\n" + "\n".join(found)


def functions() -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node


def is_typer_command(name: str) -> bool:
    """The Typer command functions, whose parameters are the command's options."""
    return name.startswith("attncli/cli/") and all(
        part not in name for part in ("run_compute.py", "inputs.py", "output.py", "entry.py", "fastpath.py")
    )


def test_no_function_is_longer_than_100_lines() -> None:
    long = [f"{where}: {node.end_lineno - node.lineno + 1} lines" for where, node in functions()]  # type: ignore[operator]
    long = [line for line in long if int(line.rsplit(": ", 1)[1].split()[0]) > 100]
    assert not long, "\n".join(long)


def test_no_function_has_more_than_12_parameters() -> None:
    many = []
    for where, node in functions():
        a = node.args
        count = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs) + bool(a.vararg) + bool(a.kwarg)
        if count > 12 and not is_typer_command(where):
            many.append(f"{where}: {count} parameters")
    assert not many, "\n".join(many)


def test_no_function_takes_a_dozen_parameters_typed_any() -> None:
    loose = []
    for where, node in functions():
        a = node.args
        typed_any = [
            p for p in (*a.posonlyargs, *a.args, *a.kwonlyargs) if ast.unparse(p.annotation or ast.Name("x")) == "Any"
        ]
        if len(typed_any) >= 6:
            loose.append(f"{where}: {len(typed_any)} parameters typed Any")
    assert not loose, "\n".join(loose)


def test_the_cli_choices_are_the_core_choice_sets() -> None:
    """Typer wants enums; their values are the core's choice sets, which the fast path uses directly."""
    from attncli.cli import fastpath, options
    from attncli.core import settings
    from attncli.i18n import LANGUAGES
    from attncli.serialize.export import FORMATS

    pairs = [
        (options.CausalAlignChoice, settings.CAUSAL_ALIGNS),
        (options.EmptyRowChoice, settings.EMPTY_ROW_POLICIES),
        (options.DTypeChoice, settings.DTYPES),
        (options.PositionalChoice, settings.POSITIONALS),
        (options.RopeStyleChoice, settings.ROPE_STYLES),
        (options.WindowRuleChoice, settings.WINDOW_RULES),
        (options.FormatChoice, FORMATS),
        (options.LangChoice, LANGUAGES),
    ]
    for enum, choices in pairs:
        assert tuple(e.value for e in enum) == tuple(choices), enum.__name__
    assert fastpath.FORMATS == FORMATS


def test_the_setting_keywords_are_the_settings_fields() -> None:
    from attncli.core.multihead import INPUT_NAMES, POSITION_NAMES, MultiHeadKeywords
    from attncli.core.positions import Positions
    from attncli.core.settings import SETTING_NAMES, AttentionSettings, SettingKeywords

    assert tuple(SettingKeywords.__annotations__) == SETTING_NAMES == tuple(AttentionSettings.__dataclass_fields__)
    assert tuple(Positions.__dataclass_fields__) == POSITION_NAMES
    assert set(MultiHeadKeywords.__optional_keys__) == {
        *INPUT_NAMES,
        *SETTING_NAMES,
        *POSITION_NAMES,
        "random_weights_seed",
    }
