"""Every command and option is in its --help and in the README, so the two never drift apart."""

from __future__ import annotations

import re

import typer

from attncli.cli.app import app

from conftest import ROOT, RunAttn

README = (ROOT / "README.md").read_text(encoding="utf-8")
ROOT_OPTIONS = {"--version", "--install-completion", "--show-completion", "--help", "-h"}


def commands() -> dict[str, list[str]]:
    """'compute' -> its options, 'samples show' -> …, for every command Typer knows."""
    group = typer.main.get_command(app)
    found: dict[str, list[str]] = {}

    def walk(cmd: object, path: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        params = [o for p in getattr(cmd, "params", []) for o in (*p.opts, *p.secondary_opts) if o.startswith("--")]
        if path:
            found[" ".join(path)] = [o for o in params if o not in ROOT_OPTIONS]
        for name, child in (sub or {}).items():
            walk(child, [*path, name])

    walk(group, [])
    return found


def test_every_command_and_option_is_in_help_and_readme(attn: RunAttn) -> None:
    missing_help, missing_readme = [], []
    for command, options in commands().items():
        if f"attn {command}" not in README:
            missing_readme.append(f"attn {command}")
        text = attn(*command.split(), "--help", columns=200).out
        for option in options:
            if not re.search(rf"{re.escape(option)}\b", text):
                missing_help.append(f"{command} {option}")
            if not re.search(rf"`[^`]*{re.escape(option)}\b", README):
                missing_readme.append(f"{command} {option}")
    assert not missing_help, missing_help
    assert not missing_readme, sorted(set(missing_readme))


def test_readme_mentions_the_root_options() -> None:
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in README
