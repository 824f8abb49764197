"""What the README's Reliability section promises, each tested: the memory guard of every command,
closed pipes, Ctrl-C, bounded stdin, and extreme but valid numbers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, SAMPLES, RunAttn, attn_process
from fuzzing import assert_clean

ONE_ERROR_LINE = "attn: error: "


def process(*args: str, env: dict[str, str] | None = None, **kw: object) -> subprocess.Popen[bytes]:
    """`python -m attncli ARGS…` as a real process with pipes (the caller closes them)."""
    full_env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "ATTN_QUIET": "", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "attncli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=full_env,
        cwd=ROOT,
        # Ctrl-C as from a terminal: the test run itself may have been started with SIGINT ignored (a
        # background job), which a child would inherit, and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """q, k, v of 16 000 tokens (d = 64): the blocked path takes many seconds; the stage tables would need 12 GiB."""
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(0)
    paths = {}
    for name in ("q", "k", "v"):
        np.save(folder / f"{name}.npy", rng.normal(size=(16_000, 64)))
        paths[name] = f"@{folder / name}.npy"
    return paths


# ---------------------------------------------------------------- the memory guard


def test_every_command_refuses_before_allocating_and_says_how_much(attn: RunAttn) -> None:
    cases = [
        ("compute", "--input", str(SAMPLES / "causal-4x4.json"), "--stage", "weights", "--max-memory", "100"),
        ("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--max-memory", "100"),
        ("compute", "--x", "1 0; 0 1; 1 1", "--heads", "2", "--alibi", "--max-memory", "100"),
        ("check", "--input", str(SAMPLES / "causal-4x4.json"), "--max-memory", "100"),
        ("check", "--input", str(SAMPLES / "mha-gqa.json"), "--max-memory", "100"),
        ("explain", "the cat sat", "--embeddings", str(SAMPLES / "embeddings-en.json"), "--max-memory", "100"),
        ("explain", "the cat sat", "--max-memory", "100"),
    ]
    for args in cases:
        r = attn(*args)
        assert_clean(r, args)
        assert r.code == 2 and r.out == "", (args, r.err)
        assert r.err.count("\n") == 1 and "would need" in r.err and "(budget 100 bytes, --max-memory)" in r.err
        assert "--stage output" in r.err or "shorter sentence" in r.err or "use fewer tokens" in r.err, r.err


def test_the_guard_passes_what_fits_and_the_estimate_grows_with_the_problem(attn: RunAttn) -> None:
    # With --json the estimate counts the printing too (about 400 bytes a score cell): 1 KiB fits the
    # tables alone, 16 KiB the tables and their JSON.
    small = attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--max-memory", "1K")
    assert small.code == 0, small.err
    small = attn("compute", "--input", str(SAMPLES / "mha-2heads.json"), "--max-memory", "16K", "--json")
    assert small.code == 0, small.err
    alibi = attn("compute", "--x", "1 0; 0 1; 1 1", "--heads", "2", "--alibi", "--max-memory", "16K", "--json")
    assert alibi.code == 0, alibi.err
    words = " ".join(["cat"] * 40)
    r = attn("explain", words, "--embeddings", str(SAMPLES / "embeddings-en.json"), "--max-memory", "50K")
    assert r.code == 2 and "the stage tables of 40 words would need 77 KiB" in r.err


def test_a_huge_problem_is_refused_at_once_without_allocating(attn: RunAttn, tmp_path: Path) -> None:
    # 200 000 queries and keys: the tables would need 1.8 TiB; the check must come before any allocation
    q = np.lib.format.open_memmap(tmp_path / "q.npy", mode="w+", dtype=np.float32, shape=(200_000, 1))
    del q
    start = time.perf_counter()
    at = f"@{tmp_path / 'q.npy'}"
    r = attn("compute", "--q", at, "--k", at, "--v", at, "--stage", "weights")
    assert r.code == 2 and "the stage tables would need 1825.4 GiB" in r.err
    r = attn("check", "--q", at, "--k", at, "--v", at, "--expect-weights", "1")
    assert r.code == 2 and "grading (twice the stage tables) would need 3650.8 GiB" in r.err
    assert time.perf_counter() - start < 10


def test_a_npy_header_that_promises_more_than_the_file_holds(attn: RunAttn, tmp_path: Path) -> None:
    path = tmp_path / "liar.npy"
    np.save(path, np.zeros((2, 2)))
    path.write_bytes(path.read_bytes().replace(b"(2, 2)", b"(99999999, 99999999)"))
    r = attn("compute", "--q", f"@{path}", "--k", "1", "--v", "1")
    assert_clean(r, ("compute",))
    assert r.code == 2 and "liar.npy" in r.err and "holds" in r.err


# ---------------------------------------------------------------- pipes and signals


@pytest.mark.parametrize("extra", [("--json",), (), ("--format", "csv")])
def test_a_closed_pipe_ends_quietly(extra: tuple[str, ...]) -> None:
    """`attn compute … | head -1`: the reader goes away after one line of a long output."""
    proc = process("compute", "--x", "; ".join(["1 0 1 0"] * 300), "--heads", "2", *extra)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert first and err == "", err


def test_ctrl_c_during_a_long_computation_exits_130_with_one_line(big: dict[str, str]) -> None:
    proc = process("compute", "--q", big["q"], "--k", big["k"], "--v", big["v"], "--stage", "output", "--json")
    time.sleep(2.5)  # well into the blocked path
    assert proc.poll() is None, "the computation ended before Ctrl-C could be sent"
    start = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.perf_counter() - start < 5, "Ctrl-C must stop the work, not wait for it to finish"
    assert proc.returncode == 130
    assert err.decode() == "attn: error: interrupted\n"
    assert out == b""


def test_ctrl_c_while_reading_stdin() -> None:
    proc = process("compute", "--json", stdin=subprocess.PIPE)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.decode() == "attn: error: interrupted\n" and out == b""


# ---------------------------------------------------------------- bounded stdin


def test_huge_stdin_is_refused_without_reading_it_all(attn: RunAttn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTN_MAX_INPUT", "1K")
    r = attn("compute", "--json", stdin=b"[" * 5000)
    assert r.code == 2
    assert r.err == (
        "attn: error: stdin: holds more than 1 KiB of text; give large matrices as .npy files (--q @q.npy), "
        "or raise the limit with ATTN_MAX_INPUT=SIZE\n"
    )
    ok = attn("compute", "--json", stdin=b'{"q": [[1]], "k": [[1]], "v": [[3]]}')
    assert ok.code == 0 and json.loads(ok.out)["output"] == [[3.0]]


def test_an_endless_stdin_ends_at_the_limit() -> None:
    proc = process("compute", "--json", env={"ATTN_MAX_INPUT": "4M"}, stdin=subprocess.PIPE)
    assert proc.stdin is not None

    def feed() -> None:
        try:
            while True:
                proc.stdin.write(b'{"q": [[' + b"1, " * 10_000)  # type: ignore[union-attr]
        except (BrokenPipeError, ValueError, OSError):
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    assert proc.wait(timeout=60) == 2  # refused at the limit while the writer still writes
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    assert err.decode().startswith("attn: error: stdin: holds more than 4 MiB of text") and out == b""


def test_a_file_over_the_limit_and_a_file_with_a_bom(
    attn: RunAttn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = tmp_path / "doc.json"
    doc.write_bytes(b"\xef\xbb\xbf" + json.dumps({"q": [[1]], "k": [[1]], "v": [[5]]}).encode())
    r = attn("compute", "--input", str(doc), "--json")
    assert r.code == 0 and json.loads(r.out)["output"] == [[5.0]]  # a byte-order mark (Windows editors) is fine
    monkeypatch.setenv("ATTN_MAX_INPUT", "10")
    r = attn("compute", "--input", str(doc))
    assert r.code == 2 and f"--input ({doc}): holds more than 10 bytes of text" in r.err
    monkeypatch.setenv("ATTN_MAX_INPUT", "lots")
    r = attn("compute", "--input", str(doc))
    assert r.code == 2 and r.err.startswith("attn: error: $ATTN_MAX_INPUT: expected a size like 2G")


def test_invalid_utf8_names_the_byte(attn: RunAttn, tmp_path: Path) -> None:
    why = ": expected JSON or CSV text (binary matrices go in .npy files)\n"
    r = attn("compute", "--json", stdin=b'{"q": [[1]]\xff}')
    assert r.code == 2 and r.err == "attn: error: stdin: is not UTF-8 text (byte 12 is 0xff)" + why
    path = tmp_path / "k.csv"
    path.write_bytes(b"1,2\n\xc3\x28,4\n")
    r = attn("compute", "--q", "1 2", "--k", f"@{path}", "--v", "1; 2")
    assert r.code == 2 and r.err == f"attn: error: --k ({path}): is not UTF-8 text (byte 5 is 0xc3)" + why


def test_subprocess_with_binary_stdin_and_files(tmp_path: Path) -> None:
    noise = bytes(range(256)) * 8
    (tmp_path / "noise.npy").write_bytes(noise)
    (tmp_path / "noise.json").write_bytes(noise)
    for args, stdin in (
        (("compute", "--json"), noise.decode("latin-1")),
        (("compute", "--q", f"@{tmp_path / 'noise.npy'}", "--k", "1", "--v", "1"), None),
        (("check", "--q", f"@{tmp_path / 'noise.json'}", "--k", "1", "--v", "1", "--expect-output", "1"), None),
    ):
        r = attn_process(*args, stdin=stdin)
        assert r.code == 2 and r.err.count("\n") == 1 and r.err.startswith(ONE_ERROR_LINE), (args, r.err)


# ---------------------------------------------------------------- numerics


def _json(attn: RunAttn, *args: str) -> dict[str, object]:
    r = attn("compute", *args, "--json")
    assert r.code == 0, r.err
    doc: dict[str, object] = json.loads(r.out)
    return doc


@pytest.mark.parametrize("stage", [(), ("--stage", "output")])
def test_scores_of_plus_and_minus_1e300(attn: RunAttn, stage: tuple[str, ...]) -> None:
    doc = _json(attn, "--q", "1e150", "--k", "1e150; -1e150", "--v", "1 2; 3 4", "--scale", "1", *stage)
    assert doc["output"] == [[1.0, 2.0]]  # all weight on the key of score 1e300, none on −1e300
    if not stage:
        np.testing.assert_allclose(doc["stages"]["scores"], [[1e300, -1e300]], rtol=1e-15)  # type: ignore[index]
        assert doc["stages"]["weights"] == [[1.0, 0.0]]  # type: ignore[index]


def test_a_scale_of_1e_300_makes_the_weights_uniform(attn: RunAttn) -> None:
    doc = _json(attn, "--q", "1 2", "--k", "1 0; 0 1", "--v", "2 0; 0 2", "--scale", "1e-300")
    assert doc["stages"]["weights"] == [[0.5, 0.5]]  # type: ignore[index]
    assert doc["output"] == [[1.0, 1.0]]


def test_one_dimension_one_query_one_key(attn: RunAttn) -> None:
    doc = _json(attn, "--q", "3", "--k", "-2", "--v", "7")
    assert doc["stages"]["weights"] == [[1.0]] and doc["output"] == [[7.0]]  # type: ignore[index]
    doc = _json(attn, "--q", "3", "--k", "-2", "--v", "7", "--mask", "false")
    assert doc["output"] == [[0.0]]  # the only key is masked: the row is empty, output 0 (PyTorch's choice)


def test_denormals_and_negative_zero(attn: RunAttn) -> None:
    doc = _json(attn, "--q", "5e-324 -0.0", "--k", "-5e-324 0; 0 -0.0", "--v", "1; 3")
    assert doc["output"] == [[2.0]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--q", "1e20", "--k", "1e20", "--v", "1"), "q/k: the scaled scores overflow float32"),
        (("--q", "1e39", "--k", "1", "--v", "1"), "--q: overflows float32: row 1, column 1 is inf"),
        (("--q", "1", "--k", "1", "--v", "1", "--mask", "1e39"), "--mask: overflows float32"),
        (("--x", "1e20 1e20", "--wq", "1e20 0; 0 1", "--wk", "1 0; 0 1", "--wv", "1 0; 0 1"), "the projection x·W_q"),
        (("--x", "3e38 3e38; 3e38 3e38", "--rope"), "--rope: rotating q overflows float32"),
    ],
)
def test_float32_overflow_is_reported_not_propagated(attn: RunAttn, args: tuple[str, ...], message: str) -> None:
    r = attn("compute", *args, "--dtype", "float32", "--json")
    assert_clean(r, ("compute", "--json"))
    assert r.code == 2 and message in r.err, r.err


def test_score_overflow_on_the_blocked_path_is_reported(attn: RunAttn) -> None:
    # found by the campaign: 1e300 · 3e8 overflows; the blocked path gave NaN where the stage path refused
    for stage in ((), ("--stage", "output")):
        r = attn("compute", "--q", "0 1e300", "--k", "0 3e8", "--v", "1", "--json", *stage)
        assert_clean(r, ("compute", "--json"))
        assert r.code == 2 and "overflow float64" in r.err and "the inputs are too large" in r.err, r.err


def test_float64_overflow_in_the_output_projection(attn: RunAttn) -> None:
    r = attn("compute", "--x", "1 0", "--wo", "1e308 1e308; 1e308 1e308", "--bo", "1e308 1e308", "--json")
    assert r.code == 2 and "adding b_o overflows float64" in r.err, r.err


def test_json_integers_past_the_float_range(attn: RunAttn) -> None:
    huge = "1" + "0" * 400
    for doc, message in (
        (f'{{"q": [[{huge}]], "k": [[1]], "v": [[1]]}}', "stdin: q: row 1, column 1: 1000000000000"),
        (f'{{"q": [[1]], "k": [[1]], "v": [[1]], "scale": {huge}}}', "stdin: scale: must be a positive finite number"),
        (f'{{"x": [[1, 2]], "rope": true, "rope_base": {huge}}}', "stdin: rope_base: must be a positive finite"),
    ):
        r = attn("compute", "--json", stdin=doc)
        assert r.code == 2 and message in r.err, r.err


def test_ctrl_c_during_attention_flow_in_processes_ends_them_all_with_one_line() -> None:
    # About 100 tokens × 12 layers: many seconds of flow, shared among forked processes. Ctrl-C from a
    # terminal goes to the whole process group: the workers ignore it, the parent stops and ends the pool.
    text = " ".join(["The miniature Eiffel tower is a toy that my little sister keeps on her shelf."] * 5)
    proc = process("explain", text, "--model", "multilingual-e5-small", "--flow", "--json", start_new_session=True)
    for _ in range(300):  # until the flow has started its processes (past loading the model and its pass)
        if len(_group(proc.pid)) > 1 or proc.poll() is not None:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    assert proc.poll() is None, "the flow ended before Ctrl-C could be sent"
    assert len(_group(proc.pid)) > 1, "the flow did not start its worker processes"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.decode() == "attn: error: interrupted\n" and out == b""
    for _ in range(50):  # the pool's processes end with it
        if not _group(proc.pid):
            break
        time.sleep(0.1)
    else:
        pytest.fail("a worker process outlived the command")


def _group(pgid: int) -> list[int]:
    """The live processes of process group pgid (Linux /proc; field 5 of stat; zombies count as gone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found
