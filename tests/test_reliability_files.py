"""Issue 19's examples, each through the real entry point: special files, outputs skipped, overwriting
inputs, atomic writes, a reader that goes away, stdout that cannot be written, terminal encodings,
untrusted text in titles, labels and exports, the memory budget, and the blocked path's overflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from attncli.core import memory
from attncli.errors import InputError
from attncli.parse.files import is_read, read_regular_file

from conftest import ROOT, SAMPLES, RunAttn, attn_process

Q, K, V = "1 0; 0 1", "1 0; 0 1", "1 2; 3 4"


def one_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("attn: error: "), err
    return lines[0]


# ---------------------------------------------------------------- special files, never blocking


@pytest.mark.parametrize("name", ["p.npy", "p.json", "p.csv"])
@pytest.mark.parametrize("where", ["flag", "document", "input"])
def test_a_fifo_is_refused_without_blocking(attn: RunAttn, tmp_path: Path, name: str, where: str) -> None:
    fifo = tmp_path / name
    os.mkfifo(fifo)
    if where == "flag":
        r = attn("compute", "--q", f"@{fifo}", "--k", K, "--v", V, "--json")
    elif where == "document":
        doc = tmp_path / "doc.json"
        doc.write_text(json.dumps({"q": f"@{name}", "k": [[1, 0], [0, 1]], "v": [[1, 2], [3, 4]]}))
        r = attn("check", "--input", str(doc), "--expect-output", "1 2; 3 4")
    else:
        r = attn("compute", "--input", str(fifo))
    assert r.code == 2
    assert "named pipe (FIFO), not a regular file" in one_error(r.err)


def test_a_symlink_to_dev_stdin_does_not_swallow_stdin(tmp_path: Path) -> None:
    (tmp_path / "q.json").symlink_to("/dev/stdin")
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({"q": "@q.json", "k": [[1, 0]], "v": [[1, 2]]}))
    r = attn_process("compute", "--input", str(doc), stdin="the rest of a grading loop's input\n")
    assert r.code == 2
    assert "not a regular file" in one_error(r.err)


def test_a_device_is_refused(attn: RunAttn) -> None:
    r = attn("compute", "--q", "@/dev/zero.npy", "--k", K, "--v", V)  # no such file: a plain error
    assert r.code == 2
    for path in ("/dev/zero", "/dev/null"):
        with pytest.raises(InputError, match="character device, not a regular file"):
            read_regular_file(Path(path), "--q")


def test_within_confines_a_path_to_its_folder(tmp_path: Path) -> None:
    inside = tmp_path / "sub"
    inside.mkdir()
    (inside / "q.json").write_text("[[1]]")
    (tmp_path / "key.json").write_text('{"token": "secret"}')
    (inside / "link.json").symlink_to(tmp_path / "key.json")
    assert read_regular_file(inside / "q.json", "q", within=inside) == b"[[1]]"
    for path in (tmp_path / "key.json", inside / ".." / "key.json", inside / "link.json", Path("/etc/passwd")):
        with pytest.raises(InputError, match="outside the document's folder"):
            read_regular_file(path, "q", within=inside)
    assert is_read(inside / "q.json")


# ---------------------------------------------------------------- .npy headers, huge integers


def _npy_v3(path: Path, shape: tuple[int, ...]) -> None:
    header = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * ((64 - (12 + len(header) + 1) % 64) % 64) + "\n"
    path.write_bytes(b"\x93NUMPY\x03\x00" + len(header).to_bytes(4, "little") + header.encode() + b"\0" * 64)


def test_a_version_3_header_promising_too_much_is_refused(attn: RunAttn, tmp_path: Path) -> None:
    big = tmp_path / "big.npy"
    _npy_v3(big, (10**7, 10**7))
    r = attn("compute", "--q", f"@{big}", "--k", K, "--v", V)
    assert r.code == 2
    assert "the header promises a 10000000×10000000 array" in one_error(r.err)
    ok = tmp_path / "ok.npy"
    _npy_v3(ok, (2, 4))  # 64 bytes of zeros: exactly 2×4 float64
    r = attn("compute", "--q", f"@{ok}", "--k", "@" + str(ok), "--v", "@" + str(ok), "--json")
    assert r.code == 0, r.err


@pytest.mark.parametrize("flag", ["--precision", "--seed", "--threads", "--heads"])
def test_huge_integers_in_options(attn: RunAttn, flag: str) -> None:
    r = attn("compute", "--x", "1 2; 3 4", "--heads", "1", "--random-weights", flag, "9" * 4301)
    assert r.code == 2
    line = one_error(r.err)
    assert flag in line and len(line) < 400


# ---------------------------------------------------------------- outputs skipped, overwriting inputs


def test_save_with_multi_head_writes_the_output(attn: RunAttn, tmp_path: Path) -> None:
    out = tmp_path / "mh.npy"
    r = attn("compute", "--sample", "mha-2heads", "--save", str(out))
    assert r.code == 0, r.err
    shown = attn("compute", "--sample", "mha-2heads", "--json")
    expected = np.array(json.loads(shown.out)["output"], dtype=float)
    np.testing.assert_allclose(np.load(out), expected, rtol=1e-12)
    stages = tmp_path / "mh.npz"
    assert attn("compute", "--sample", "mha-2heads", "--save", str(stages)).code == 0
    with np.load(stages) as z:
        assert z["heads_weights"].shape[0] == 2 and "output" in z.files


def test_save_with_save_svg_writes_both(attn: RunAttn, tmp_path: Path) -> None:
    r = attn(
        "compute",
        "--q",
        Q,
        "--k",
        K,
        "--v",
        V,
        "--save",
        str(tmp_path / "o.npy"),
        "--save-svg",
        str(tmp_path / "s.svg"),
    )
    assert r.code == 0, r.err
    assert (tmp_path / "o.npy").exists() and (tmp_path / "s.svg").read_text().startswith("<svg")


def test_the_saved_note_is_a_note_and_quiet_silences_it(attn: RunAttn, tmp_path: Path) -> None:
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--save", str(tmp_path / "o.npy"))
    assert r.err.startswith("attn: note: saved the output to ")
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--save", str(tmp_path / "o.npy"), "--quiet")
    assert r.code == 0 and r.err == ""


def test_outputs_never_overwrite_inputs(attn: RunAttn, tmp_path: Path) -> None:
    q = tmp_path / "q.npy"
    np.save(q, np.eye(2))
    r = attn("compute", "--q", f"@{q}", "--k", K, "--v", V, "--save", str(q))
    assert r.code == 2 and "--save: " in one_error(r.err) and "one of this run's inputs" in r.err
    np.testing.assert_array_equal(np.load(q), np.eye(2))
    doc = tmp_path / "doc.json"
    doc.write_text((SAMPLES / "causal-4x4.json").read_text())
    before = doc.read_bytes()
    for args in (
        ("compute", "--input", str(doc), "--save-html", str(doc)),
        ("check", "--input", str(doc), "--save-svg", str(doc)),
    ):
        r = attn(*args)
        assert r.code == 2 and "one of this run's inputs" in one_error(r.err)
    link = tmp_path / "link.json"
    link.symlink_to(doc)  # the same file under another name
    r = attn("compute", "--input", str(link), "--save-html", str(doc))
    assert r.code == 2
    assert doc.read_bytes() == before


def test_an_unwritable_output_is_refused_before_the_work(attn: RunAttn, tmp_path: Path) -> None:
    for flag, name in (("--save", "o.npy"), ("--save-svg", "s.svg"), ("--save-html", "h.html")):
        r = attn("compute", "--q", Q, "--k", K, "--v", V, flag, str(tmp_path / "missing" / name))
        assert r.code == 2 and r.out == ""
        assert f"{flag}: cannot write" in one_error(r.err) and "does not exist" in r.err


# ---------------------------------------------------------------- atomic writes


def test_a_failed_write_leaves_the_old_file(attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "o.npy"
    np.save(out, np.arange(3.0))
    before = out.read_bytes()

    def full(fd: int) -> None:
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(os, "fsync", full)
    r = attn("compute", "--q", Q, "--k", K, "--v", V, "--save", str(out))
    assert r.code == 2
    assert "No space left on device (the old file is unchanged)" in one_error(r.err)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.npy"]  # no temporary file left behind


def test_a_full_disk_for_real() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "attncli", "compute", "--q", Q, "--k", K, "--v", V],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    assert proc.returncode == 2
    assert "stdout: cannot write the result: No space left on device" in one_error(proc.stderr)


def test_a_closed_stdout() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attncli", "compute", "--q", Q, "--k", K, "--v", V],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, timeout=60,
        preexec_fn=lambda: os.close(1),
    )  # fmt: skip
    assert proc.returncode == 2
    assert "stdout: cannot write the result: Bad file descriptor" in one_error(proc.stderr)


def test_parallel_npz_writers_leave_a_whole_file(tmp_path: Path) -> None:
    out = tmp_path / "stages.npz"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "attncli", "compute", "--q", Q, "--k", K, "--v", f"{i} 2; 3 4", "--save", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        for i in range(8)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    with np.load(out) as z:  # one whole file from one of the writers
        assert z["output"].shape == (2, 2) and z["v"][0, 0] in range(8)
    assert [p.name for p in tmp_path.iterdir()] == ["stages.npz"]


# ---------------------------------------------------------------- readers going away, encodings, argv


def test_check_piped_into_head_exits_0() -> None:
    script = f"{sys.executable} -m attncli check --sample causal-4x4 | head -1; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "ascii"])
def test_a_terminal_that_is_not_utf8(encoding: str) -> None:
    def run(*args: str) -> tuple[int, str, str]:
        env = {**os.environ, "PYTHONIOENCODING": encoding, "COLUMNS": "80"}
        proc = subprocess.run([sys.executable, "-m", "attncli", *args], capture_output=True, env=env, cwd=ROOT)
        return proc.returncode, proc.stdout.decode(encoding), proc.stderr.decode(encoding)

    code, out, err = run("compute", "--sample", "causal-4x4", "--lang", "ru")
    assert code == 0, err
    assert ("sqrt" in out or "√" in out) and ("-inf" in out or "−∞" in out)
    if encoding != "ascii":
        assert "Причинное" in out or "маск" in out
    code, out, err = run("compute", "--q", "1 0", "--k", "1 0", "--v", "1 2", "--explain-cell", "1,1")
    assert code == 0, err
    for line in err.splitlines():
        assert line.startswith("attn: warning: the output's encoding"), err


def test_a_non_utf8_byte_in_an_argument() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attncli", "explain", b"caf\xff".decode("utf-8", "surrogateescape")],
        capture_output=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "is not UTF-8 text (byte 4 is 0xff)" in one_error(proc.stderr.decode())


def test_a_long_value_in_an_error_is_cut(attn: RunAttn) -> None:
    r = attn("explain", "a sentence", "--layer", "x" * 5000)
    assert r.code == 2
    line = one_error(r.err)
    assert len(line) < 400 and "--layer" in line


def test_usage_errors_name_their_argument(attn: RunAttn) -> None:
    assert one_error(attn("bogus").err).startswith("attn: error: attn: No such command")
    assert one_error(attn("compute", "--bogus").err).startswith("attn: error: --bogus: No such option")


# ---------------------------------------------------------------- untrusted text reaching terminals and files

FAKE = "\x1b[2J\x1b[H\x1b[32mPASSED: full marks"


def test_control_characters_in_titles_and_labels_are_written_out(attn: RunAttn, tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    labels = {"q": ["=1+1", "\x1b[31mred"], "k": ["@SUM(A1)", "<b>k</b>"]}
    doc.write_text(
        json.dumps(
            {"title": FAKE, "labels": labels, "q": [[1, 0], [0, 1]], "k": [[1, 0], [0, 1]], "v": [[1, 2], [3, 4]]}
        )
    )
    for args in (("compute", "--input", str(doc)), ("check", "--input", str(doc), "--expect-output", "1 2; 3 4")):
        r = attn(*args)
        assert "\x1b" not in r.out and "\\x1b[2J" in r.out
    csv = attn("compute", "--input", str(doc), "--format", "csv").out
    assert "\x1b" not in csv
    for line in csv.splitlines()[1:]:
        row, column = line.split(",")[2:4]
        assert row[:1] not in ("=", "+", "-", "@") and column[:1] not in ("=", "+", "-", "@"), line
    md = attn("compute", "--input", str(doc), "--format", "markdown").out
    assert "<b>" not in md and "&lt;b&gt;k&lt;/b&gt;" in md
    html = tmp_path / "r.html"
    assert attn("compute", "--input", str(doc), "--save-html", str(html)).code == 0
    assert "<b>k</b>" not in html.read_text() and "\x1b" not in html.read_text()


# ---------------------------------------------------------------- the memory budget


def test_the_budget_takes_the_tightest_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "_mem_available", lambda: 8 * 2**30)
    monkeypatch.setattr(memory, "_address_space_left", lambda: 2 * 2**30)
    monkeypatch.setattr(memory, "_cgroup_left", lambda: None)
    assert memory.memory_budget() == 2**29
    monkeypatch.setattr(memory, "_cgroup_left", lambda: 2**30)
    assert memory.memory_budget() == 2**28
    for name in ("_mem_available", "_address_space_left", "_cgroup_left"):
        monkeypatch.setattr(memory, name, lambda: None)
    assert memory.memory_budget() == 4 * 2**30


def test_the_address_space_limit_is_read() -> None:
    code = "import resource; resource.setrlimit(resource.RLIMIT_AS, (8_000_000_000, resource.RLIM_INFINITY));"
    code += "from attncli.core.memory import memory_sources as m; print(m()['RLIMIT_AS'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert 0 < int(proc.stdout) < 8_000_000_000


def test_json_printing_counts_in_the_estimate(attn: RunAttn, tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    n = 3000
    doc.write_text(json.dumps({"q": [[1.0]] * n, "k": [[1.0]] * n, "v": [[1.0]] * n}))
    # The stage tables take 441 MB; printing them as JSON takes about 3.6 GB more.
    r = attn("compute", "--input", str(doc), "--json", "--max-memory", "2G")
    assert r.code == 0
    assert "computing only the output with the blocked path" in r.err
    assert set(json.loads(r.out)) >= {"output"} and "weights" not in json.loads(r.out)
    r = attn(
        "check",
        "--input",
        str(doc),
        "--json",
        "--max-memory",
        "2G",
        "--expect-output",
        "@" + str(tmp_path / "none.json"),
    )
    assert r.code == 2


def test_a_document_too_large_to_parse_is_refused_before_parsing(
    attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("attncli.parse.matrix.memory_budget", lambda: 2**20)
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps({"q": [[1] * 1000] * 400, "k": [[1]], "v": [[1]]}))
    r = attn("compute", "--input", str(doc))
    assert r.code == 2 and "parsing its" in one_error(r.err) and ".npy" in r.err


def test_an_npy_too_large_for_memory_is_refused_before_loading(
    attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("attncli.parse.matrix.memory_budget", lambda: 2**10)
    q = tmp_path / "q.npy"
    np.save(q, np.zeros((100, 10)))
    r = attn("compute", "--q", f"@{q}", "--k", K, "--v", V)
    assert r.code == 2 and "more than the" in one_error(r.err)


def test_npy_inputs_that_together_do_not_fit_are_refused_before_loading_any(
    attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("attncli.core.memory.memory_budget", lambda: 5000)  # room 20 kB: each 8 kB file fits
    for name in "qkv":
        np.save(tmp_path / f"{name}.npy", np.zeros((100, 10)))
    r = attn("compute", *(x for name in "qkv" for x in (f"--{name}", f"@{tmp_path / name}.npy")))
    assert r.code == 2 and "the .npy inputs (--q, --k, --v) would need" in one_error(r.err)


def test_check_refuses_huge_npy_inputs_from_their_headers(tmp_path: Path) -> None:
    """The campaign's 2 GiB sparse .npy files: refused from the headers' shapes, before a byte of data is
    read (the real process stays small), for flags and for a document's @files alike."""
    big = tmp_path / "big.npy"
    np.lib.format.open_memmap(big, mode="w+", dtype=np.float64, shape=(16384, 16384)).flush()  # sparse: 2 GiB
    np.save(tmp_path / "small.npy", np.ones((16384, 2)))
    (tmp_path / "doc.json").write_text(json.dumps({name: "@big.npy" for name in "qkv"}))
    for args in (
        ("--q", f"@{big}", "--k", f"@{big}", "--v", f"@{big}", "--expect-output", f"@{tmp_path / 'small.npy'}"),
        ("--input", str(tmp_path / "doc.json"), "--expect-output", f"@{tmp_path / 'small.npy'}"),
    ):
        # VmHWM, not ru_maxrss: on Linux ru_maxrss keeps the forking parent's peak across exec (pytest's, with torch)
        # main(), not the console script: that ends the process with os._exit, before the `finally`
        code = "import sys; from attncli.cli.entry import main; sys.argv = ['attn', 'check', *sys.argv[1:]]\n"
        code += "try:\n    main()\nfinally:\n"
        code += "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0]\n"
        code += "    print(hwm.split()[1], file=sys.stderr)"
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
        error, peak_kib = proc.stderr.splitlines()[-2], int(proc.stderr.splitlines()[-1])
        assert proc.returncode == 2 and "grading (twice the stage tables) would need 24.5 GiB" in error, proc.stderr
        assert peak_kib < 400_000, f"peak RSS {peak_kib} KiB: the data was loaded before refusing"


