"""Messages in English and Russian: every message has a translation, the compiled catalogue is current,
the language is chosen by --lang, ATTN_LANG or the locale, and Russian output reads right."""

from __future__ import annotations

import ast
import gettext
import io
import json
import os
import string
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from attncli import i18n
from attncli.cli.entry import language_from_args

from conftest import ROOT, SAMPLES, Golden, RunAttn, attn_process

PACKAGE = ROOT / "attncli"
PO = PACKAGE / "locale" / "ru" / "LC_MESSAGES" / "attncli.po"
MO = PO.with_suffix(".mo")
HELP_PO = PO.with_name("help.po")  # the --help texts, harvested from the live command tree


def source_messages() -> dict[str | tuple[str, str], str]:
    """Every message in the source: `_("…")` and `ngettext("…", "…", n)` calls, with where each is."""
    found: dict[str | tuple[str, str], str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            name, args = node.func.id, node.args
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if name not in ("_", "ngettext"):
                continue
            literal = [isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args]
            count = 1 if name == "_" else 2
            assert len(args) >= count and all(literal[:count]), f"{where}: {name}() needs literal strings"
            texts = [a.value for a in args[:count] if isinstance(a, ast.Constant)]
            found[texts[0] if name == "_" else (texts[0], texts[1])] = where
    return found


def po_messages(po: Path = PO) -> dict[str | tuple[str, str], str | tuple[str, ...]]:
    with po.open("rb") as f:
        catalog = read_po(f)
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy (unchecked) translations: {fuzzy}"
    return {(m.id if isinstance(m.id, str) else tuple(m.id)): m.string for m in catalog if m.id}  # type: ignore[misc]


def test_every_message_has_a_russian_translation_and_none_is_stale() -> None:
    source, po = source_messages(), po_messages()
    assert len(source) > 100
    missing = [f"{where}: {msgid!r}" for msgid, where in source.items() if msgid not in po]
    assert not missing, "not in the catalogue (run `make locale`, then translate):\n" + "\n".join(missing)
    stale = [msgid for msgid in po if msgid not in source]
    assert not stale, f"in the catalogue but no longer in the source (run `make locale`): {stale}"
    empty = [msgid for msgid, text in po.items() if not (text if isinstance(text, str) else all(text))]
    assert not empty, f"no translation: {empty}"


def test_every_help_text_has_a_russian_translation_and_none_is_stale() -> None:
    """Every paragraph of every --help text of the live application (so an option added anywhere
    counts) is in help.po, translated; tests/cli/test_help_i18n.py checks the pages themselves."""
    import typer

    from attncli.cli.app import app
    from attncli.cli.helptext import help_messages

    live, po = help_messages(typer.main.get_command(app)), po_messages(HELP_PO)
    assert len(live) > 100
    missing = [text for text in live if text not in po]
    assert not missing, "help texts not in help.po (run `make locale`, then translate):\n" + "\n".join(missing)
    stale = [text for text in po if text not in live]
    assert not stale, f"in help.po but no longer a help text (run `make locale`): {stale}"
    assert not [text for text, ru in po.items() if not ru], "help texts without a translation"


def _fields(text: str) -> set[str] | None:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError:
        return None  # not a format string (e.g. a literal JSON example with braces)


@pytest.mark.parametrize("po", [PO, HELP_PO], ids=["attncli", "help"])
def test_translations_use_the_same_placeholders(po: Path) -> None:
    for msgid, text in po_messages(po).items():
        expected = _fields(msgid if isinstance(msgid, str) else msgid[-1])  # the plural names every field
        for form in [text] if isinstance(text, str) else text:
            assert _fields(form) == expected, f"{msgid!r}: {form!r} has other placeholders"


@pytest.mark.parametrize("po", [PO, HELP_PO], ids=["attncli", "help"])
def test_the_committed_mo_is_the_compiled_po(po: Path) -> None:
    """The messages and the plural rule, not the header: it names the Babel version and a date, which
    change with every release of the tool and say nothing about the catalogue."""
    with po.open("rb") as f:
        catalog = read_po(f)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    fresh = gettext.GNUTranslations(compiled)
    with po.with_suffix(".mo").open("rb") as f:
        committed = gettext.GNUTranslations(f)
    assert _messages(committed) == _messages(fresh), f"{po.stem}.mo is out of date: run `make locale`"
    assert len(_messages(committed)) > 100
    assert [committed.plural(n) for n in range(200)] == [fresh.plural(n) for n in range(200)]  # type: ignore[attr-defined]
    assert committed.plural(21) == 0 and committed.plural(22) == 1 and committed.plural(25) == 2  # type: ignore[attr-defined]


def _messages(translations: gettext.GNUTranslations) -> dict[object, str]:
    """Every message of a compiled catalogue; the empty msgid is the header, left out."""
    return {msgid: text for msgid, text in translations._catalog.items() if msgid != ""}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("n", "value", "in_list"),
    [
        (1, "1 значение", "список из 1 значения"),
        (2, "2 значения", "список из 2 значений"),
        (4, "4 значения", "список из 4 значений"),
        (5, "5 значений", "список из 5 значений"),
        (11, "11 значений", "список из 11 значений"),
        (12, "12 значений", "список из 12 значений"),
        (21, "21 значение", "список из 21 значения"),
        (22, "22 значения", "список из 22 значений"),
        (25, "25 значений", "список из 25 значений"),
        (111, "111 значений", "список из 111 значений"),
    ],
)
def test_russian_plural_forms(n: int, value: str, in_list: str) -> None:
    i18n.set_language("ru")
    assert i18n.ngettext("{n} value", "{n} values", n).format(n=n) == value
    assert i18n.ngettext("a list of {n} value", "a list of {n} values", n).format(n=n) == in_list
    i18n.set_language("en")
    assert i18n.ngettext("{n} value", "{n} values", n).format(n=n) == f"{n} value{'' if n == 1 else 's'}"


