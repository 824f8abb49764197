"""Attention flow (`attn explain --flow`, attncli.analysis.flow): the push–relabel in NumPy against
networkx's maximum flow (the test oracle) on the same problems, in this process; the issue asks for
64 tokens × 12 layers within 10 s.

    .venv/bin/python benchmarks/flow_speed.py

Sizes: MiniLM's own weights on the README's sentence (11 tokens × 6 layers) and on the 20-token
sentence of across_speed.py, then random row-stochastic weights of 64 tokens × 12 layers × 12 heads
(peaked, as real heads are), with and without a causal mask; at 64 × 12 networkx is timed on three
problems and extrapolated to all of them (it would take hours).
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


def model_weights(sentence: str) -> np.ndarray:
    from attncli.models.locate import package_folder
    from attncli.models.registry import load

    folder = package_folder()
    assert folder is not None, "the model package is not installed"
    model = load(folder)
    tokens = model.tokenizer.encode(sentence, 512)
    return np.stack([w[0] for w in model.forward(tokens.ids[None, :]).weights]).astype(np.float64)


def random_weights(t: int, layers: int, causal: bool, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.random((layers, 12, t, t)) ** 6 + 1e-9
    if causal:
        w = w * np.tril(np.ones((t, t)))
    return w / w.sum(axis=-1, keepdims=True)


def row(name: str, mine: float, nx_time: float | None, problems: int) -> None:
    ratio = f"{nx_time / mine:.1f}×" if nx_time else "—"
    nx_text = f"{nx_time:.2f} s" if nx_time else "—"
    print(f"| {name} | {problems} | {mine:.2f} s | {nx_text} | {ratio} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()

    from attncli.analysis import flow
    from attncli.analysis.rollout import mixed

    print(f"Machine: {machine()}; BLAS: {blas() or 'none found'}; load average before: {os.getloadavg()[0]:.2f}")
    print("| weights | problems | attncli | networkx (same problems) | networkx ÷ attncli |")
    print("| --- | --- | --- | --- | --- |")
    for name, w in (("MiniLM, 11 tokens × 6 layers", model_weights("The miniature Eiffel tower is a toy")),
                    ("MiniLM, 20 tokens × 6 layers", model_weights(SENTENCE))):  # fmt: skip
        a, t = mixed(w), w.shape[-1]
        start = time.perf_counter()
        flow.max_flows(a)
        mine = time.perf_counter() - start
        start = time.perf_counter()
        networkx_flows(a, [(i, j) for i in range(t) for j in range(t)])
        row(name, mine, time.perf_counter() - start, t * t)
    t, n_layers = 64, 12
    a = mixed(random_weights(t, n_layers, causal=True))
    start = time.perf_counter()
    flow.max_flows(a, causal=True)
    mine = time.perf_counter() - start
    few = [(63, 0), (40, 20), (10, 5)]
    start = time.perf_counter()
    networkx_flows(a, few)
    nx_each = (time.perf_counter() - start) / len(few)
    row("random, 64 tokens × 12 layers, causal", mine, nx_each * t * (t + 1) / 2, t * (t + 1) // 2)
    a = mixed(random_weights(t, n_layers, causal=False))
    start = time.perf_counter()
    flow.max_flows(a)
    mine = time.perf_counter() - start
    few = [(0, 0), (17, 40), (63, 5)]
    start = time.perf_counter()
    networkx_flows(a, few)
    row("random, 64 tokens × 12 layers", mine, (time.perf_counter() - start) / len(few) * t * t, t * t)
    print(f"load average after: {os.getloadavg()[0]:.2f}; networkx at 64 × 12: extrapolated from 3 problems")


if __name__ == "__main__":
    main()
