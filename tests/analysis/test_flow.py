"""Attention flow against an independent oracle (networkx's maximum flow, test-only) on random
row-stochastic matrices and on the real model's weights, against small cases worked by hand, and
against two facts that need no oracle: rollout routes a feasible flow (so flow ≥ rollout), and no flow
beats the cut around the source (1) or around the sink (its column of Â_1)."""

from __future__ import annotations

import itertools
import os
import sys

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attncli.analysis.flow import attention_flow, max_flows, normalised
from attncli.analysis.rollout import mixed, rollout
from attncli.errors import NumericError, ShapeError
from attncli.models.locate import package_folder
from attncli.models.registry import load


def oracle(layers: np.ndarray) -> np.ndarray:
    """networkx: the layered graph built node by node, one maximum flow per (output, input) pair."""
    n_layers, t, _ = layers.shape
    graph = nx.DiGraph()
    graph.add_nodes_from((layer, u) for layer in range(n_layers + 1) for u in range(t))
    for layer in range(1, n_layers + 1):
        for u in range(t):
            for v in range(t):
                if layers[layer - 1][u, v] > 0:
                    graph.add_edge((layer, u), (layer - 1, v), capacity=float(layers[layer - 1][u, v]))
    return np.array([[nx.maximum_flow_value(graph, (n_layers, i), (0, j)) for j in range(t)] for i in range(t)])


def _weights(seed: int, layers: int, heads: int, t: int, peak: float, causal: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.random((layers, heads, t, t)) ** peak + 1e-9
    if causal:
        w = w * np.tril(np.ones((t, t)))
    return w / w.sum(axis=-1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), layers=st.integers(1, 5), t=st.integers(1, 7),
    peak=st.sampled_from([1.0, 4.0, 20.0]), causal=st.booleans(), residual=st.sampled_from([0.0, 0.5, 0.9]),
)  # fmt: skip
def test_flow_equals_networkx_on_random_row_stochastic_weights(
    seed: int, layers: int, t: int, peak: float, causal: bool, residual: float
) -> None:
    w = _weights(seed, layers, 2, t, peak, causal)
    a = mixed(w, residual)
    got = attention_flow(w, residual, causal=causal)
    assert np.allclose(got, oracle(a), atol=1e-9, rtol=0)
    if causal:
        assert (np.triu(got, 1) == 0).all()  # the mask survives


def test_flow_equals_networkx_on_the_real_models_weights() -> None:
    folder = package_folder()
    assert folder is not None
    model = load(folder)
    tokens = model.tokenizer.encode("The miniature Eiffel tower", 512)
    w = np.stack([x[0] for x in model.forward(tokens.ids[None, :]).weights]).astype(np.float64)
    assert w.shape == (6, 12, 8, 8)
    for causal in (False, True):
        if causal:  # the same weights masked and renormalised: a causal graph of real shape
            w = np.tril(w)
            w = w / w.sum(axis=-1, keepdims=True)
        got = attention_flow(w, causal=causal)
        assert np.allclose(got, oracle(mixed(w)), atol=1e-9, rtol=0)


def test_two_layers_by_hand() -> None:
    # Â_2 (output layer): token 0 splits 0.7 / 0.3; Â_1 (first layer): token 0 → 0 has 0.4, token 1 → 0 has 0.9.
    first = np.array([[0.4, 0.6], [0.9, 0.1]])
    second = np.array([[0.7, 0.3], [0.2, 0.8]])
    got = max_flows(np.stack([first, second]))
    # 0 → 0: via token 0 min(0.7, 0.4) + via token 1 min(0.3, 0.9) = 0.7; 0 → 1: min(0.7, 0.6) + min(0.3, 0.1)
    assert got[0].tolist() == pytest.approx([0.7, 0.7])
    # 1 → 0: min(0.2, 0.4) + min(0.8, 0.9) = 1.0; 1 → 1: min(0.2, 0.6) + min(0.8, 0.1) = 0.3
    assert got[1].tolist() == pytest.approx([1.0, 0.3])
    assert normalised(got)[1].tolist() == pytest.approx([1.0 / 1.3, 0.3 / 1.3])


