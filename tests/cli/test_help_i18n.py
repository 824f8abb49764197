"""--help and click's/Typer's own usage errors in Russian, metavars a user reads, and --lang before the
command, all through the real entry point."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import typer

from attncli import i18n
from attncli.cli.app import app
from attncli.cli.entry import after_root_lang
from attncli.cli.helptext import texts
from attncli.cli.usage_errors import forms

from conftest import RunAttn, attn_process

ROOT = typer.main.get_command(app)


def command_paths() -> list[list[str]]:
    """[], ['compute'], …, ['samples', 'show']: every command and group Typer knows."""
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        found.append(path)
        for name, child in (getattr(command, "commands", None) or {}).items():
            walk(child, [*path, name])

    walk(ROOT, [])
    return found


def command_at(path: list[str]) -> tuple[object, object]:
    """The click command at `path` and a context for it (as the help page has one)."""
    from typer._click.core import Context

    command: object = ROOT
    ctx = Context(ROOT, info_name="attn")
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
        ctx = Context(command, info_name=name, parent=ctx)  # type: ignore[arg-type]
    return command, ctx


def flat(page: str) -> str:
    """A help page as one line of words: boxes gone and wrapped lines joined, so a sentence is found
    whole however rich wrapped it."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", page).split())


PATHS = command_paths()


@pytest.mark.parametrize("path", PATHS, ids=[" ".join(p) or "attn" for p in PATHS])
def test_no_english_help_text_is_left_in_the_russian_help(attn: RunAttn, path: list[str]) -> None:
    """Every help text of the page (the command's, its epilog's prose, every option's, the panels') is
    on the English page and absent from the Russian one, which shows its translation instead."""
    command, ctx = command_at(path)
    english = flat(attn(*path, "--help", columns=200).out)
    russian = flat(attn("--lang", "ru", *path, "--help", columns=200).out)
    assert "Использование: attn" in russian
    i18n.set_language("ru")
    untranslated, still_english = [], []
    for text in dict.fromkeys(texts(command, ctx)):
        assert text in english, f"the check cannot find {text!r} on the English page"
        translation = i18n.help_text(text)
        if translation == text and re.search(r"[a-z]{3,} [a-z]{3,}", text):
            untranslated.append(text)
        elif translation != text:
            assert translation in russian, f"{translation!r} is not on the Russian page"
            if text in russian:
                still_english.append(text)
    assert not untranslated, f"no Russian for (run `make locale`, then translate help.po): {untranslated}"
    assert not still_english, still_english


def test_typer_words_are_russian_too(attn: RunAttn) -> None:
    page = attn("--lang", "ru", "compute", "--help", columns=100).out
    assert "Использование: attn compute [ПАРАМЕТРЫ]" in page and "╭─ Параметры ─" in page
    assert "╭─ Структурированные маски ─" in page and "╭─ Многоголовое внимание ─" in page
    assert "[по умолчанию: 4]" in page and "Показать эту справку и выйти." in page and "Примеры:" in page
    assert "--q                                МАТРИЦА" in page
    for english in ("Usage", "Options", "default:", "Show this message", "OPTIONS", "Examples"):
        assert english not in page
    root = attn("--lang", "ru", "--help").out
    assert "Использование: attn [ПАРАМЕТРЫ] КОМАНДА [АРГУМЕНТЫ]..." in root and "╭─ Команды ─" in root
    assert "│ compute   Вычислить внимание и показать каждый этап" in root
    assert "[обязательно]" in attn("exercise", "--help", "--lang", "ru").out


