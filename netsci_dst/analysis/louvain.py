"""Compiled Louvain modularity maximisation for graphs too large for igraph in seconds.

Louvain [Blondel, Guillaume, Lambiotte & Lefebvre, J. Stat. Mech. 2008]: repeat (1) *local moving*: visit the
nodes in random order and move each to the neighbouring community with the largest modularity gain

    dQ(i -> d) proportional to  k_{i,d} - gamma * Sigma_d * k_i / (2m)

(``k_{i,d}``: weight from ``i`` into ``d``; ``Sigma_d``: total strength of ``d`` without ``i``; ``k_i``: strength of
``i``; ``2m``: total strength), until a pass moves nothing, then (2) *aggregation*: each community becomes one node
(self-loops keep the internal weight), until a level merges nothing. The moving phase is numba-compiled and the
aggregation is a sparse sum, so a 15,104-node layer with 13.5 million links takes seconds where building the igraph
graph alone takes about 20.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from netsci_dst.errors import DstnetError

__all__ = ["louvain", "partition_modularity"]


def partition_modularity(adj: sp.spmatrix, membership: np.ndarray, resolution: float = 1.0) -> float:
    """Newman-Girvan modularity of a partition of an undirected (symmetric) weighted graph.

    ``Q = sum_c [ in_c / (2m) - gamma * (Sigma_c / (2m))^2 ]`` with ``in_c`` the adjacency summed over ordered pairs
    inside ``c`` (self-loops once per direction stored) and ``Sigma_c`` the summed strengths. NaN without links.
    """
    a = sp.csr_matrix(adj, dtype=np.float64)
    memb = np.asarray(membership, dtype=np.int64)
    if memb.shape != (a.shape[0],):
        raise DstnetError(f"{memb.size} labels for {a.shape[0]} nodes")
    two_m = float(a.data.sum())
    if two_m == 0:
        return float("nan")
    inside, strength = _inside_and_strength(a.indptr, a.indices, a.data, memb)  # int32 or int64: no copies
    sigma = np.bincount(memb, weights=strength)
    return inside / two_m - resolution * float(((sigma / two_m) ** 2).sum())


@numba.njit(cache=True)
def _inside_and_strength(
    indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray, memb: np.ndarray
) -> tuple[float, np.ndarray]:  # pragma: no cover - compiled
    n = indptr.size - 1
    strength = np.zeros(n)
    inside = 0.0
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            strength[i] += weights[p]
            if memb[indices[p]] == memb[i]:
                inside += weights[p]
    return inside, strength


@numba.njit(cache=True)
def _local_moving(
    indptr: np.ndarray,
    indices: np.ndarray,
    weights: np.ndarray,
    order: np.ndarray,
    resolution: float,
    max_passes: int,
    tol: float,
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    n = indptr.size - 1
    strength = np.zeros(n)
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            strength[i] += weights[p]
    two_m = strength.sum()
    comm = np.arange(n)
    total = strength.copy()
    link = np.zeros(n)  # weight from the current node into each community
    touched = np.empty(n, dtype=np.int64)
    moves = 0
    for _ in range(max_passes):
        moved = 0
        gained = 0.0  # the pass's modularity gain, in units of 2m / 2
        for i in order:
            ki = strength[i]
            if ki == 0.0:
                continue
            ci = comm[i]
            n_touched = 0
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                if j == i:
                    continue
                d = comm[j]
                if link[d] == 0.0:
                    touched[n_touched] = d
                    n_touched += 1
                link[d] += weights[p]
            total[ci] -= ki
            scale = resolution * ki / two_m
            stay = link[ci] - total[ci] * scale
            best, best_gain = ci, stay
            for t in range(n_touched):
                d = touched[t]
                gain = link[d] - total[d] * scale
                if gain > best_gain + 1e-12:
                    best, best_gain = d, gain
            total[best] += ki
            if best != ci:
                comm[i] = best
                moved += 1
                gained += best_gain - stay
            for t in range(n_touched):
                link[touched[t]] = 0.0
        moves += moved
        if moved == 0 or 2.0 * gained / two_m < tol:
            break
    return comm, moves


def louvain(
    adj: sp.spmatrix, seed: int = 0, resolution: float = 1.0, max_passes: int = 10, tol: float = 1e-6
) -> np.ndarray:
    """Community of every node of an undirected graph (symmetric adjacency), by Louvain with random node order.

    Args:
        adj: symmetric non-negative adjacency (weights allowed).
        seed: seeds the node visiting order of every level.
        resolution: modularity resolution gamma.
        max_passes: local-moving passes per level at most. On a 4096 x 11008 layer at 30% density, 10 passes reach
            Q 0.0146 in 1.4 s against 0.0155 in 5.7 s with 50; on the paper MLP at 1%, 0.160 against 0.164.
        tol: a level's local moving stops after a pass that raised Q by less than this (the moves of near-tied
            nodes back and forth otherwise run to ``max_passes`` on large dense graphs).

    Returns:
        int64 labels ``0..C-1`` (isolated nodes get a community of their own).
    """
    a = sp.csr_matrix(adj, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise DstnetError(f"the adjacency must be square, got {a.shape}")
    a.sum_duplicates()
    rng = np.random.default_rng(seed)
    membership = np.arange(a.shape[0], dtype=np.int64)
    while True:
        n = a.shape[0]
        comm, moves = _local_moving(
            a.indptr,  # scipy's int32 (or int64) arrays as they are: a copy of 27M indices costs 0.2 s per level
            a.indices,
            a.data,
            rng.permutation(n),
            resolution,
            max_passes,
            tol,
        )
        _, comm = np.unique(comm, return_inverse=True)
        membership = comm[membership]
        n_comm = int(comm.max()) + 1 if n else 0
        if moves == 0 or n_comm == n:
            return membership
        agg = sp.csr_matrix((np.ones(n), (comm, np.arange(n))), shape=(n_comm, n))
        a = (agg @ a @ agg.T).tocsr()