def test_a_flow_that_needs_cancelling_by_hand() -> None:
    """From output token 0 to input token 1. Layer 3 sends 0.5 to each of tokens 0 and 1; in layer 2, token 0
    may go to 0 or 2 (0.5 each), token 1 only to 0 (1.0); in layer 1, tokens 0 and 2 lead to input 1 (0.5, 1.0).
    Token 1 has one way on (through token 0 of layer 1, which passes 0.5), so token 0 must take the other
    (through token 2): 1 in all. Pushing in token order first sends token 0's share through token 0 and has
    to take it back over the reverse edge."""
    third = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    second = np.array([[0.5, 0.0, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    first = np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    layers = np.stack([first, second, third])
    assert max_flows(layers)[0, 1] == pytest.approx(1.0)
    assert oracle(layers)[0, 1] == pytest.approx(1.0)


def test_one_layer_and_one_token() -> None:
    a = np.array([[[0.25, 0.75], [1.0, 0.0]]])
    assert max_flows(a).tolist() == a[0].tolist()  # one layer: the edge itself
    chain = np.full((4, 1, 1), 1.0)
    chain[2] = 0.5
    assert max_flows(chain).tolist() == [[0.5]]  # a chain: its narrowest edge


@pytest.mark.parametrize("causal", [False, True])
def test_flow_is_at_least_rollout_and_at_most_the_cuts_at_both_ends(causal: bool) -> None:
    w = _weights(7, 6, 4, 12, 6.0, causal)
    a = mixed(w)
    got = attention_flow(w, causal=causal)
    assert (got >= rollout(w) - 1e-12).all()  # rollout's proportional routing is one feasible flow
    assert (got <= 1 + 1e-12).all() and (got <= a[0].sum(axis=0)[None, :] + 1e-12).all()
    assert np.allclose(normalised(got).sum(axis=1), 1.0)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), layers=st.integers(2, 4), t=st.integers(2, 6), causal=st.booleans(),
    zeros=st.sampled_from([0.0, 0.5]),
)  # fmt: skip
def test_any_capacities_equal_networkx(seed: int, layers: int, t: int, causal: bool, zeros: float) -> None:
    # Rows and columns that sum to anything, and (zeros) about half the edges missing: a graph with dead ends.
    rng = np.random.default_rng(seed)
    a = rng.random((layers, t, t)) * 2 * (rng.random((layers, t, t)) >= zeros)
    if causal:
        a = np.tril(a)
    assert np.allclose(max_flows(a, causal=causal), oracle(a), atol=1e-9, rtol=0)


def test_causal_problems_ending_at_j_are_solved_on_the_tokens_from_j(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.analysis import flow

    a = mixed(_weights(5, 3, 2, 6, 4.0, causal=True))
    sizes: list[int] = []
    graph = flow._graph
    monkeypatch.setattr(flow, "_graph", lambda c: sizes.append(c.shape[-1]) or graph(c))
    progress: list[tuple[int, int]] = []
    got = max_flows(a, causal=True, progress=lambda done, total: progress.append((done, total)))
    assert np.allclose(got, oracle(a), atol=1e-9, rtol=0)
    assert sizes == [6, 5, 4, 3, 2, 1]  # a graph for each input token j, of the tokens j…
    assert progress[-1] == (21, 21) and [d for d, _ in progress] == [6, 11, 15, 18, 20, 21]
    sizes.clear()
    max_flows(a)
    assert sizes == [6]  # without a mask: one graph for all 36 problems


@pytest.mark.parametrize(
    ("layers", "error"),
    [
        (np.zeros((0, 3, 3)), ShapeError),  # no layer
        (np.zeros((2, 3, 4)), ShapeError),  # not square
        (np.zeros((3, 3)), ShapeError),  # no layer axis
        (np.where(np.eye(3, dtype=bool), np.nan, 0.5)[None].repeat(2, 0), NumericError),  # NaN would be dropped
        (np.full((2, 3, 3), -0.1), NumericError),
        (np.full((1, 2, 2), np.inf), NumericError),  # one layer too, where the edge is the answer
    ],
)
def test_capacities_that_are_no_graph_are_refused(layers: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        max_flows(layers)
    assert info.value.argument == "layers"


@pytest.mark.parametrize("causal", [False, True])
def test_columns_shared_among_processes_give_the_same_flows(causal: bool) -> None:
    a = mixed(_weights(11, 3, 2, 20, 4.0, causal))  # 20 tokens: more columns than a process's share
    progress: list[tuple[int, int]] = []
    got = max_flows(a, causal=causal, workers=2, progress=lambda done, total: progress.append((done, total)))
    assert np.array_equal(got, max_flows(a, causal=causal, workers=1))  # the same calls, in other processes
    assert np.allclose(got, oracle(a), atol=1e-9, rtol=0)
    total = 210 if causal else 400
    assert len(progress) == 16 and progress[-1] == (total, total)  # one report per group of columns
    assert all(d1 < d2 for (d1, _), (d2, _) in itertools.pairwise(progress))


def test_large_problems_go_to_every_core_on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.analysis import flow

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    big = flow.PARALLEL_FROM
    assert flow._workers(None, big, 16) == 3 and flow._workers(None, big - 1, 16) == 1
    assert flow._workers(1, 10**12, 16) == 1 and flow._workers(2, 1, 16) == 2  # as asked
    assert flow._workers(None, big, 2) == 2 and flow._workers(8, 1, 5) == 5  # at most a process per group
    monkeypatch.setattr(sys, "platform", "darwin")  # fork is not safe there, even when asked for
    assert flow._workers(None, 10**12, 16) == 1 and flow._workers(4, 1, 16) == 1


def test_an_error_in_a_worker_process_is_raised_by_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.analysis import flow

    a = mixed(_weights(2, 2, 2, 6, 4.0, False))

    def fails(self: object, js: list[int]) -> None:
        raise ValueError(f"no flows for {js}")

    monkeypatch.setattr(flow._Problem, "columns", fails)  # the forked processes inherit it
    with pytest.raises(ValueError, match="no flows for"):
        max_flows(a, workers=2)


def test_a_worker_process_that_dies_is_an_error_not_a_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    from attncli.analysis import flow

    a = mixed(_weights(2, 2, 2, 6, 4.0, False))
    monkeypatch.setattr(flow._Problem, "columns", lambda self, js: os._exit(3))
    with pytest.raises(RuntimeError, match=r"ended early \(exit code 3\)"):
        max_flows(a, workers=2)