# ---------------------------------------------------------------- the blocked path's numerics


def test_blocked_overflow_is_overflow_not_masked(attn: RunAttn) -> None:
    args = (
        "--q",
        "1e20; 1e20",
        "--k",
        "-1e20; -1e20",
        "--v",
        "1; 3",
        "--causal",
        "--causal-align",
        "bottom-right",
        "--dtype",
        "float32",
    )
    for stage in (("--stage", "output"), ()):
        r = attn("compute", *args, *stage)
        assert r.code == 2, r.out
        assert "overflow" in one_error(r.err) and "masked" not in r.err


def test_blocked_path_computes_v_near_the_float_maximum(attn: RunAttn) -> None:
    big = np.finfo(np.float64).max / 2
    v = f"{big} 1; {big} -1; {big} 5e-324"
    full = attn(
        "compute",
        "--q",
        "1 0; 0 1",
        "--k",
        "1 0; 0 1; 1 1",
        "--v",
        v,
        "--json",
        "--stage",
        "output",
        "--stage",
        "weights",
    )
    blocked = attn("compute", "--q", "1 0; 0 1", "--k", "1 0; 0 1; 1 1", "--v", v, "--json", "--stage", "output")
    assert full.code == 0 and blocked.code == 0, blocked.err
    np.testing.assert_allclose(json.loads(blocked.out)["output"], json.loads(full.out)["output"], rtol=1e-12)


def test_threads_finish(tmp_path: Path) -> None:  # atomic writes from threads of one process too
    from attncli.serialize.files import write_text_atomic

    out = tmp_path / "t.txt"
    threads = [threading.Thread(target=write_text_atomic, args=(out, str(i) * 10000, "--save")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    text = out.read_text()
    assert len(text) == 10000 and len(set(text)) == 1


def test_a_closed_stdin() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "attncli", "compute", "--q", Q, "--k", K, "--v", V, "--json"],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=ROOT, timeout=60,
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["output"]


def test_within_reaches_every_file_form(tmp_path: Path) -> None:
    from attncli.parse.matrix import parse_matrix

    inside = tmp_path / "sub"
    inside.mkdir()
    np.save(tmp_path / "key.npy", np.eye(2))
    (tmp_path / "key.csv").write_text("1,2\n")
    (inside / "ok.csv").write_text("1,2\n")
    assert parse_matrix("@ok.csv", "q", base_dir=inside, within=inside).shape == (1, 2)
    for name in ("../key.npy", "../key.csv", str(tmp_path / "key.npy")):
        with pytest.raises(InputError, match="outside the document's folder"):
            parse_matrix(f"@{name}", "q", base_dir=inside, within=inside)
