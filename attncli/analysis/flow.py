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
graph sits in a (layer, token) array and the edges between two neighbouring layers are one T × T
matrix, so a round of pushes or a breadth-first search is a handful of array operations over all
layers at once, for a batch of (i, j) problems side by side. What the layers give:

- the source's edges and the sink's are one row and one column: the inner layers alone are state;
- a round of pushes touches only the nodes that hold excess, each with its 2·T + 1 edges (to the sink,
  down, back up); a node fills its admissible edges one after another, in an order that heads for the
  sink (the nodes below that could pass the most to it first, see _fill_order), so that its excess
  stays on few nodes instead of spreading over every neighbour (a fifth of the pushes that sharing it
  in proportion to the room took on real encoder weights);
- distance labels are exact after a breadth-first search towards the sink, run backwards one layer
  step at a time (a matrix–vector product per step) and stopped once every node with excess has its
  label; it runs every RELABEL_EVERY rounds and whenever a round moved nothing (labels stay valid
  between, as pushes never break them);
- without a causal mask each problem is pushed from its narrow end: from the sink's side (the graph
  turned round) when the sink takes in less than the source can send, so that all the excess pushed
  arrives;
- on long rows (WINDOWED_FROM) a node tries the first WINDOW edges of its order, cell by cell, and reads
  the rest only when excess is left (most need no more);
- the few cells a push changes are updated one by one, and with them two 0/1 arrays of which edges have
  room either way, the breadth-first search's matrices (not recomputed for each search);
- under a causal mask the problem (i, j) lives on the tokens j…i alone, solved at that size.

Only the flow's value is needed, so the solver stops at a maximum *preflow*: when no node that holds
excess can still reach the sink, the sink's excess is the maximum flow (Goldberg & Tarjan 1988).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np

from attncli.analysis.rollout import RESIDUAL, mixed

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

    Array = NDArray[np.floating]
    Solve = Callable[[NDArray[np.intp], int], NDArray[np.float64]]  # (i, j) pairs, span length → their flows

