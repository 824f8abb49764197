"""Fuzzing the sandbox: whatever an untrusted document names after '@', a confined read either refuses
it with one InputError or reads a regular file inside the document's own folder (never outside, never
a FIFO; nothing blocks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attncli.errors import InputError
from attncli.parse.sandbox import confine
from attncli.problem.document import document_fields

from fuzzing import fuzz_settings, no_hang

PARTS = st.sampled_from(["..", ".", "", "~", "k.json", "inner", "link", "out", "fifo.json", "etc", "passwd", "/", "//"])
NAMES = st.lists(PARTS, min_size=1, max_size=6).map("/".join) | st.text(min_size=1, max_size=20)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """folder/ (k.json, inner/k.json, link -> ../out, fifo.json), out/k.json beside it."""
    root = tmp_path_factory.mktemp("sandbox")
    folder, out = root / "folder", root / "out"
    (folder / "inner").mkdir(parents=True)
    out.mkdir()
    for d in (folder, folder / "inner", out):
        (d / "k.json").write_text("[[1, 0], [0, 1]]", encoding="utf-8")
    os.symlink(out, folder / "link")
    os.symlink(out / "k.json", folder / "out")
    os.mkfifo(folder / "fifo.json")
    return folder


@pytest.mark.parametrize("name", ["\0", "k.json\0", "/etc/passwd", "../out/k.json", "link/k.json", "fifo.json", "~/x"])
def test_the_known_escapes_are_refused(tree: Path, name: str) -> None:
    with pytest.raises(InputError):
        confine(name, tree, "q")


@fuzz_settings()
@given(name=NAMES)
def test_a_confined_name_stays_inside(tree: Path, name: str) -> None:
    with no_hang(10):
        try:
            path = confine(name, tree, "q")
        except InputError as e:
            assert e.argument == "q" and "\n" not in e.message
            return
    assert tree.resolve() in path.parents and path.is_file()


@fuzz_settings()
@given(name=NAMES, key=st.sampled_from(["q", "k", "v", "mask"]))
def test_a_confined_document_reads_nothing_outside(tree: Path, name: str, key: str) -> None:
    doc = {"q": [[1, 0]], "k": [[1, 0], [0, 1]], "v": [[1, 0], [0, 1]], key: "@" + name}
    with no_hang(10):
        try:
            fields = document_fields(doc, "doc.json", tree, confined=True)
        except InputError:
            return
    resolved = (tree / name).resolve()
    assert tree.resolve() in resolved.parents  # what was read is inside
    assert fields[key] is not None
