"""Attention flow (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): the maximum flow
from each output token to each input token through the layered graph of attention rollout's Â.

The graph has L + 1 layers of T nodes: node (l, u) is token u after layer l (l = 0: the input). An edge
runs from (l, u) down to (l − 1, v) with capacity Â_l[u, v], where (as for rollout, attncli.analysis.rollout)

    Â_l = rownorm(w·I + (1 − w)·mean_h A_l)        w = the residual weight, 0.5 in the paper

    flow[i, j] = the value of a maximum flow from (L, i) to (0, j)     (≤ 1: (L, i) sends at most 1)

and, as in the paper's code, each row is then divided by its sum ("normalised": what share of what output
token i can move comes from input token j). Like rollout it ignores the value vectors and the MLPs. A
causal mask survives: with Â_l lower-triangular, no path leads from token i to a later token j > i.

The maximum flows come from igraph (its push–relabel, in C, on floating-point capacities): a graph with
an edge for every positive entry of Â, and each problem (i, j) one call on it. Without a mask the graph
is built once. Under a causal mask a path from i to j stays among the tokens j…i, so the problems that
end at input token j are solved on a graph of the tokens j… alone (one graph per j): most of a call is
igraph setting up its residual graph, in proportion to the edges (1.2 ms of a 1.6 ms call at 64 tokens
× 12 layers), so a smaller graph is a faster call (64 tokens: 1.7× on random weights, 2.3–2.7× on
SmolLM2's). igraph holds the GIL, so large problems share their columns among forked processes, one per
core, on Linux (1.3–1.8× on 2 cores).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.analysis.rollout import RESIDUAL, mixed
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _
from attncli.machine import cpu_threads

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from numpy.typing import NDArray

    Array = NDArray[np.floating]

# From this much work (problems × edges) the columns are shared among processes: 64 tokens × 12 layers is
# 2·10⁸, MiniLM's 20 tokens × 6 layers 10⁶ (there starting the pool would cost more than it saves).
PARALLEL_FROM = 1 << 24
COLUMNS_APART = 16  # a process's share: every 16th column (interleaved, for progress and a balanced load)


def max_flows(layers: Array, causal: bool = False, progress: Callable[[int, int], None] | None = None,
              workers: int | None = None) -> NDArray[np.float64]:  # fmt: skip
    """(L, T, T) capacities (each layer's Â, row u = the edges out of token u) → (T, T) flow values:
    [i, j] = the maximum flow from token i after the last layer to input token j.

    `causal`: the capacities are lower-triangular, so a path from i to j stays among the tokens j…i:
    j > i is 0 without solving, and the problems ending at j are solved on the tokens j… alone.
    `workers`: processes that share the columns (default: the cores, on Linux, for large problems)."""
    c = np.ascontiguousarray(layers, dtype=np.float64)
    _check(c)
    n_layers, t = c.shape[:2]
    out = np.zeros((t, t))
    if n_layers == 1:  # one layer: the single edge
        out[:] = c[0]
        return out
    total, done = (t * (t + 1) // 2 if causal else t * t), 0
    # A column at a time here; across processes, interleaved groups (a causal column j has t − j problems)
    n_groups = min(COLUMNS_APART, t)
    n = _workers(workers, total * n_layers * t * t, n_groups)
    groups = [list(range(k, t, COLUMNS_APART)) for k in range(n_groups)] if n > 1 else [[j] for j in range(t)]
    for js, flows in _solved(c, causal, groups, n):
        out[:, js] = flows
        done += sum(t - j if causal else t for j in js)
        if progress is not None:
            progress(done, total)
    return out


def _workers(asked: int | None, work: int, groups: int) -> int:
    """How many processes: those asked for (or every core, when the work — problems × edges — pays for
    starting them), at most one per group of columns, and only where fork is safe (Linux)."""
    if sys.platform != "linux":
        return 1
    wanted = asked if asked is not None else cpu_threads() if work >= PARALLEL_FROM else 1
    return max(1, min(wanted, groups))


def _solved(c: NDArray[np.float64], causal: bool, groups: list[list[int]],
            n: int) -> Iterator[tuple[list[int], NDArray[np.float64]]]:  # fmt: skip
    """Each group of columns with its flows, (T, len(group)): in this process, or for n > 1 in n forked
    processes, process k taking groups k, k + n, … (see _in_processes)."""
    if n == 1:
        problem = _Problem(c, causal)
        yield from (problem.columns(js) for js in groups)
    else:
        yield from _in_processes(c, causal, [groups[k::n] for k in range(n)])


def _in_processes(c: NDArray[np.float64], causal: bool,
                  shares: list[list[list[int]]]) -> Iterator[tuple[list[int], NDArray[np.float64]]]:  # fmt: skip
    """The groups of columns of each share solved by a forked process of its own, as they arrive. The
    processes ignore Ctrl-C (it reaches this one), die with this process (PR_SET_PDEATHSIG), and are
    ended when the caller stops for any reason; one that dies early is an error, not a wait."""
    import multiprocessing
    from multiprocessing.connection import wait

    import igraph  # noqa: F401  (imported once here, not in every process)

    fork = multiprocessing.get_context("fork")
    parent, running = os.getpid(), []
    try:
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # a Ctrl-C while forking: for us alone
        try:
            for share in shares:
                receive, send = fork.Pipe(duplex=False)
                process = fork.Process(target=_work, args=(c, causal, share, send, parent), daemon=True)
                process.start()
                send.close()
                running.append((process, receive, len(share)))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        left: dict[Any, int] = {receive: count for _p, receive, count in running}  # groups still to come
        ready: Any
        while left:
            for ready in wait(list(left)):
                try:
                    solved = ready.recv()
                except EOFError:
                    process = next(p for p, r, _n in running if r is ready)
                    process.join()
                    message = f"attention flow: a worker process ended early (exit code {process.exitcode})"
                    raise RuntimeError(message) from None
                if isinstance(solved, Exception):  # raised in the worker: raised here, as in one process
                    raise solved
                yield solved
                left[ready] -= 1
                if not left[ready]:
                    del left[ready]
    finally:
        for process, receive, _count in running:
            process.terminate()
            process.join()
            receive.close()


def _work(c: NDArray[np.float64], causal: bool, share: list[list[int]], send: Any, parent: int) -> None:
    """A forked process's work: its share of the groups of columns, each sent back when solved."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: killed when the parent ends, however it ends
    if os.getppid() != parent:  # it ended before that line
        os._exit(1)
    try:
        problem = _Problem(c, causal)
        for js in share:
            send.send(problem.columns(js))
    except Exception as e:  # to the parent, which raises it (no traceback printed here)
        send.send(e)
    send.close()


class _Problem:
    """The capacities of one flow problem, and without a mask their graph (built once)."""

    def __init__(self, c: NDArray[np.float64], causal: bool) -> None:
        self.c, self.causal = c, causal
        self.whole = None if causal else _graph(c)

    def columns(self, js: list[int]) -> tuple[list[int], NDArray[np.float64]]:
        """The flows into input tokens js from every output token: (js, (T, len(js)))."""
        n_layers, t = self.c.shape[:2]
        flows = np.zeros((t, len(js)))
        for col, j in enumerate(js):
            first = j if self.causal else 0  # the graph holds the tokens first…; without a mask, all of them
            graph, capacity = self.whole or _graph(self.c[:, first:, first:])
            top = n_layers * (t - first) - first  # node of output token i: top + i
            for i in range(first, t):
                flows[i, col] = graph.maxflow_value(top + i, j - first, capacity=capacity)
        return js, flows


def _check(c: NDArray[np.float64]) -> None:
    if c.ndim != 3 or c.shape[0] < 1 or c.shape[1] != c.shape[2]:
        message = _("attention flow needs capacities of shape (L ≥ 1, T, T), got {shape}")
        raise ShapeError(message.format(shape=c.shape), argument="layers")
    if not (np.isfinite(c) & (c >= 0)).all():  # a NaN edge would otherwise be dropped, a negative one too
        raise NumericError(_("attention flow needs capacities that are finite and ≥ 0"), argument="layers")


def _graph(c: NDArray[np.float64]) -> tuple[Any, list[float]]:
    """(L, T, T) capacities → an igraph graph of the (L + 1)·T nodes (node (l, u) = l·T + u; l = 0: the input)
    with an edge (l, u) → (l − 1, v) for every positive Â_l[u, v], and those capacities in edge order."""
    import igraph  # only --flow needs it (about 0.1 s to import)

    t = c.shape[-1]
    layer, u, v = np.nonzero(c > 0)
    edges = list(zip(((layer + 1) * t + u).tolist(), (layer * t + v).tolist(), strict=True))
    graph = igraph.Graph(n=(c.shape[0] + 1) * t, edges=edges, directed=True)
    return graph, c[layer, u, v].tolist()


def attention_flow(weights: Array, residual: float = RESIDUAL, causal: bool = False,
                   progress: Callable[[int, int], None] | None = None) -> NDArray[np.float64]:  # fmt: skip
    """(L, H, T, T) weights → (T, T) maximum flows through Â (see the module): [i, j] from output i to input j."""
    return max_flows(mixed(weights, residual), causal=causal, progress=progress)


def normalised(flows: Array) -> NDArray[np.float64]:
    """Each row divided by its sum, as the paper's code does (a row of zeros stays zeros)."""
    sums = flows.sum(axis=-1, keepdims=True)
    out: NDArray[np.float64] = np.divide(flows, sums, out=np.zeros_like(flows, dtype=np.float64), where=sums > 0)
    return out


__all__ = ["attention_flow", "max_flows", "normalised"]