def test_the_environment_and_the_locale_choose_a_russian_help(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTN_LANG", "ru")
    assert "Использование: attn samples show [ПАРАМЕТРЫ] {ИМЯ}" in attn("samples", "show", "--help").out
    monkeypatch.delenv("ATTN_LANG")
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert "Вывести строгий JSON вместо таблиц." in attn("check", "--help", columns=120).out
    assert "Print strict JSON" in attn("check", "--help", "--lang", "en", columns=120).out


def test_english_help_is_as_declared_after_a_russian_one(attn: RunAttn) -> None:
    """Typer's words are module constants: a Russian page in the same process must not leave them Russian."""
    attn("--lang", "ru", "compute", "--help")
    page = attn("compute", "--help", columns=100).out
    assert page.splitlines()[1] == " Usage: attn compute [OPTIONS]".ljust(100)
    assert "╭─ Options ─" in page and "[default: 4]" in page and "Show this message and exit." in page
    assert "Compute attention and show every stage: scores, scaling, mask, softmax, weighted sum." in page


INTERNALS = re.compile(r"<(str|bool|int|float|path|list)\b|\{sentence\}|\{name\}")


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_option_shows_a_metavar_a_user_reads(attn: RunAttn, lang: str) -> None:
    for path in PATHS:
        page = attn(*path, "--help", "--lang", lang, columns=200).out
        assert not INTERNALS.search(page), (path, INTERNALS.search(page))
    compute = attn("compute", "--help", columns=200).out
    for option, shown in [("--q", "MATRIX"), ("--bq", "VECTOR"), ("--stage", "STAGE"), ("--window", "W [x>=1]"),
                          ("--max-memory", "SIZE"), ("--save", "FILE"), ("--explain-cell", "I,J"),
                          ("--dtype", "float64|float32"), ("--heads", "H [x>=1]")]:  # fmt: skip
        assert re.search(rf"│ {re.escape(option)} +{re.escape(shown)} ", compute), option
    assert re.search(r"│ --json +Print strict JSON", compute)  # a flag takes no value: none is shown
    explain = attn("explain", "--help", columns=200).out
    assert re.search(r"--layer +N\|all ", explain) and re.search(r"--query +WORD ", explain)
    assert "Usage: attn explain [OPTIONS] {SENTENCE}" in explain
    russian = attn("explain", "--help", "--lang", "ru", columns=200).out
    assert re.search(r"--model +ИМЯ\|ПУТЬ ", russian) and re.search(r"--embeddings +ФАЙЛ ", russian)


# --- click's and Typer's own usage errors -----------------------------------------------------------

USAGE_ERRORS = [
    (["compute", "--bogus"], "--bogus: нет такого параметра: --bogus (похожие: --bo) (см. «attn compute --help»)"),
    (
        ["compute", "--precision", "16"],
        "--precision: недопустимое значение «--precision»: должно быть не больше 15 (см. «attn compute --help»)",
    ),
    (["compute", "--precision", "abc"], "--precision: недопустимое значение «--precision»: нужно целое число"),
    (["compute", "--window", "0"], "--window: недопустимое значение «--window»: должно быть не меньше 1"),
    (["compute", "--scale", "big"], "--scale: недопустимое значение «--scale»: нужно число"),
    (["compute", "--dtype", "float16"], "«float16» не подходит, допустимы: «float64», «float32»"),
    (["compute", "--q"], "--q: после «--q» нужно значение"),
    (["compute", "--json=yes"], "--json: «--json» не принимает значения"),
    (["compute", "extra"], "attn compute: лишний аргумент: extra (см. «attn compute --help»)"),
    (["compute", "one", "two"], "attn compute: лишние аргументы: one two"),
    (["comput"], "attn: нет команды «comput»; может быть, вы имели в виду «compute»? (см. «attn --help»)"),
    (["exercise"], "--topic: не указан обязательный параметр «--topic» (см. «attn exercise --help»)"),
    (["samples", "show"], "name: не указан обязательный аргумент «name» (см. «attn samples show --help»)"),
]
ENGLISH = re.compile(r"No such|Invalid value|Missing|requires an|does not take|Got unexpected|Input should|Value error")


@pytest.mark.parametrize(("args", "expected"), USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors_are_one_russian_line_naming_the_argument(
    attn: RunAttn, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    """These fail loudly when a Typer or click upgrade rewords a message (it would then stay English)."""
    monkeypatch.setenv("ATTN_LANG", "ru")
    run = attn(*args)
    assert (run.code, run.out) == (2, "")
    assert run.err.startswith("attn: ошибка: ") and run.err.count("\n") == 1, run.err
    assert expected in run.err and not ENGLISH.search(run.err), run.err
    english = attn(*args, "--lang", "en")
    assert english.code == 2 and english.err.startswith("attn: error: ") and ENGLISH.search(english.err)


def test_a_real_process_gives_a_russian_usage_error() -> None:
    run = attn_process("compute", "--bogus", env={"ATTN_LANG": "ru"})
    assert (run.code, run.out) == (2, "")
    expected = "attn: ошибка: --bogus: нет такого параметра: --bogus (похожие: --bo) (см. «attn compute --help»)\n"
    assert run.err == expected


def test_each_english_form_is_its_own_message_id() -> None:
    i18n.set_language("en")
    assert all(english == msgid for english, msgid in forms())


# --- --lang before the command ----------------------------------------------------------------------


def test_lang_before_the_command(attn: RunAttn) -> None:
    before = attn("--lang", "ru", "compute", "--sample", "causal-4x4")
    assert before.code == 0 and before.err == "" and "0 · входные данные" in before.out
    assert before.out == attn("compute", "--sample", "causal-4x4", "--lang", "ru").out
    check = attn("--lang=ru", "check", "--sample", "cat-sits")
    assert check.code in (0, 1) and "ЗАЧТЕНО" in check.out, check.err
    assert "0 · inputs" in attn("--lang", "ru", "compute", "--sample", "causal-4x4", "--lang", "en").out  # last wins
    bad = attn("--lang", "de", "compute", "--sample", "causal-4x4")
    assert bad.code == 2 and bad.err.startswith("attn: error: --lang: Invalid value for '--lang'")


def test_lang_before_compute_keeps_the_fast_path() -> None:
    assert after_root_lang(["--lang", "ru", "compute", "--q", "1"]) == ["compute", "--q", "1"]
    assert after_root_lang(["--lang=ru", "--lang", "en", "compute"]) == ["compute"]
    assert after_root_lang(["--lang", "de", "compute"]) == ["--lang", "de", "compute"]  # Typer says why
    assert after_root_lang(["compute", "--lang", "ru"]) == ["compute", "--lang", "ru"]
    code = (
        "import sys, attncli.cli.entry as e\n"
        "try: e.main(['--lang', 'ru', 'compute', '--q', '1 0', '--k', '1 0', '--v', '1', '--json'])\n"
        "except SystemExit: pass\n"
        "print('typer' in sys.modules, 'attncli.cli.helptext' in sys.modules, file=sys.stderr)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert run.stderr.strip() == "False False", run.stderr
