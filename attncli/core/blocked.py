"""Attention output only, in bounded memory: FlashAttention-style online softmax over blocks.

For each (head, block of queries) the keys are visited block by block, keeping per query row a
running max m, a running sum l of exp(score − m) and a running weighted sum of values:

    m' = max(m, rowmax(S_b))        S_b = (Q_b·scale)·K_bᵀ, masked cells −∞
    P  = exp(S_b − m')
    l' = l·exp(m − m') + rowsum(P)
    acc' = acc·exp(m − m') + P·V_b
    output = acc / l                after the last block

so the T×S matrix never exists: memory is O(block_q·block_k) per worker. Causal blocks that are
entirely in the future are skipped (about half the work). Work items (head, query block) run on a
small thread pool, each with single-threaded BLAS, because NumPy releases the GIL in matmul and
ufuncs: two workers keep both cores busy without the synchronisation cost of 2-thread BLAS on
small matmuls. The result equals attncli.core.engine.attention's output (≤ 1e-12 in float64).

The fast path (no additive mask, no softcap): the shift is not a running maximum but a bound. By
Cauchy–Schwarz every score of row i is at most c_i = |q_i·scale|·max_j |k_j| (j over the keys the
row's tiles visit), so exp(score − c_i) ≤ 1 never overflows, and softmax does not change when every
weight of a row is multiplied by the same e^(m_i − c_i). With a column −c_i appended to Q and a
column of ones to K, one matrix product gives score − c_i, and with the ones column of V the second
gives the row sum: one elementwise pass (exp) per tile instead of max, subtract, exp and rescale.
It is exact as long as no weight that matters underflows, which the row sum tells for free:
l_i = Σ_j exp(s_ij − c_i) ≥ exp(m_i − c_i), so l_i ≥ τ means the row's real maximum m_i is within
ln(1/τ) + ln S of the bound, and every weight above tiny·e^(c−m) is a normal number. τ is chosen per
dtype so that the weights lost to underflow weigh less than 1 % of an ulp (_accept_threshold). Rows
with l_i < τ (a bound far above the real maximum, a fully masked row), a non-finite sum, or a bound
near the float maximum are computed again by the running-maximum path above, which also raises the
overflow errors and finds the empty rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from attncli.core.checks import Checked
from attncli.core.masks import MaskRule, mask_parts, rule_of, sink_logits
from attncli.core.settings import CausalAlign, EmptyRow, MaskSpec
from attncli.errors import NumericError, ShapeError
from attncli.i18n import _, ngettext
from attncli.machine import cpu_threads, l2_bytes, tuned_tiles

if TYPE_CHECKING:
    from numpy.typing import NDArray

    Array = NDArray[np.floating]


# Tile sizes are the machine's (tiles_for): tuned on it (attncli.machine), else from its level-2 cache.
# H·T·S under this runs serially (one worker): the pool costs about 1 ms, which only pays off from
# T = S ≈ 1024 (benchmarks/bench_attention.py)
SERIAL_BELOW = 1024 * 1024
# Causal masks of diagonal tiles kept per call: block_k / block_q + 1 cover every tile of aligned
# tiles with block_k ≤ 2·block_q (the tuned ones here); kept, each is a tile of floats (core/memory.py)
DIAGONALS_KEPT = 4


@dataclass(frozen=True)
class AttentionOutput:
    """The output of attention without the intermediate stages (from the blocked path)."""

    output: Array  # (..., T, d_v)
    scale: float
    scale_is_default: bool
    causal: bool
    causal_align: CausalAlign
    empty_row: EmptyRow
    empty_rows: tuple[tuple[int, ...], ...]  # index (..., t) of every fully masked query row
    dtype: str
    variants: MaskSpec = field(
        default_factory=MaskSpec
    )  # the structured masks (window, chunk, prefix, documents, sinks)


@dataclass(frozen=True)
class Tiling:
    """How the blocked path cuts and runs the work: tile sizes (default: the machine's, tiles_for),
    worker threads (default: the cores available), and `progress(done, total)`, called after each
    work item."""

    block_q: int | None = None
    block_k: int | None = None
    threads: int | None = None
    progress: Callable[[int, int], None] | None = None


def tiles_for(dtype: str, causal: bool) -> tuple[int, int]:
    """(block_q, block_k) for this machine: the tuned tiles stored for its CPU and BLAS
    (attncli.machine.tuned_tiles), else tiles_for_cache(level-2 cache size)."""
    tuned = tuned_tiles().get(f"{dtype} causal" if causal else dtype)
    return tuned or tiles_for_cache(l2_bytes(), np.dtype(dtype).itemsize)


def tiles_for_cache(l2: int, itemsize: int) -> tuple[int, int]:
    """Tiles whose score buffer (block_q × block_k) fills half of a level-2 cache of l2 bytes (the
    other half holds the BLAS's packed Q, K and V panels): 128 query rows (64 on small caches) and a
    power of two of keys between 128 and 4096."""
    elements = max(l2 // 2 // itemsize, 1)
    bq = 128 if elements >= 128 * 256 else 64
    bk = 1 << max(7, min(12, (elements // bq).bit_length() - 1))
    return bq, bk


@dataclass(frozen=True)
class _Plan:
    """The checked inputs laid out for tiles: every leading dimension present, grouped heads mapped."""

    q: Array  # (*lead, T, d_k), a broadcast view
    k: Array  # (*kv_lead, S, d_k)
    v_ones: Array  # (*kv_lead, S, d_v + 1): V with a column of ones, so P·[V | 1] also sums P
    lead: tuple[int, ...]
    group: int  # query heads per K/V head (1: no grouping)
    allowed: NDArray[np.bool_] | None  # (*lead, T, S) views of the mask's parts
    additive: Array | None
    offset: int  # causal: query i sees keys j ≤ i + offset
    checked: Checked
    exponents: NDArray[np.int32]  # per column of V: v_ones holds V / 2^e (see _value_exponents)
    rule: MaskRule | None = None  # a structured mask (window, chunk, prefix, documents): tiles outside it are skipped
    sinks: Array | None = None  # learned sink logits, (*lead, 1, 1) once broadcast
    k_ones: Array | None = None  # the bound path's K with a column of ones, (*kv_lead, S, d_k + 1); None: no bound path
    key_norms2: Array | None = None  # |k_j|², (*kv_lead, S)
    log_tau: float = 0.0  # rows whose bound-shifted sum is below e^log_tau are recomputed (_accept_threshold)
    # the bound path's causal 0/1 masks, key-major, by (keys, rows, first key − first row − offset):
    # tiles that cross the diagonal alike share one (at most DIAGONALS_KEPT are kept)
    diagonals: dict[tuple[int, int, int], Array] = field(default_factory=dict)

    def kv_index(self, h: tuple[int, ...]) -> tuple[int, ...]:
        """K/V slice for query slice h: broadcast size-1 dimensions, map grouped heads."""
        k = self.k
        idx = list(h[len(h) - (k.ndim - 2) :]) if k.ndim > 2 else []
        idx = [0 if n == 1 else i for i, n in zip(idx, k.shape[:-2], strict=True)]
        if self.group > 1:
            idx[-1] = h[-1] // self.group
        return tuple(idx)


def _plan(checked: Checked) -> _Plan:
    qa, ka, va = checked.q, checked.k, checked.v
    t, d_k = qa.shape[-2:]
    s = ka.shape[-2]
    if ka.shape[:-2] != va.shape[:-2]:
        ka, va = _broadcast_kv(ka, va)
    group = _gqa_group(qa.shape[:-2], ka.shape[:-2])
    if group > 1:
        lead = (*ka.shape[:-3], qa.shape[-3])
    else:
        try:
            lead = np.broadcast_shapes(qa.shape[:-2], ka.shape[:-2])
        except ValueError:
            message = _("leading dimensions do not broadcast: {shapes}")
            shapes = f"q {qa.shape[:-2]}, k {ka.shape[:-2]}"
            raise ShapeError(message.format(shapes=shapes), argument="q/k/v") from None
    allowed, additive, _given = mask_parts(checked.settings.mask, (*lead, t, s), checked.ftype)
    # Views with every leading dimension, so tiles can be cut by the work item's index alone.
    if allowed is not None:
        allowed = np.broadcast_to(allowed, (*lead, t, s))
    if additive is not None:
        additive = np.broadcast_to(additive, (*lead, t, s))
    exponents = _value_exponents(va, s)
    if exponents.any():  # V near the float maximum: attend to V / 2^e, multiply the output back by 2^e
        va = np.ldexp(va, -exponents).astype(checked.ftype)
    v_ones = np.concatenate([va, np.ones((*va.shape[:-1], 1), dtype=checked.ftype)], axis=-1)
    offset = 0 if checked.settings.causal_align == "top-left" else s - t
    q_full = np.broadcast_to(qa, (*lead, t, d_k))
    settings = checked.settings
    rule = rule_of(t, s, settings.causal, settings.causal_align, settings.variants) if settings.variants.any else None
    sinks = sink_logits(settings.variants, (*lead, t, s), checked.ftype)
    if sinks is not None:
        sinks = np.broadcast_to(sinks, (*lead, 1, 1))
    log_tau = _accept_threshold(checked.ftype, s)
    k_ones = key_norms2 = None
    if additive is None and settings.variants.softcap is None and log_tau < 0:
        k_ones = np.concatenate([ka, np.ones((*ka.shape[:-1], 1), dtype=checked.ftype)], axis=-1)
        with np.errstate(over="ignore"):
            key_norms2 = np.einsum("...sd,...sd->...s", ka, ka)
    return _Plan(
        q_full, ka, v_ones, lead, group, allowed, additive, offset, checked, exponents, rule, sinks, k_ones,
        key_norms2, log_tau,
    )  # fmt: skip


def _accept_threshold(ftype: type[np.floating], s: int) -> float:
    """ln τ: a row of the bound path whose sum l = Σ exp(s_j − c) is at least τ has its real maximum m
    within ln(1/τ) + ln S of the bound c; then the weights that underflow (below tiny, relative to the
    largest below tiny·e^(c − m)) sum to at most S²·tiny/τ of it, which τ keeps at 1 % of an ulp."""
    info = np.finfo(ftype)
    return float(np.log(info.tiny) - np.log(info.eps) + 2 * np.log(max(s, 1)) + np.log(100))


def blocked_output(checked: Checked, tiling: Tiling | None = None) -> AttentionOutput:
    """The output of scaled dot-product attention for checked inputs, without materialising T×S
    (attncli.core.attention.attention_output documents the rules)."""
    tiling = tiling or Tiling()
    plan = _plan(checked)
    t, s, d_v = checked.q.shape[-2], checked.k.shape[-2], checked.v.shape[-1]
    default_q, default_k = tiles_for(checked.settings.dtype, checked.settings.causal)
    bq, bk = tiling.block_q or default_q, tiling.block_k or default_k
    attend = _attend_rows if plan.k_ones is None else _attend_rows_bound
    output = np.empty((*plan.lead, t, d_v), dtype=checked.ftype)
    row_sums = np.empty((*plan.lead, t), dtype=checked.ftype)
    heads = [tuple(int(i) for i in idx) for idx in np.ndindex(*plan.lead)] if plan.lead else [()]
    items = [(h, i0) for h in heads for i0 in range(0, t, bq)]

    def run(item: tuple[tuple[int, ...], int]) -> None:
        h, i0 = item
        i1 = min(i0 + bq, t)
        output[h][i0:i1], row_sums[h][i0:i1] = attend(plan, h, i0, i1, bk)

    n_threads = min(tiling.threads or cpu_threads(), len(items))
    _run_all(items, run, n_threads if len(heads) * t * s >= SERIAL_BELOW else 1, tiling.progress)
    _check_finite(output, checked.settings.dtype)
    empty = row_sums == 0
    for idx in np.argwhere(empty) if checked.settings.empty_row != "zero" else ():
        h, row = tuple(int(i) for i in idx[:-1]), int(idx[-1])
        # uniform: weight 1/S on every key, so the output is the mean value row
        mean = plan.v_ones[plan.kv_index(h)][:, :d_v].mean(axis=0)
        output[h][row] = mean if checked.settings.empty_row == "uniform" else np.nan
    if plan.exponents.any():
        output = np.ldexp(output, plan.exponents).astype(checked.ftype)
        _check_finite(np.where(np.isinf(output), output, 0), checked.settings.dtype)  # (NaN: --empty-row nan)
    output.flags.writeable = False
    settings = checked.settings
    return AttentionOutput(
        output=output,
        scale=checked.scale,
        scale_is_default=checked.scale_is_default,
        causal=settings.causal,
        causal_align=settings.causal_align,
        empty_row=settings.empty_row,
        empty_rows=tuple(tuple(int(i) for i in idx) for idx in np.argwhere(empty)),
        dtype=str(output.dtype),
        variants=settings.variants,
    )


def _attend_rows(plan: _Plan, h: tuple[int, ...], i0: int, i1: int, bk: int) -> tuple[Array, Array]:
    """Online softmax for query rows i0…i1 − 1 of slice h, key block by key block: (output rows, row sums)."""
    checked, ftype = plan.checked, plan.checked.ftype
    causal, s, d_v = checked.settings.causal, checked.k.shape[-2], checked.v.shape[-1]
    masking = causal or plan.rule is not None or plan.allowed is not None or plan.additive is not None
    qb = np.multiply(plan.q[h][i0:i1], ftype(checked.scale))  # Q scaled once per block: (bq, d_k)
    kh, vh = plan.k[plan.kv_index(h)], plan.v_ones[plan.kv_index(h)]
    rows = i1 - i0
    softcap = checked.settings.variants.softcap
    cap = None if softcap is None else ftype(softcap)
    m = np.full(rows, -np.inf, dtype=ftype)
    acc = np.zeros((rows, d_v + 1), dtype=ftype)  # running Σ P·V and, in the last column, Σ P
    buf = np.empty((rows, min(bk, s)), dtype=ftype)
    pv = np.empty((rows, d_v + 1), dtype=ftype)
    for j0, j1, rule_cells in _key_tiles(plan, i0, i1, bk):
        sb = buf[:, : j1 - j0]
        np.matmul(qb, kh[j0:j1].T, out=sb)  # (bq, d) x (d, bk) -> (bq, bk)
        overflow = ~np.isfinite(sb)  # the scaled scores themselves (before a softcap would hide it)
        if cap is not None:  # softcap: c·tanh(s/c) on the scaled scores, before the mask
            np.tanh(sb / cap, out=sb)
            sb *= cap
        if plan.additive is not None:
            added = plan.additive[h][i0:i1, j0:j1]
            sb += added
            overflow |= ~np.isfinite(sb) & np.isfinite(added)  # −∞ from the mask is masking, not overflow
        if overflow.any():  # before masking: an overflowed score must not pass for a masked one
            _score_overflow(checked.settings.dtype, h, i0 + int(np.argwhere(overflow)[0][0]))
        hidden = _block_hidden(h, i0, i1, j0, j1, causal and plan.rule is None, plan.offset, plan.allowed)
        if rule_cells is not None:
            hidden = ~rule_cells if hidden is None else hidden | ~rule_cells
        if hidden is not None:
            sb[hidden] = -np.inf
        m_new = np.maximum(m, sb.max(axis=1))
        shift = m_new
        if masking:  # rows with nothing visible yet have m_new = −∞: shift by 0 so exp gives 0, not NaN
            shift = np.where(np.isneginf(m_new), ftype(0), m_new)
        sb -= shift[:, None]
        np.exp(sb, out=sb)
        acc *= np.exp(m - shift)[:, None]
        np.matmul(sb, vh[j0:j1], out=pv)  # (bq, bk) x (bk, d_v + 1) -> (bq, d_v + 1)
        acc += pv
        m = m_new
    seen = acc[:, d_v].copy()  # 0 on a row that saw no key
    if plan.sinks is not None:  # the learned sink: one more logit in the row max and the row sum, no value
        sink = plan.sinks[h][0, 0]
        m_new = np.maximum(m, sink)
        acc *= np.exp(m - m_new)[:, None]
        acc[:, d_v] += np.exp(sink - m_new)
    l_sum = acc[:, d_v]
    return acc[:, :d_v] / np.where(l_sum == 0, ftype(1), l_sum)[:, None], seen


def _attend_rows_bound(plan: _Plan, h: tuple[int, ...], i0: int, i1: int, bk: int) -> tuple[Array, Array]:
    """The bound path (the module's docstring) for query rows i0…i1 − 1 of slice h: (output rows, row
    sums); the rows it cannot vouch for come from _attend_rows.

    Its tiles are key-major: [K | 1]·[Q·scale | −c]ᵀ is (keys, rows), and [V | 1]ᵀ times it adds up
    the output transposed, (d_v + 1, rows); OpenBLAS runs these shapes faster than Q·Kᵀ then P·V
    (3–25 % on one core, by tile shape; benchmarks/bench_attention.py --tile-parts). The exponential
    is base 2 in float32 (_exponential), so both the scores and the bound c are in its base."""
    ftype, d_v = plan.checked.ftype, plan.checked.v.shape[-1]
    tiles = _key_tiles(plan, i0, i1, bk)
    base, exponential = _exponential(ftype)
    q1t, shift, risky = _bounded_queries(plan, h, i0, i1, tiles, base)
    acc = _bound_sums(plan, h, (i0, i1), tiles, q1t, exponential)  # (its tiles are freed before any row is redone)
    seen = acc[d_v].copy()
    good = (seen >= np.exp(plan.log_tau)) & np.isfinite(acc).all(axis=0) & ~risky
    if plan.sinks is not None:  # the sink's logit joins the row sum, shifted by the larger of c and it, in base e
        sink, bound = plan.sinks[h][0, 0], shift / ftype(base)  # (a float32 sink near the maximum × log2 e is inf)
        m_new = np.maximum(bound, sink)
        acc *= np.exp(bound - m_new)
        acc[d_v] += np.exp(sink - m_new)
    l_sum = acc[d_v]
    out = (acc[:d_v] / np.where(l_sum == 0, ftype(1), l_sum)).T
    for r0, r1 in _runs(np.flatnonzero(~good)):
        out[r0:r1], seen[r0:r1] = _attend_rows(plan, h, i0 + r0, i0 + r1, bk)
    return out, seen


def _bound_sums(
    plan: _Plan, h: tuple[int, ...], rows: tuple[int, int], tiles: list[Any], q1t: Array, exponential: np.ufunc
) -> Array:
    """Σ_j exp(s_ij − c_i)·[v_j | 1] over the key tiles of query rows i0…i1 − 1, transposed: (d_v + 1, rows)."""
    ftype, d_v, (i0, i1) = plan.checked.ftype, plan.checked.v.shape[-1], rows
    kv = plan.kv_index(h)
    assert plan.k_ones is not None
    kh, vh = plan.k_ones[kv], plan.v_ones[kv]
    causal = plan.checked.settings.causal and plan.rule is None
    acc = np.zeros((d_v + 1, i1 - i0), dtype=ftype)
    widest = max((j1 - j0 for j0, j1, _cells in tiles), default=1)
    buf = np.empty((widest, i1 - i0), dtype=ftype)
    pv = np.empty_like(acc)
    for j0, j1, rule_cells in tiles:
        sb = buf[: j1 - j0]
        np.matmul(kh[j0:j1], q1t, out=sb)  # (bk, d + 1) x (d + 1, bq): the scores minus c, key-major
        exponential(sb, out=sb)
        _hide_cells(plan, sb, h, (i0, i1, j0, j1), causal, rule_cells)
        np.matmul(vh[j0:j1].T, sb, out=pv)  # (d_v + 1, bk) x (bk, bq)
        acc += pv
    return acc


def _exponential(ftype: type[np.floating]) -> tuple[float, np.ufunc]:
    """(base, the exponential) of the bound path's tiles: float32 takes 2^x, which NumPy computes in
    two thirds of e^x's time or less and within 1 ulp (e^x: 2.4 ulp), with log2 e folded into Q's
    scale and the bound. float64 keeps e^x: the fold rounds every score once more, which huge scores
    (±1e4) turn into an error of 4e-13 in the output, where e^x gives the stage path's exactly."""
    return (float(np.log2(np.e)), np.exp2) if ftype == np.float32 else (1.0, np.exp)


def _bounded_queries(
    plan: _Plan, h: tuple[int, ...], i0: int, i1: int, tiles: list[Any], base: float
) -> tuple[Array, Array, NDArray[np.bool_]]:
    """[Q·scale·base | −c·base]ᵀ for query rows i0…i1 − 1, (d_k + 1, rows), with c·base, the bound of
    each row's scores (Cauchy–Schwarz over the keys its tiles visit), and the rows whose bound nears
    the float maximum (their products could overflow: left to _attend_rows, their queries zeroed)."""
    ftype, d_k = plan.checked.ftype, plan.checked.q.shape[-1]
    assert plan.key_norms2 is not None
    q1t = np.empty((d_k + 1, i1 - i0), dtype=ftype)
    np.multiply(plan.q[h][i0:i1].T, ftype(plan.checked.scale * base), out=q1t[:d_k])
    norms2 = plan.key_norms2[plan.kv_index(h)]
    top = max((norms2[j0:j1].max() for j0, j1, _cells in tiles), default=ftype(0))
    shift = np.sqrt(np.einsum("ji,ji->i", q1t[:d_k], q1t[:d_k])) * np.sqrt(top)
    risky = ~(shift <= np.finfo(ftype).max / 4)  # inf, NaN or near the float maximum
    if risky.any():
        shift[risky] = 0
        q1t[:d_k, risky] = 0
    q1t[d_k] = -shift
    return q1t, shift, risky


def _runs(rows: NDArray[np.intp], gap: int = 8) -> list[tuple[int, int]]:
    """Sorted row indices as ranges [r0, r1), joined across gaps shorter than `gap` (fewer, larger products)."""
    runs: list[tuple[int, int]] = []
    for r in rows.tolist():
        if runs and r - runs[-1][1] < gap:
            runs[-1] = (runs[-1][0], r + 1)
        else:
            runs.append((r, r + 1))
    return runs


def _key_tiles(plan: _Plan, i0: int, i1: int, bk: int) -> list[tuple[int, int, NDArray[np.bool_] | None]]:
    """The key tiles (j0, j1, the rule's cells or None) that queries i0…i1 − 1 may see: with causal,
    keys past i1 − 1 + offset are skipped; with a structured mask, every tile outside its key spans
    or entirely hidden by it (a window W costs T·W, not T·S)."""
    s = plan.checked.k.shape[-2]
    if plan.rule is None:
        last_key = min(s, i1 + plan.offset) if plan.checked.settings.causal else s
        return [(j0, min(j0 + bk, last_key), None) for j0 in range(0, max(last_key, 0), bk)]
    tiles: list[tuple[int, int, NDArray[np.bool_] | None]] = []
    for lo, hi in plan.rule.key_spans(i0, i1):
        for j0 in range(lo, hi, bk):
            j1 = min(j0 + bk, hi)
            cells = plan.rule.cells(i0, i1, j0, j1)
            if cells.any():
                tiles.append((j0, j1, None if cells.all() else cells))
    return tiles


def _run_all(
    items: list[Any], run: Callable[[Any], None], n_threads: int, progress: Callable[[int, int], None] | None
) -> None:
    """Run every work item with single-threaded BLAS: on a thread pool when n_threads > 1, else in
    turn (a tile's products are too small for BLAS threads to pay: on a busy machine they spin)."""
    parallel = n_threads > 1
    limit: Any = _blas_controller().limit(limits=1, user_api="blas")
    done = 0
    with limit, np.errstate(over="ignore", invalid="ignore"):
        if parallel:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=n_threads)
            try:
                for _done in pool.map(run, items):
                    done += 1
                    if progress is not None:
                        progress(done, len(items))
            finally:  # on Ctrl-C, drop the queued work items instead of waiting for them all
                pool.shutdown(wait=False, cancel_futures=True)
        else:
            for item in items:
                run(item)
                done += 1
                if progress is not None:
                    progress(done, len(items))


def _score_overflow(dtype: str, h: tuple[int, ...], row: int) -> None:
    if h:
        message = _("the scaled scores overflow {dtype} (row {row} of slice {slice}); the inputs are too large")
    else:
        message = _("the scaled scores overflow {dtype} (row {row}); the inputs are too large")
    raise NumericError(message.format(dtype=dtype, row=row + 1, slice=list(h)), argument="q/k/v")


def _value_exponents(va: Array, s: int) -> NDArray[np.int32]:
    """Per column of V, the power of two to divide it by so that a sum of S of its values cannot
    overflow (0 for columns that fit; dividing by a power of two is exact)."""
    room = np.finfo(va.dtype).max / (s + 1)
    if not va.size or max(va.max(), -va.min()) <= room:  # nearly always: two fast reductions, no per-column pass
        return np.zeros(va.shape[-1], dtype=np.int32)
    top = np.abs(va).max(axis=tuple(range(va.ndim - 1)))
    with np.errstate(divide="ignore"):
        need = np.ceil(np.log2(np.maximum(top, 1e-300) / room))
    exponents: NDArray[np.int32] = np.maximum(need, 0).astype(np.int32)
    return exponents


def _check_finite(output: Array, dtype: str) -> None:
    """A NumericError naming the first output row that is not finite (a score past the float range,
    where inf − inf is NaN, or a weighted sum that overflowed)."""
    if np.isfinite(output).all():
        return
    cell = tuple(int(i) for i in np.argwhere(~np.isfinite(output))[0][:-1])  # (…, row)
    if len(cell) > 1:
        message = _(
            "the scaled scores or the weighted sum overflow {dtype} (output row {row} of slice {slice}); "
            "the inputs are too large"
        )
    else:
        message = _(
            "the scaled scores or the weighted sum overflow {dtype} (output row {row}); the inputs are too large"
        )
    raise NumericError(message.format(dtype=dtype, row=cell[-1] + 1, slice=list(cell[:-1])), argument="q/k/v")


def _hide_cells(
    plan: _Plan,
    sb: Array,
    h: tuple[int, ...],
    cells: tuple[int, int, int, int],
    causal: bool,
    rule_cells: NDArray[np.bool_] | None,
) -> None:
    """Zero, in place, the cells of the bound path's key-major tile sb (keys j0…j1 − 1 × queries
    i0…i1 − 1) that the causal rule, a boolean mask or a structured one hides. The causal diagonal
    multiplies sb by a 0/1 mask, kept for the tiles that cross it alike (every weight there is finite
    and ≤ 1, so × 0 hides it exactly); a boolean or structured mask, query-major, writes zeros."""
    i0, i1, j0, j1 = cells
    if causal and j1 - 1 > i0 + plan.offset:  # the tile crosses the diagonal
        key = (j1 - j0, i1 - i0, j0 - i0 - plan.offset)
        keep = plan.diagonals.get(key)
        if keep is None:
            seen = np.arange(j0, j1)[:, None] <= np.arange(i0, i1)[None, :] + plan.offset
            if len(plan.diagonals) < DIAGONALS_KEPT:
                keep = plan.diagonals.setdefault(key, seen.astype(sb.dtype))
            else:
                np.multiply(sb, seen, out=sb)
        if keep is not None:
            np.multiply(sb, keep, out=sb)
    for mask in (None if plan.allowed is None else plan.allowed[h][i0:i1, j0:j1], rule_cells):
        if mask is not None:  # (query-major: its complement, then one strided write, is the fastest way)
            np.copyto(sb, sb.dtype.type(0), where=~mask.T)


def _block_hidden(
    h: tuple[int, ...],
    i0: int,
    i1: int,
    j0: int,
    j1: int,
    causal: bool,
    offset: int,
    allowed: NDArray[np.bool_] | None,
) -> NDArray[np.bool_] | None:
    """Cells of this (query block, key block) tile hidden by the causal rule or a boolean mask."""
    hidden: NDArray[np.bool_] | None = None
    if causal and j1 - 1 > i0 + offset:  # the tile crosses the diagonal
        hidden = np.arange(j0, j1)[None, :] > np.arange(i0, i1)[:, None] + offset
    if allowed is not None:
        tile = allowed[h][i0:i1, j0:j1]
        hidden = ~tile if hidden is None else hidden | ~tile
    return hidden


def _gqa_group(q_lead: tuple[int, ...], kv_lead: tuple[int, ...]) -> int:
    """H/G when the last leading dimension is a head axis with fewer K/V heads, else 1."""
    if not q_lead or not kv_lead:
        return 1
    h, g = q_lead[-1], kv_lead[-1]
    if h == g or g == 1:
        return 1
    if h % g:
        message = ngettext(
            "q has {h} head but k/v have {g}; grouped heads need H divisible by G",
            "q has {h} heads but k/v have {g}; grouped heads need H divisible by G",
            h,
        )
        raise ShapeError(message.format(h=h, g=g), argument="k")
    return h // g


def _broadcast_kv(ka: Array, va: Array) -> tuple[Array, Array]:
    try:
        lead = np.broadcast_shapes(ka.shape[:-2], va.shape[:-2])
    except ValueError:
        message = _("leading dimensions do not broadcast: {shapes}")
        raise ShapeError(message.format(shapes=f"k {ka.shape[:-2]}, v {va.shape[:-2]}"), argument="v") from None
    return np.broadcast_to(ka, (*lead, *ka.shape[-2:])), np.broadcast_to(va, (*lead, *va.shape[-2:]))


_controller: Any = None


def _blas_controller() -> Any:
    """threadpoolctl's controller, made once: finding the BLAS libraries costs about a millisecond."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller
