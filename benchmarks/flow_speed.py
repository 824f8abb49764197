"""Attention flow (`attn explain --flow`, attncli.analysis.flow): its maximum flows (igraph's) against
networkx's maximum flow (the test oracle) on the same problems, called from this script (max_flows may
fork); the issue asks for 64 tokens × 12 layers within 10 s.

    .venv/bin/python benchmarks/flow_speed.py

Sizes: MiniLM's own weights on the README's sentence (11 tokens × 6 layers) and on the 20-token
sentence of across_speed.py; the issue's 64 tokens × 12 layers as random row-stochastic weights of
12 heads (peaked, as real heads are), with and without a causal mask, and as real weights: the
encoder multilingual-e5-small (12 layers) and the decoder SmolLM2-135M (causal; 30 layers) on the
first 64 tokens of a text, when those models are installed. From 64 tokens on networkx is timed on
three problems and extrapolated to all of them (it would take hours).
Prints the CPU, the BLAS library and the load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from across_speed import SENTENCE, blas  # this folder's other benchmarks (run as a script: on sys.path)
from explain_speed import machine


def networkx_flows(layers: np.ndarray, pairs: list[tuple[int, int]]) -> list[float]:
    import networkx as nx

    n_layers, t, _ = layers.shape
    graph = nx.DiGraph()
    for layer in range(1, n_layers + 1):
        for u in range(t):
            for v in range(t):
                if layers[layer - 1][u, v] > 0:
                    graph.add_edge((layer, u), (layer - 1, v), capacity=float(layers[layer - 1][u, v]))
    return [nx.maximum_flow_value(graph, (n_layers, i), (0, j)) for i, j in pairs]


LONG_TEXT = " ".join([SENTENCE, "It came from Paris, where she saw the real one from the river on a grey morning,"] * 4)


def model_weights(sentence: str, name: str | None = None, first: int | None = None) -> np.ndarray | None:
    """(L, H, T, T) float64 weights of MiniLM (or the known model `name`; None when it is not installed)
    on the sentence, or on its first `first` tokens."""
    from attncli.models.catalog import KNOWN
    from attncli.models.locate import package_folder
    from attncli.models.registry import load

    folder = package_folder() if name is None else KNOWN[name].path()
    if folder is None:
        return None
    model = load(folder)
    ids = model.tokenizer.encode(sentence, 512).ids[:first]
    assert first is None or len(ids) == first, "the text is too short"
    w = np.stack([w[0] for w in model.forward(ids[None, :]).weights]).astype(np.float64)
    return w / w.sum(axis=-1, keepdims=True)  # float32's rows, summing to 1 again in float64


def random_weights(t: int, layers: int, causal: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.random((layers, 12, t, t)) ** 6 + 1e-9
    if causal:
        w = w * np.tril(np.ones((t, t)))
    return w / w.sum(axis=-1, keepdims=True)


def timed_64(name: str, a: np.ndarray, causal: bool, few: list[tuple[int, int]]) -> None:
    """One row at 64 tokens: attncli on every problem, networkx on three, extrapolated."""
    from attncli.analysis import flow

    t = a.shape[-1]
    start = time.perf_counter()
    flow.max_flows(a, causal=causal)
    mine = time.perf_counter() - start
    start = time.perf_counter()
    networkx_flows(a, few)
    problems = t * (t + 1) // 2 if causal else t * t
    row(name, mine, (time.perf_counter() - start) / len(few) * problems, problems)


def row(name: str, mine: float, nx_time: float | None, problems: int) -> None:
    ratio = f"{nx_time / mine:.1f}×" if nx_time else "—"
    nx_text = f"{nx_time:.2f} s" if nx_time else "—"
    mine_text = f"{mine * 1e3:.0f} ms" if mine < 1 else f"{mine:.2f} s"
    print(f"| {name} | {problems} | {mine_text} | {nx_text} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()

    import igraph  # noqa: F401  (imported once before the clocks start, as `attn explain --flow` pays it once)

    from attncli.analysis import flow
    from attncli.analysis.rollout import mixed

    print(f"Machine: {machine()}; BLAS: {blas() or 'none found'}; load average before: {os.getloadavg()[0]:.2f}")
    print("| weights | problems | attncli | networkx (same problems) | networkx ÷ attncli |")
    print("| --- | --- | --- | --- | --- |")
    for name, w in (("MiniLM, 11 tokens × 6 layers", model_weights("The miniature Eiffel tower is a toy")),
                    ("MiniLM, 20 tokens × 6 layers", model_weights(SENTENCE))):  # fmt: skip
        assert w is not None, "MiniLM is not installed"
        a, t = mixed(w), w.shape[-1]
        start = time.perf_counter()
        flow.max_flows(a)
        mine = time.perf_counter() - start
        start = time.perf_counter()
        networkx_flows(a, [(i, j) for i in range(t) for j in range(t)])
        row(name, mine, time.perf_counter() - start, t * t)
    t, n_layers = 64, 12
    causal_few, few = [(63, 0), (40, 20), (10, 5)], [(0, 0), (17, 40), (63, 5)]
    timed_64("random, 64 tokens × 12 layers, causal", mixed(random_weights(t, n_layers, causal=True)), True, causal_few)
    timed_64("random, 64 tokens × 12 layers", mixed(random_weights(t, n_layers, causal=False)), False, few)
    for name, model, causal in (("multilingual-e5-small, 64 tokens × 12 layers", "multilingual-e5-small", False),
                                ("SmolLM2-135M, 64 tokens × 30 layers, causal", "smollm2-135m", True)):  # fmt: skip
        w = model_weights(LONG_TEXT, model, first=t)
        if w is None:
            print(f"| {name} | (not installed) | | | |")
            continue
        timed_64(name, mixed(w), causal, causal_few if causal else few)
    print(f"load average after: {os.getloadavg()[0]:.2f}; networkx at 64 tokens: extrapolated from 3 problems")


if __name__ == "__main__":
    main()