EPS = 1e-12  # a residual capacity or an excess at most this is zero (the capacities are weights ≤ 1)
BATCH_CELLS = 1 << 22  # problems side by side: at most about this many edge cells (B·L·T²) at once
RELABEL_EVERY = 3  # rounds of pushes between two breadth-first searches (and at once when nothing moved)
WINDOW = 8  # a pushing node's first edges in its order, tried before the rest (enough for most nodes)
WINDOWED_FROM = 97  # edge rows this long (48 tokens on) take the window first; shorter ones are read whole
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
    groups: list[tuple[int, NDArray[np.intp], Solve]]
    if causal:  # by the length of the span j…i: the problems of one length side by side
        spans: Solve = lambda chunk, k: _solve_spans(c, chunk, k)  # noqa: E731
        groups = [(k, np.array([(j + k - 1, j) for j in range(t - k + 1)], dtype=np.intp), spans)
                  for k in range(1, t + 1)]  # fmt: skip
    else:
        # Each problem pushed from whichever end lets less through: the source sends at most its row's sum,
        # the sink takes at most its column's. Pushed from the wider end, the excess the narrow end turns
        # back floods the graph before the labels show it stuck; the graph turned round (the layers in the
        # opposite order, every edge reversed) has the same maximum flow, and from the narrow end all of what
        # leaves arrives (2.4× faster on real encoder weights, where most input tokens take in less than 1;
        # no faster on the short spans of a causal problem, which are solved as given).
        pairs = np.array([(i, j) for i in range(t) for j in range(t)], dtype=np.intp)
        reverse = c[0].sum(axis=0)[pairs[:, 1]] < c[-1].sum(axis=1)[pairs[:, 0]]
        turned = np.ascontiguousarray(c[::-1].swapaxes(-1, -2))
        groups = [
            (t, pairs[reverse], lambda chunk, _k: _solve(turned[None], chunk[:, 1], chunk[:, 0])),  # from j to i
            (t, pairs[~reverse], lambda chunk, _k: _solve(c[None], chunk[:, 0], chunk[:, 1])),
        ]
    total, done = sum(len(pairs) for _, pairs, _ in groups), 0
    for k, pairs, solve in groups:
        batch = max(1, BATCH_CELLS // (n_layers * k * k))
        for start in range(0, len(pairs), batch):
            chunk = pairs[start : start + batch]
            out[chunk[:, 0], chunk[:, 1]] = solve(chunk, k)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return out


def _solve_spans(c: NDArray[np.float64], chunk: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    """Causal problems (i, j) with i − j + 1 = k, each on the tokens j…i of every layer: source i − j, sink 0."""
    span = chunk[:, 1, None] + np.arange(k)
    caps = c[:, span[:, :, None], span[:, None, :]].transpose(1, 0, 2, 3)
    return _solve(caps, np.full(len(chunk), k - 1), np.zeros(len(chunk), np.intp))


def _solve(c: NDArray[np.float64], source: NDArray[np.intp], sink: NDArray[np.intp]) -> NDArray[np.float64]:
    """Push–relabel for a batch of problems: capacities (B or 1, L, T, T), source (L, source[b]) and sink
    (0, sink[b]) of each problem b. A finished problem's value is kept; its rows are dropped once a
    quarter of those left have finished (dropping copies the arrays)."""
    n_layers, t = c.shape[1], c.shape[-1]
    b = len(source)
    rows = np.arange(b)
    # The first and last edge layers hold only the source's row and the sink's column.
    top = np.broadcast_to(c[:, -1], (b, t, t))[rows, source]  # (B, T): the source's edges, saturated at once
    state = _State(
        room=np.array(np.broadcast_to(c[:, 1:-1], (b, n_layers - 2, t, t)), order="C"),  # inner edges, down
        flow=np.zeros((b, n_layers - 2, t, t)),  # their flow: the residual of the edge back up
        sink_room=np.array(np.broadcast_to(c[:, 0], (b, t, t))[rows, :, sink]),  # (B, T): (1, u) → sink
        excess=np.concatenate([np.zeros((b, n_layers - 2, t)), top[:, None, :]], axis=1),  # inner layers
        value=np.zeros(b),
        ids=rows,
        order=np.zeros((b, n_layers - 1, 2 * t + 1), dtype=np.intp),
        down_open=np.zeros((b, n_layers - 2, t, t), dtype=np.float32),
        up_open=np.zeros((b, n_layers - 2, t, t), dtype=np.float32),
    )
    state.down_open[:] = state.room > EPS
    _fill_order(state)
    out = np.zeros(b)
    far = (n_layers + 1) * t  # a label no node reaches while it can still reach the sink
    since, moved = RELABEL_EVERY, True
    for _ in range(MAX_ROUNDS):
        if since >= RELABEL_EVERY or not moved:  # exact labels again; only then may a problem end
            dist, since = _distances(state, far), 0
            active = (state.excess > EPS) & (dist < far)
            done = ~active.any(axis=(1, 2))
            out[state.ids[done]] = state.value[done]
            if done.all():
                return out
            if 4 * done.sum() >= len(done):  # drop the finished problems' rows (now and then: it copies)
                state = state.keep(~done)
                dist, active = dist[~done], active[~done]
        else:  # the labels of the last search are still valid (a push never breaks them), if not exact
            active = (state.excess > EPS) & (dist < far)
        moved = _push(state, dist, np.where(active, state.excess, 0.0))
        since += 1
    raise RuntimeError("attention flow: push-relabel did not finish")  # pragma: no cover - the safety net


@dataclass
class _State:
    """The running problems of a batch: residuals, flows, excess and the value reached (flow into the sink)."""

    room: NDArray[np.float64]  # (b, L−2, T, T): room left on the edge (m+1, u) → (m, v) between inner layers
    flow: NDArray[np.float64]  # (b, L−2, T, T): flow on it, which (m, v) → (m+1, u) may push back
    sink_room: NDArray[np.float64]  # (b, T): room left on (1, u) → sink
    excess: NDArray[np.float64]  # (b, L−1, T): excess of the inner nodes (layers 1…L−1)
    value: NDArray[np.float64]  # (b,): flow into the sink so far
    ids: NDArray[np.intp]  # (b,): each problem's place in the batch
    order: NDArray[np.intp]  # (b, L−1, 2T+1): the order in which a node of that layer fills its edges
    # room > EPS and flow > EPS as 0/1, kept up to date by the pushes: the breadth-first search's matrices
    down_open: NDArray[np.float32]
    up_open: NDArray[np.float32]

    def keep(self, which: NDArray[np.bool_]) -> _State:
        return _State(*(getattr(self, f.name)[which] for f in fields(self)))


def _fill_order(state: _State) -> None:
    """The order in which a node fills its edges (see _push): the sink's edge first, then down, then back
    up, each towards the nodes that could pass the most to the sink first. How much that is, `reach`, is
    bounded from the sink upwards as if no two nodes shared an edge: reach(1, v) = the room of v's edge to
    the sink, reach(m+1, u) = min(1, Σ_v min(room(u → v), reach(m, v))). Any order is correct (push–relabel
    may push along any admissible edge); this one makes fewer pushes (it heads for the sink)."""
    b, inner, t = state.excess.shape
    reach = np.empty((b, inner, t))
    reach[:, 0] = state.sink_room
    for m in range(1, inner):
        reach[:, m] = np.minimum(np.minimum(state.room[:, m - 1], reach[:, m - 1, None, :]).sum(axis=-1), 1.0)
    best = np.argsort(-reach, axis=-1)  # per (problem, layer): its nodes, the likeliest way first
    tokens = np.broadcast_to(np.arange(t), (b, 1, t))
    state.order[:, :, 0] = 0
    state.order[:, :, 1 : t + 1] = 1 + np.concatenate([tokens, best[:, :-1]], axis=1)  # down: to the layer below
    state.order[:, :, t + 1 :] = t + 1 + np.concatenate([best[:, 1:], tokens], axis=1)  # up: to the layer above


def _distances(state: _State, far: int) -> NDArray[np.int64]:
    """(b, L−1, T): each inner node's distance to the sink in the residual graph, by a breadth-first search
    backwards from the sink over all layers at once; `far` for the nodes it has not reached when it stops,
    which is when every node with excess has its distance (those unreached cannot reach the sink)."""
    b, inner, t = state.excess.shape
    # down_open[m, u, v]: an edge (m+2, u) → (m+1, v) (inner layers, 1-based); up_open[m, u, v]: one back up
    waiting = state.excess > EPS
    dist = np.full((b, inner, t), far, dtype=np.int64)
    frontier = np.zeros((b, inner, t), dtype=np.float32)
    frontier[:, 0] = state.sink_room > EPS
    dist[:, 0][frontier[:, 0] > 0] = 1
    level = 1
    while True:
        waiting &= dist == far
        if not waiting.any() or not frontier.any():
            return dist
        level += 1
        reach = np.zeros((b, inner, t), dtype=np.float32)
        fb, fm = np.nonzero(frontier.any(axis=-1))  # only the (problem, layer) rows the frontier is in
        d = fm <= inner - 2  # from the layer above, down into the frontier
        down = state.down_open[fb[d], fm[d]]
        reach[fb[d], fm[d] + 1] += np.matmul(down, frontier[fb[d], fm[d], :, None])[..., 0]
        u = fm >= 1  # from the layer below, up (cancelling flow) into the frontier
        up = state.up_open[fb[u], fm[u] - 1]
        reach[fb[u], fm[u] - 1] += np.matmul(frontier[fb[u], fm[u], None, :], up)[:, 0, :]
        new = (reach > 0) & (dist == far)
        dist[new] = level
        frontier = new.astype(np.float32)


def _push(state: _State, dist: NDArray[np.int64], ex: NDArray[np.float64]) -> bool:
    """One round: every node with excess `ex` pushes it along its admissible edges (those one step closer to
    the sink), filling them in the order of state.order until its excess is gone or they are full (on long
    rows the first WINDOW edges of its order first, enough for most; then, with excess left, the rest)."""
    n, inner, t = dist.shape
    bi, mi, ui = np.nonzero(ex > 0)
    if len(bi) == 0:
        return False
    node = (bi, mi, ui, dist[bi, mi, ui] - 1)  # and the label an admissible edge leads to
    order = state.order[bi, mi]
    left = ex[bi, mi, ui]
    head = WINDOW if order.shape[1] >= WINDOWED_FROM else 0
    pushes = []  # (pushing node, edge, amount)
    rest = np.arange(len(bi))
    if head:
        sent = _fill(state, dist, node, order[:, :head], left)
        k, place = np.nonzero(sent)
        pushes.append((k, order[k, place], sent[k, place]))
        left = left - sent.sum(axis=-1)
        rest = np.nonzero(left > EPS)[0]
    if len(rest):
        sent = _fill_rows(state, dist, tuple(x[rest] for x in node), order[rest], left[rest], head)
        k, place = np.nonzero(sent)
        pushes.append((rest[k], order[rest[k], place], sent[k, place]))
    k, e, amount = (np.concatenate(x) for x in zip(*pushes, strict=True))
    if len(k) == 0:
        return False  # no node could push (the labels need renewing)
    state.excess[bi, mi, ui] -= np.bincount(k, weights=amount, minlength=len(bi))
    b, m, u = bi[k], mi[k], ui[k]
    excess = state.excess.reshape(-1)  # an edge is filled from one end only, but a node may receive from many
    sink, down = e == 0, (e >= 1) & (e <= t)
    up = ~(sink | down)
    state.sink_room[b[sink], u[sink]] -= amount[sink]
    state.value += np.bincount(b[sink], weights=amount[sink], minlength=n)
    bd, md, ud, vd, sd = b[down], m[down] - 1, u[down], e[down] - 1, amount[down]
    state.room[bd, md, ud, vd] -= sd
    state.flow[bd, md, ud, vd] += sd
    _reopen(state, (bd, md, ud, vd))
    bu, mu, vu, uu, su = b[up], m[up], u[up], e[up] - t - 1, amount[up]  # cancels (mu+2, uu) → (mu+1, vu)
    state.flow[bu, mu, uu, vu] -= su
    state.room[bu, mu, uu, vu] += su
    _reopen(state, (bu, mu, uu, vu))
    cells = np.concatenate([(bd * inner + md) * t + vd, (bu * inner + mu + 1) * t + uu])
    excess += np.bincount(cells, weights=np.concatenate([sd, su]), minlength=excess.size)
    return True


def _fill_rows(state: _State, dist: NDArray[np.int64], node: tuple[NDArray[np.intp], ...], order: NDArray[np.intp],
               excess: NDArray[np.float64], skip: int) -> NDArray[np.float64]:  # fmt: skip
    """_fill over every edge of each node after the first `skip` of its `order` (n, 2T + 1), reading whole rows
    of the residuals (quicker than cell by cell when most edges are read): (n, 2T + 1) sent, in `order`."""
    b, m, u, here = node
    inner, t = dist.shape[1], dist.shape[2]
    room = np.zeros((len(b), 2 * t + 1))  # per pushing node: to the sink, down to v, up to u
    first, down, up = m == 0, m >= 1, m <= inner - 2
    room[first, 0] = np.where(here[first] == 0, state.sink_room[b[first], u[first]], 0.0)
    bd, md, ud = b[down], m[down] - 1, u[down]  # the edge layer below a pushing node, and its row there
    below = state.room[bd, md, ud]
    below[dist[bd, md] != here[down][:, None]] = 0.0
    room[down, 1 : t + 1] = below
    bu, mu, uu = b[up], m[up], u[up]  # the edge layer above: flow that came down, pushed back up
    above = state.flow[bu, mu, :, uu]
    above[dist[bu, mu + 1] != here[up][:, None]] = 0.0
    room[up, t + 1 :] = above
    ordered = np.take_along_axis(room, order, axis=-1)
    ordered[:, :skip] = 0.0
    return _pour(ordered, excess)


def _fill(state: _State, dist: NDArray[np.int64], node: tuple[NDArray[np.intp], ...], edges: NDArray[np.intp],
          excess: NDArray[np.float64]) -> NDArray[np.float64]:  # fmt: skip
    """(n, k) what each pushing node sends along `edges` (n, k; 0 the sink's, 1…T down to v − 1, T + 1…2T back
    up to u − T − 1): its `excess` poured into them in that order, each admissible edge taking up to its room."""
    b, m, u, here = (x[:, None] for x in node)
    inner, t = dist.shape[1], dist.shape[2]
    room = np.where((edges == 0) & (m == 0) & (here == 0), state.sink_room[b, u], 0.0)
    if state.room.shape[1]:  # the inner edge layers (none with two layers); flat indices: take() is quick
        v, w = np.clip(edges - 1, 0, t - 1), np.clip(edges - t - 1, 0, t - 1)  # below, above (where they apply)
        below = b * (inner - 1) + np.maximum(m - 1, 0)  # (problem, edge layer) rows, as in state.room
        above = b * (inner - 1) + np.minimum(m, inner - 2)
        labels = dist.reshape(-1)
        down = (edges >= 1) & (edges <= t) & (m >= 1) & (labels.take((b * inner + m - 1) * t + v, mode="clip") == here)
        up = (edges > t) & (m <= inner - 2) & (labels.take((b * inner + m + 1) * t + w, mode="clip") == here)
        room_down = state.room.reshape(-1).take((below * t + u) * t + v)
        room_up = state.flow.reshape(-1).take((above * t + w) * t + u)
        room = np.where(down, room_down, np.where(up, room_up, room))
    return _pour(room, excess)


def _pour(room: NDArray[np.float64], excess: NDArray[np.float64]) -> NDArray[np.float64]:
    """(n, k) what each node's `excess` puts into its edges, filled in column order up to each one's `room`."""
    room[room <= EPS] = 0.0
    before = np.cumsum(room, axis=-1) - room  # what the edges before each one take
    sent: NDArray[np.float64] = np.clip(excess[:, None] - before, 0.0, room)
    return sent


def _reopen(state: _State, cells: tuple[NDArray[np.intp], ...]) -> None:
    """The open/closed state of the edges at `cells`, after a push changed their room and flow."""
    state.down_open[cells] = state.room[cells] > EPS
    state.up_open[cells] = state.flow[cells] > EPS


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
