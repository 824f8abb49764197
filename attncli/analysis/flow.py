"""Attention flow (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): the maximum flow
from each output token to each input token through the layered graph of attention rollout's Â.

The graph has L + 1 layers of T nodes: node (l, u) is token u after layer l (l = 0: the input). An edge
runs from (l, u) down to (l − 1, v) with capacity Â_l[u, v], where (as for rollout, attncli.analysis.rollout)

    Â_l = rownorm(w·I + (1 − w)·mean_h A_l)        w = the residual weight, 0.5 in the paper

    flow[i, j] = the value of a maximum flow from (L, i) to (0, j)     (≤ 1: (L, i) sends at most 1)

and, as in the paper's code, each row is then divided by its sum ("normalised": what share of what output
token i can move comes from input token j). Like rollout it ignores the value vectors and the MLPs. A
causal mask survives: with Â_l lower-triangular, no path leads from token i to a later token j > i.

The solver is push–relabel written for this graph (pure NumPy; no graph library): every node of the
graph sits in a (layer, token) array, the edges between two neighbouring layers are one T × T matrix,
so a push, a relabel or a breadth-first search is a handful of array operations over all layers at
once, for a batch of (i, j) problems side by side. Exact distance labels come from a breadth-first
search towards the sink before every round of pushes (the "global relabelling" heuristic, every time).
Only the flow's value is needed, so the solver stops at a maximum *preflow*: when no node that holds
excess can still reach the sink, the sink's excess is the maximum flow (Goldberg & Tarjan 1988).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attncli.analysis.rollout import RESIDUAL, mixed

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    Array = NDArray[np.floating]

EPS = 1e-12  # a residual capacity or an excess at most this is zero (the capacities are weights ≤ 1)
BATCH_CELLS = 1 << 22  # problems side by side: at most about this many edge cells (B·L·T²) at once
MAX_ROUNDS = 100_000  # a safety net: push–relabel ends long before (a bug would otherwise loop)


def max_flows(layers: Array, causal: bool = False,
              progress: Callable[[int, int], None] | None = None) -> NDArray[np.float64]:  # fmt: skip
    """(L, T, T) capacities (each layer's Â, row u = the edges out of token u) → (T, T) flow values:
    [i, j] = the maximum flow from token i after the last layer to input token j.

    `causal`: the capacities are lower-triangular, so a path from i to j stays among the tokens j…i:
    j > i is 0 without solving, and the problem (i, j) is solved on those i − j + 1 tokens alone."""
    c = np.ascontiguousarray(layers, dtype=np.float64)
    n_layers, t, _ = c.shape
    out = np.zeros((t, t))
    if n_layers == 1:  # one layer: the single edge
        out[:] = c[0]
        return out
    if causal:  # by the length of the span j…i: the problems of one length side by side
        groups = [(k, np.array([(j + k - 1, j) for j in range(t - k + 1)], dtype=np.intp)) for k in range(1, t + 1)]
    else:
        groups = [(t, np.array([(i, j) for i in range(t) for j in range(t)], dtype=np.intp))]
    total, done = sum(len(g) for _, g in groups), 0
    for k, pairs in groups:
        batch = max(1, BATCH_CELLS // (n_layers * k * k))
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            if causal:  # the tokens j…i of every layer: source i − j, sink 0 in the span
                span = chunk[:, 1, None] + np.arange(k)
                caps = c[:, span[:, :, None], span[:, None, :]].transpose(1, 0, 2, 3)
                out[chunk[:, 0], chunk[:, 1]] = _solve(caps, np.full(len(chunk), k - 1), np.zeros(len(chunk), np.intp))
            else:
                out[chunk[:, 0], chunk[:, 1]] = _solve(c[None], chunk[:, 0], chunk[:, 1])
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return out


def _solve(c: NDArray[np.float64], source: NDArray[np.intp], sink: NDArray[np.intp]) -> NDArray[np.float64]:
    """Push–relabel for a batch of problems: capacities (B or 1, L, T, T), source (L, source[b]) and sink
    (0, sink[b]) of each problem b."""
    n_layers, t = c.shape[1], c.shape[-1]
    b = len(source)
    rows = np.arange(b)
    cap = np.broadcast_to(c[:, 1:-1], (b, n_layers - 2, t, t))  # the edges between inner layers
    # The first and last edge layers hold only the source's row and the sink's column.
    top = np.broadcast_to(c[:, -1], (b, t, t))[rows, source]  # (B, T): the source's edges, saturated at once
    bottom = np.broadcast_to(c[:, 0], (b, t, t))[rows, :, sink]  # (B, T): the edges into the sink
    # Flow on the inner edges and on the edges into the sink; node state on the inner layers 1…L−1.
    flow = np.zeros((b, n_layers - 2, t, t))
    into_sink = np.zeros((b, t))
    excess = np.zeros((b, n_layers - 1, t))
    excess[:, -1] = top
    n_nodes = (n_layers + 1) * t
    value = np.zeros(b)
    live = np.ones(b, dtype=bool)
    for _ in range(MAX_ROUNDS):
        idx = np.flatnonzero(live)
        if idx.size == 0:
            break
        fwd = cap[idx] - flow[idx]  # (b, L−2, T, T): residual of (m+1, u) → (m, v), inner layers
        bwd = flow[idx]  # residual of (m, v) → (m+1, u), read transposed
        sink_res = bottom[idx] - into_sink[idx]  # (b, T): (1, u) → sink
        dist = _distances(fwd > EPS, bwd > EPS, sink_res > EPS, n_nodes)
        ex = excess[idx]
        active = (ex > EPS) & (dist < n_nodes)
        done = ~active.any(axis=(1, 2))
        live[idx[done]] = False
        if done.all():
            break
        keep = ~done
        idx, fwd, bwd, sink_res, dist, ex, active = (
            idx[keep], fwd[keep], bwd[keep], sink_res[keep], dist[keep], ex[keep], active[keep]
        )  # fmt: skip
        _push(idx, fwd, bwd, sink_res, dist, np.where(active, ex, 0.0), (flow, into_sink, excess, value))
    else:  # pragma: no cover - the safety net
        raise RuntimeError("attention flow: push-relabel did not finish")
    return value


def _distances(f: NDArray[np.bool_], r: NDArray[np.bool_], s: NDArray[np.bool_], far: int) -> NDArray[np.int64]:
    """(b, L−1, T): each inner node's distance to the sink in the residual graph (far when it cannot reach
    it), by a breadth-first search backwards from the sink, all layers at once.

    f[m, u, v]: (m+2, u) → (m+1, v) has room (inner layers numbered from 1; here 0-based from layer 1);
    r[m, u, v]: (m+1, v) → (m+2, u) has room (flow to cancel); s[u]: (1, u) → sink has room."""
    b, inner, t = f.shape[0], f.shape[1] + 1, f.shape[-1]
    dist = np.full((b, inner, t), far, dtype=np.int64)
    ff, rf = f.astype(np.float64), r.astype(np.float64)
    frontier = np.zeros((b, inner, t))
    frontier[:, 0] = s
    dist[:, 0][s] = 1
    level = 1
    while frontier.any():
        level += 1
        reach = np.zeros((b, inner, t))
        reach[:, 1:] += np.matmul(ff, frontier[:, :-1, :, None])[..., 0]  # down-edges into the frontier
        reach[:, :-1] += np.matmul(frontier[:, 1:, None, :], rf)[:, :, 0, :]  # up-edges (cancelling flow)
        new = (reach > 0) & (dist == far)
        dist[new] = level
        frontier = new.astype(np.float64)
    return dist


def _push(
    idx: NDArray[np.intp],
    fwd: NDArray[np.float64],
    bwd: NDArray[np.float64],
    sink_res: NDArray[np.float64],
    dist: NDArray[np.int64],
    ex: NDArray[np.float64],
    state: tuple[NDArray[np.float64], ...],
) -> None:
    """One round: every node with excess pushes it along its admissible edges (those that lead one step
    closer to the sink), greedily in a fixed order, as far as they have room."""
    flow, into_sink, excess, value = state
    b, inner, t = dist.shape
    d_below = np.concatenate([np.zeros((b, 1, t), dtype=np.int64), dist[:, :-1]], axis=1)  # layer m−1 (sink: 0)
    d_above = np.concatenate([dist[:, 1:], np.full((b, 1, t), -1, dtype=np.int64)], axis=1)  # m+1 (none at top)
    down = np.zeros((b, inner, t, t))  # room of (m, u) → (m−1, v); layer 1 → sink only on the sink's column
    down[:, 1:] = fwd
    up = np.zeros((b, inner, t, t))  # room of (m, v) → (m+1, u)
    up[:, :-1] = np.swapaxes(bwd, -1, -2)
    down_ok = (dist[..., :, None] == d_below[..., None, :] + 1) & (down > EPS)
    up_ok = (dist[..., :, None] == d_above[..., None, :] + 1) & (up > EPS)
    sink_ok = (dist[:, 0] == 1) & (sink_res > EPS)
    to_sink_room = np.zeros((b, inner, t, 1))  # (1, u) → sink, first in the order
    to_sink_room[:, 0, :, 0] = np.where(sink_ok, sink_res, 0.0)
    room = np.concatenate([to_sink_room, np.where(down_ok, down, 0.0), np.where(up_ok, up, 0.0)], axis=-1)
    before = np.cumsum(room, axis=-1) - room
    sent = np.clip(ex[..., None] - before, 0.0, room)
    to_sink, sent_down, sent_up = sent[..., 0], sent[..., 1 : t + 1], sent[..., t + 1 :]
    flow[idx] += sent_down[:, 1:] - np.swapaxes(sent_up[:, :-1], -1, -2)
    into_sink[idx] += to_sink[:, 0]
    value[idx] += to_sink[:, 0].sum(axis=-1)
    moved = excess[idx] - sent.sum(axis=-1)
    moved[:, :-1] += sent_down[:, 1:].sum(axis=-2)
    moved[:, 1:] += sent_up[:, :-1].sum(axis=-2)
    excess[idx] = moved


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