@pytest.mark.parametrize(
    ("env", "lang"),
    [
        ({}, "en"),
        ({"ATTN_LANG": "ru"}, "ru"),
        ({"ATTN_LANG": "ru_RU.UTF-8"}, "ru"),
        ({"ATTN_LANG": "en", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"ATTN_LANG": "de"}, "en"),
        ({"LANG": "ru_RU.UTF-8"}, "ru"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "ru_UA.UTF-8", "LANG": "en_GB.UTF-8"}, "ru"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "ru_RU.UTF-8"}, "en"),
        ({"LC_MESSAGES": "ru_RU", "LANG": "C"}, "ru"),
    ],
)
def test_language_from_the_environment(env: dict[str, str], lang: str) -> None:
    assert i18n.language_from_env(env) == lang


def test_lang_in_the_arguments_wins_and_the_last_one_counts() -> None:
    assert language_from_args(["compute", "--lang", "ru"]) == "ru"
    assert language_from_args(["--lang=ru", "check", "--lang", "en"]) == "en"
    assert language_from_args(["compute", "--lang", "xx"]) is None
    assert language_from_args(["compute", "--", "--lang", "ru"]) is None
    assert language_from_args(["compute", "--lang"]) is None


def test_the_catalogue_ships_inside_the_package() -> None:
    assert MO.is_file() and MO.parent == Path(i18n.LOCALE_DIR) / "ru" / "LC_MESSAGES"
    assert HELP_PO.with_suffix(".mo").is_file() and HELP_PO.stem == i18n.HELP_DOMAIN


# --- the command line in Russian ---------------------------------------------------------------


def test_bad_input_is_one_russian_line_with_exit_2(attn: RunAttn) -> None:
    run = attn("compute", "--lang", "ru", "--q", "1 0; 0 1 1", "--k", "1 0", "--v", "1")
    assert run.code == 2 and run.out == ""
    assert run.err == "attn: ошибка: --q: строка 2 содержит 3 значения, а строка 1 — 2 (строки разной длины)\n"


