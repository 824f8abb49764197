"""The fuzzing campaign's tools: its two profiles, generators of malformed and extreme input, and the
one rule every run of `attn` must keep.

Profiles: the CI profile runs each fuzz test on a fixed (derandomized) set of a few dozen cases, so
CI is repeatable; ATTN_FUZZ=slow (or `pytest --slow`) runs CASES_SLOW random cases per test — the
campaign recorded in the README's Reliability section.

The rule (`assert_clean`): a run ends with exit 0 (or 1 for `attn check`'s "something is wrong"),
or 2 with exactly one line `attn: error: …` on stderr; nothing else ever reaches stderr but
`attn: warning: …` lines; no traceback, no Python warning, no exit 70, no hang; and JSON output is
strict, with null only where −∞ (a masked cell) or a requested NaN (--empty-row nan) belongs.
"""

from __future__ import annotations

import json
import math
import os
import signal
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from conftest import FUZZ_ENV, Run, RunAttn

SLOW = os.environ.get(FUZZ_ENV) == "slow"
CASES_CI = 30
CASES_SLOW = 1000
HANG_SECONDS = 20  # one run of attn on fuzzed input must end well within this


def fuzz_settings(ci: int = CASES_CI, slow: int = CASES_SLOW) -> settings:
    """Hypothesis settings of a fuzz test: `ci` fixed cases in CI, `slow` random ones in the campaign."""
    return settings(
        max_examples=slow if SLOW else ci,
        deadline=None,
        derandomize=not SLOW,
        database=None if not SLOW else settings.default.database,
        # the in-process `attn` fixture is reused across cases on purpose: it only swaps stdin and reads output
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )


class Hang(BaseException):
    """A run that did not end within HANG_SECONDS (a BaseException, so the CLI's guard cannot swallow it)."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"attn did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_clean(attn: RunAttn, *args: str, stdin: str | bytes = "") -> Run:
    """Run attn in-process under the rule; a Python warning (which a real process prints) breaks it too."""
    with no_hang(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = attn(*args, stdin=stdin)
    assert not caught, f"args={args!r} stdin={stdin!r:.300}: {caught[0].category.__name__}: {caught[0].message}"
    assert_clean(r, args, stdin)
    return r


# JSON paths (keys from the root) where null is a masked −∞ cell, or says "not used" (config).
NULL_ALLOWED = (
    ("config",),
    ("inputs", "mask"),
    ("stages", "masked"),
    ("stages", "softmax", "row_max"),
    ("stages", "softmax", "shifted"),
    ("query",),  # attn explain without --query
    ("layer",),  # attn explain --embeddings: no model, so no layer or head
    ("head",),
    ("heads", "pattern"),  # the overview: no pattern holds half of the head's weight (the tables' —)
    ("heads", "share"),
    ("probe",),  # attn explain --roles on an encoder: no repeated-sequence probe was run
    ("permutation", "seed"),  # attn explain --permute: no --seed given
    ("with_positions",),  # attn explain --permute --positional none: nothing to compare with
)
# Where --empty-row nan puts NaN (as null) in a fully masked row.
NAN_POLICY_STAGES = (
    ("output",),
    ("stages", "weights"),
    ("stages", "output"),
    ("stages", "average_weights"),
    ("stages", "concat"),
)


def _null_paths(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if value is None:
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _null_paths(item, (*path, key))
    elif isinstance(value, list):
        for item in value:
            yield from _null_paths(item, path)


def _strict_constant(name: str) -> float:
    raise AssertionError(f"JSON output holds the non-standard token {name}")


def assert_clean(r: Run, args: tuple[str, ...], stdin: Any = "") -> None:
    """The rule every run must keep (see the module docstring)."""
    shown = f"args={args!r} stdin={stdin!r:.300}\nexit {r.code}\nstderr:\n{r.err[-2000:]}"
    assert r.code in (0, 1, 2), shown
    if r.code == 1:
        assert args[:1] == ("check",), shown  # only attn check exits 1 (a wrong hand calculation)
    lines = r.err.splitlines()
    errors = [line for line in lines if line.startswith("attn: error: ")]
    for line in lines:
        assert line.startswith(("attn: error: ", "attn: warning: ", "attn: note: ", "attn: saved ")), shown
    if r.code == 2:
        assert len(errors) == 1 and lines[-1] == errors[0], shown
        assert r.err.endswith("\n") and "internal error" not in r.err, shown
        return
    assert not errors, shown
    asked_help = any(a in ("--help", "-h", "--version") for a in args)  # prints help, not the result
    if "--json" in args and r.out.strip() and not asked_help:
        doc = json.loads(r.out, parse_constant=_strict_constant)
        assert_nulls_explained(doc, shown)
    elif args[:1] != ("model",) and not _mentions_nan(args, stdin):  # model list may quote a broken file
        assert "nan" not in r.out.lower(), shown


def _mentions_nan(args: tuple[str, ...], stdin: Any) -> bool:
    """Whether the input itself says "nan" (--empty-row nan, or a title or word that tables echo: 'banana')."""
    text = stdin.decode("utf-8", "replace") if isinstance(stdin, bytes) else str(stdin)
    help_text = "--help" in args or "-h" in args  # documents --empty-row nan
    return help_text or "nan" in text.lower() or any("nan" in a.lower() for a in args)


def assert_nulls_explained(doc: Any, shown: str = "") -> None:
    """null appears only for masked −∞ cells, unused settings, and --empty-row nan's fully masked rows."""
    if not isinstance(doc, dict) or "passed" in doc:
        return  # attn check's report: strict JSON is all that is asked of it
    config = doc.get("config", {})
    nan_rows = config.get("empty_row") == "nan" and bool(config.get("empty_rows"))
    allowed = NULL_ALLOWED + (NAN_POLICY_STAGES if nan_rows else ())
    for path in _null_paths(doc):
        assert any(path[: len(prefix)] == prefix for prefix in allowed), f"null at {'.'.join(path)}\n{shown}"


