"""What the whole-process benchmarks share: the machine and its load, and timing commands as fresh
processes, interleaved (one run of each command in turn, then again), so that a change in the load of
a shared machine falls on every command alike and the ratios between them stay fair.

Each run goes through a small wrapper process that times the command and reads its peak memory
(VmHWM of the child, from wait4's rusage), so the figure is the command's own, not the wrapper's.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass

_WRAP = (
    "import os, subprocess, sys, time; s = time.perf_counter(); "
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "_, status, usage = os.wait4(p.pid, 0); t = time.perf_counter() - s; "
    "sys.exit(f'exit {os.waitstatus_to_exitcode(status)}') if status else "
    "print(t, usage.ru_utime + usage.ru_stime, usage.ru_maxrss)"
)


@dataclass(frozen=True)
class Command:
    """One command line to time; `env` adds to the environment; `runs` overrides the count (slow ones)."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    runs: int | None = None


@dataclass
class Timing:
    name: str
    times: list[float]
    peak_kib: int
    cpu: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def fastest(self) -> float:
        return min(self.times)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def machine() -> str:
    from attncli.machine import cpu_model  # with the family and model numbers a VM's name may hide

    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def blas() -> str:
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl then describes)
    from threadpoolctl import threadpool_info

    return (
        ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info())
        or "?"
    )


def load() -> str:
    """The 1-minute load average now ('?' where the system does not say)."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def once(command: Command) -> tuple[float, float, int]:
    """Seconds of one run, its CPU seconds (user + system) and its peak memory (KiB)."""
    env = None if command.env is None else {**os.environ, **command.env}
    out = subprocess.run([sys.executable, "-c", _WRAP, *command.argv], capture_output=True, text=True, env=env)
    if out.returncode:
        sys.exit(f"{command.name}: {out.stderr.strip()}")
    seconds, cpu, rss = out.stdout.split()
    return float(seconds), float(cpu), int(rss)


def interleaved(commands: Sequence[Command], runs: int) -> tuple[dict[str, Timing], tuple[str, str]]:
    """Every command `runs` times (its own `runs` if set), one of each in turn; the timings and the
    load average before and after."""
    timings = {c.name: Timing(c.name, [], 0, []) for c in commands}
    before = load()
    for round_ in range(max(c.runs or runs for c in commands)):
        for c in commands:
            if round_ < (c.runs or runs):
                seconds, cpu, rss = once(c)
                t = timings[c.name]
                t.times.append(seconds)
                t.cpu.append(cpu)
                t.peak_kib = max(t.peak_kib, rss)
    return timings, (before, load())


def header(what: str, runs: int) -> None:
    print(f"machine: {machine()}")
    print(f"BLAS: {blas()}")
    print(what)
    print(f"{runs} runs of each command, interleaved, whole process; median and fastest\n")


def table(
    timings: dict[str, Timing], baseline: str, targets: dict[str, tuple[str, float]], loads: tuple[str, str]
) -> None:
    """The table, each row's ratio to the baseline; then each target (name → (\"×\" or \"s\", limit))
    met or not."""
    base = timings[baseline].median
    width = max(len(n) for n in timings) + 2
    print(f"{'command':<{width}} {'median':>8} {'fastest':>8} {'× numpy':>8} {'CPU':>7} {'peak memory':>12}")
    for t in timings.values():
        print(
            f"{t.name:<{width}} {t.median:>7.3f}s {t.fastest:>7.3f}s {t.median / base:>7.2f}× {t.cpu_median:>6.3f}s"
            f" {t.peak_kib / 1024:>9.0f} MB"
        )
    print("(median: wall time; CPU: user + system seconds, median; peak memory: the largest resident set)")
    print(f"\nload average (1 min): {loads[0]} before, {loads[1]} after")
    for name, (unit, limit) in targets.items():
        t = timings[name]
        value = t.median / base if unit == "×" else t.median
        shown = f"{value:.2f}× {baseline}" if unit == "×" else f"{value:.3f} s"
        verdict = "met" if value <= limit else "NOT met"
        print(f"target: {name} ≤ {limit}{unit if unit == '×' else ' s'}: {shown} — {verdict}")