def test_attn_lang_chooses_russian_for_errors_raised_while_reading(
    attn: RunAttn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTN_LANG", "ru")
    run = attn("compute", "--input", "no-such-file.json")
    assert (run.code, run.err) == (2, "attn: ошибка: --input: файл «no-such-file.json» не найден\n")
    assert attn("compute", "--input", "no-such-file.json", "--lang", "en").err.startswith("attn: error: --input: file")


def test_a_russian_locale_chooses_russian(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    run = attn("check", "--q", "1", "--k", "1", "--v", "1")
    assert run.code == 2 and run.err.startswith("attn: ошибка: check: проверять нечего")


def test_english_stays_the_default(attn: RunAttn) -> None:
    run = attn("compute", "--q", "1 0; 0 1 1", "--k", "1 0", "--v", "1")
    assert run.err == "attn: error: --q: row 2 has 3 values, row 1 has 2 (ragged rows)\n"


def test_a_real_process_in_russian() -> None:
    run = attn_process("compute", "--q", "1 2", "--k", "1 2 3", "--v", "1", env={"ATTN_LANG": "ru"})
    assert run.code == 2
    assert (
        run.err
        == "attn: ошибка: --k: число столбцов у q (d_k = 2) и у k (3) различается, а для Q·Kᵀ оно должно совпадать\n"
    )


RUSSIAN_GOLDEN = [
    ("causal-4x4-80-ru", ["compute", "--input", str(SAMPLES / "causal-4x4.json")]),
    ("mha-gqa-80-ru", ["compute", "--input", str(SAMPLES / "mha-gqa.json"), "--head", "3"]),
    (
        "check-scaling-80-ru",
        [
            "check",
            "--q",
            "[[1,0],[0,1]]",
            "--k",
            "[[1,0],[0,1]]",
            "--v",
            "[[1,2],[3,4]]",
            "--expect-scaled",
            "[[1,0],[0,1]]",
            "--expect-weights",
            "[[0.73,0.27],[0.27,0.73]]",
            "--expect-output",
            "[[1.5,2.5],[2.5,3.5]]",
        ],
    ),
]


@pytest.mark.parametrize(("name", "args"), RUSSIAN_GOLDEN, ids=[c[0] for c in RUSSIAN_GOLDEN])
def test_golden_render_in_russian(attn: RunAttn, golden: Golden, name: str, args: list[str]) -> None:
    """The whole Russian output at 80 columns (ATTN_UPDATE_GOLDEN=1 rewrites it, as in test_golden.py)."""
    run = attn(*args, "--lang", "ru")
    assert run.code == (1 if args[0] == "check" else 0), run.err
    golden(name, run.out)
    assert max(len(line) for line in run.out.splitlines()) <= 80


def test_a_compute_run_in_russian_and_the_same_numbers(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["compute", "--q", "[[1,0]]", "--k", "[[0.5,0.5],[0.3,0.7]]", "--v", "[[1,0],[0.5,0.5]]"]
    english = attn(*args)
    russian = attn(*args, "--lang", "ru")
    assert russian.code == 0 and russian.err == ""
    for text in ("0 · входные данные", "1 · scores = Q·Kᵀ — скалярные произведения", "2 · scaled", "масштабирование",
                 "4c · softmax, шаг 3: weights — веса внимания", "5 · output = weights · V — взвешенная сумма",
                 "q1 отдаёт наибольший вес ключу k1 (0.5353).", "(1 запрос × 2 ключа, d_k = 2)"):  # fmt: skip
        assert text in russian.out

    def table_rows(out: str) -> list[list[str]]:
        return [line.split() for line in out.splitlines() if line.startswith("q1   ") or line.startswith("k")]

    assert table_rows(english.out) == table_rows(russian.out)  # the same numbers, only the words differ
    monkeypatch.setenv("ATTN_LANG", "ru")
    assert attn(*args).out == russian.out
    assert attn(*args, "--json").out == attn(*args, "--json", "--lang", "en").out  # JSON is for programs


def test_a_check_diagnosis_in_russian(attn: RunAttn) -> None:
    args = [
        "--q",
        "[[1,0]]",
        "--k",
        "[[0.5,0.5],[0.3,0.7]]",
        "--v",
        "[[1,0],[0.5,0.5]]",
        "--expect-scaled",
        "[[0.5,0.3]]",
    ]
    run = attn("check", *args, "--lang", "ru")
    assert run.code == 1
    assert "Диагноз: нет масштабирования: вы не масштабировали оценки (scaled = scores)." in run.out
    assert "НЕ ЗАЧТЕНО: верно 0 из 1 заявленного этапа; первый неверный этап — scaled." in run.out
    report = json.loads(attn("check", *args, "--json", "--lang", "ru").out)
    assert report["diagnoses"][0]["mistake"] == "no_scaling"  # the key stays; the words are Russian
    assert report["diagnoses"][0]["title"] == "нет масштабирования"


def test_samples_and_warnings_in_russian(attn: RunAttn) -> None:
    listing = attn("samples", "--lang", "ru")
    assert (
        listing.code == 0 and "что показывает" in listing.out and "Запустить: attn compute --sample ИМЯ" in listing.out
    )
    missing = attn("samples", "show", "nope", "--lang", "ru")
    assert missing.code == 2 and missing.err.startswith("attn: ошибка: samples show: образца «nope» нет (есть: ")
    warned = attn("compute", "--q", "1 0", "--k", "1 0; 0 1", "--v", "1; 2", "--mask", "0 1", "--lang", "ru")
    assert warned.code == 0
    assert warned.err.startswith("attn: предупреждение: маска состоит только из 0 и 1, поэтому считается аддитивной")


def test_explain_in_russian(attn: RunAttn) -> None:
    args = ["explain", "Этот фильм потрясающий", "--embeddings", str(SAMPLES / "embeddings-ru.json"), "--lang", "ru"]
    run = attn(*args, "--query", "потрясающий")
    assert run.code == 0, run.err
    assert "Фокус на запросе потрясающий (--query): только его строка; в K и V остаются все" in run.out
    assert "Прочтение: куда смотрит каждое слово" in run.out
    assert "потрясающий → потрясающий 0.4318, фильм 0.3141, Этот 0.2541" in run.out
    bad = attn(*args, "--query", "кино")
    assert bad.code == 2
    assert bad.err == "attn: ошибка: --query: «кино» — не токен этого предложения; токены: Этот фильм потрясающий\n"
    assert (
        attn(*args, "--layer", "2").err
        == "attn: ошибка: --layer: относится к предобученной модели, а не к --embeddings\n"
    )


USER_ERRORS = {"AttnError", "InputError", "ShapeError", "NumericError", "ModelError"}


def test_no_message_is_left_untranslatable() -> None:
    """A user-facing error or warning written as a plain (f-)string would never be translated."""
    plain = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
                continue
            if node.func.id in USER_ERRORS | {"warn", "fail"} and isinstance(
                node.args[0], ast.Constant | ast.JoinedStr
            ):
                plain.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not plain, f"wrap these messages in _() or ngettext(): {plain}"


def test_english_needs_no_catalogue() -> None:
    code = "import sys, attncli.i18n as i; i._('x'); i.ngettext('a', 'b', 2); print('gettext' in sys.modules)"
    assert attn_process_python(code) == "False"


def attn_process_python(code: str) -> str:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("ATTN_LANG", "LC_ALL", "LC_MESSAGES")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "LANG": "C"})
    return out.stdout.strip()


def test_model_list_and_a_model_error_in_russian(attn: RunAttn) -> None:
    listing = attn("model", "list", "--lang", "ru", columns=120)
    assert listing.code == 0 and "слоёв 6 × голов 12, скрытый размер 384, размер головы 32" in listing.out
    run = attn("explain", "The cat", "--layer", "7", "--lang", "ru")
    assert (run.code, run.err) == (2, "attn: ошибка: --layer: 7 вне диапазона: в этой модели слои 1…6\n")


def test_the_translator_is_never_shadowed() -> None:
    """`for _, x in …` or `a, _ = …` in a module that translates would turn `_()` into a crash there."""
    shadowed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        translates = any(
            isinstance(n, ast.ImportFrom) and n.module == "attncli.i18n" and any(a.name == "_" for a in n.names)
            for n in ast.walk(tree)
        )
        in_comprehension = {
            id(n) for c in ast.walk(tree) if isinstance(c, ast.comprehension) for n in ast.walk(c.target)
        }
        for node in ast.walk(tree):  # (a comprehension's variable has its own scope: harmless)
            if translates and isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                if id(node) in in_comprehension:
                    continue
                shadowed.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not shadowed, f"name these throwaway variables otherwise: {shadowed}"