# ---------------------------------------------------------------- generators


EXTREME_NUMBERS = (
    0.0,
    -0.0,
    1.0,
    -1.0,
    5e-324,  # the smallest denormal
    -5e-324,
    2.2250738585072014e-308,  # the smallest normal
    1e-300,
    1e300,
    -1e300,
    1e308,
    -1e308,
    1.7976931348623157e308,
    3.4e38,  # near float32's largest
    3.5e38,  # just past it
    1e-45,  # float32's smallest denormal
    65504.0,
)
# Text that is not a finite number, in every spelling users and other tools write.
NOT_FINITE_TEXT = ("NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1e999", "-1e999", "∞", "−∞", "null")


def finite_numbers() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from(EXTREME_NUMBERS),
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(-3, 3).map(float),
    )


def number_text() -> st.SearchStrategy[str]:
    """One cell as text: finite numbers in several spellings, non-finite words, huge integers, junk."""
    return st.one_of(
        finite_numbers().map(repr),
        st.sampled_from(NOT_FINITE_TEXT),
        st.integers(-(10**400), 10**400).map(str),
        st.sampled_from(("1" + "0" * 400, "-" + "9" * 500, "1e308", "1e-400", "0x10", "1_000", "", "--1", "1e")),
        st.text(max_size=6),
    )


def shapes(max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    return st.lists(st.integers(1, max_side), min_size=1, max_size=max_dims).map(tuple)


def json_matrix(shape: tuple[int, ...], cells: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nested lists of the given shape."""
    if len(shape) == 1:
        return st.lists(cells, min_size=shape[0], max_size=shape[0])
    return st.lists(json_matrix(shape[1:], cells), min_size=shape[0], max_size=shape[0])


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value, deep or shallow: the wrong type for every key."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.sampled_from((10**400, -(10**400), 0, 1, -1)),
        finite_numbers(),
        st.text(max_size=8),
        st.sampled_from(("-inf", "1 0; 0 1", "@missing.npy", "@", "[[1]]", "nan", "zero", "float32")),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
        max_leaves=max_leaves,
    )


def matrix_text(value: Any, form: str) -> str:
    """A nested list written as attn reads it: JSON, compact rows, or CSV (2-D only)."""
    if form == "json" or not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        return json.dumps(value, allow_nan=True)
    rows = [" ".join(_cell_text(c) for c in row) if isinstance(row, list) else _cell_text(row) for row in value]
    return "\n".join(rows) if form == "csv" else "; ".join(rows)


def _cell_text(cell: Any) -> str:
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float) and math.isinf(cell):
        return "-inf" if cell < 0 else "inf"
    return str(cell) if not isinstance(cell, list) else json.dumps(cell)


def mutate_text(text: str, draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    """Truncate, splice junk into, or drop a character of `text` (a broken copy of a valid document)."""
    how = draw(st.sampled_from(("truncate", "splice", "drop", "duplicate")))
    at = draw(st.integers(0, max(0, len(text) - 1)))
    if how == "truncate":
        return text[:at]
    if how == "splice":
        return text[:at] + draw(st.sampled_from(("]", "[", ",", "}", '"', "NaN", "\x00", "\udcff", "-"))) + text[at:]
    if how == "drop":
        return text[:at] + text[at + 1 :]
    return text[:at] + text[at:] * 2


def blocked_tolerance(q: np.ndarray, k: np.ndarray, v: np.ndarray, scale: float, dtype: str) -> float:
    """How far the blocked path may be from the stage path: 1e-12 (float64) or 1e-5 (float32) for
    scores within ±100; past that both paths round scores of that size (relative eps), so the
    tolerance grows with eps × the largest score (the bound shift adds a few roundings of that size)."""
    eps = float(np.finfo(dtype).eps)
    top = float(np.abs(q).max(initial=0) * np.abs(k).max(initial=0) * q.shape[-1] * scale)
    base = 1e-12 if dtype == "float64" else 1e-5
    return max(base, 64 * eps * top) * max(1.0, float(np.abs(v).max(initial=0)))
