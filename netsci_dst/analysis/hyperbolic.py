"""Coalescent embedding of the whole layer stack in the hyperbolic disk, and the angular separation index (ASI).

Coalescent embedding [CE: Muscoloni, Thomas, Ciucci, Bianconi & Cannistraci, "Machine learning meets complex
networks via coalescent embedding in the hyperbolic space", Nat. Commun. 8, 1615 (2017); reference MATLAB code
``biomedical-cybernetics/coalescent_embedding``], in 2-D, on the largest connected component ``C`` (``N = |C|``
nodes) of the undirected stack graph:

1. Repulsion-attraction pre-weighting of every link ``(i, j)``, with degrees ``d`` and common neighbours ``CN``:

       RA1:  x_ij = (d_i + d_j + d_i d_j) / (1 + CN_ij)
       RA2:  x_ij = (1 + e_i + e_j + e_i e_j) / (1 + CN_ij),   e_i = d_i - CN_ij - 1 (external degree)

   The stack graph is bipartite (links join consecutive neuron layers), so ``CN_ij = 0`` on every link and
   RA1 reduces to ``(1 + d_i)(1 + d_j) - 1``.
2. Nonlinear dimension reduction:

   * ``ncISO`` (non-centred Isomap): kernel ``K = D``, the shortest-path distances on the ``x``-weighted graph
     (not squared, not double-centred); ``K = V S V^T`` by SVD; node coordinates ``V[:, :3] sqrt(S[:3])``. The
     first (Perron) dimension carries no angle; the angular coordinate is ``atan2(dim3, dim2)``.
   * ``LE`` (Laplacian eigenmaps): heat kernel ``W_ij = exp(-(x_ij / s)^2)`` on the links, ``s`` the mean link
     weight; generalised eigenproblem ``L f = lambda D f`` (``L = D - W``, ``D = diag(W 1)``); the angle is
     ``atan2(f_3, f_2)`` from the eigenvectors of the 2nd and 3rd smallest eigenvalues.
3. Equidistant angular adjustment (EA): nodes sorted by angle (stable) get ``theta = 2 pi k / N``, ``k = 0..N-1``.
4. Radial coordinate from the degree rank ``i = 1..N`` (descending degree, stable):
   ``r_i = max(0, 2 beta ln i + 2 (1 - beta) ln N)``, ``beta = 1 / (gamma - 1)``, gamma the power-law exponent of the
   degree distribution of ``C`` fitted as the reference code does (Clauset-Shalizi-Newman ``plfit``: discrete
   maximum likelihood on the grid 1.01:0.01:10 with the KS-optimal ``xmin``, finite-size correction below 100
   nodes, continuous estimator when every degree exceeds 1000), then clipped to [1.01, 10] (10 = "not a power
   law", ``beta = 1/9``, almost equal radii).

Scale. Exact ncISO stores the ``N x N`` distance matrix in float32 (the paper's MLP, 784-1568-1568-1568, has 5488
nodes: 120 MB; about 3 s of compiled Dijkstra from every node on 2 cores, :mod:`.shortest_paths`) and extracts the
top three singular vectors with ARPACK. Beyond ``dense_limit`` nodes (default 6000), or ``EXACT_WORK`` edge
relaxations (1e10, dense stacks), landmark ncISO is used: ``L`` random landmarks (default 100), Dijkstra from the
landmarks only (``L x N``), and the Nystrom extension of the landmark kernel ``K_LL = U Lambda U^T``: ``coords_k =
C^T U_k sign(lambda_k) / sqrt(|lambda_k|)`` with ``C`` the landmark-to-node distances, which reproduces the exact
coordinates on the landmarks [Williams & Seeger, NIPS 2001; de Silva & Tenenbaum, NIPS 2003]. A 4096 x 11008 layer
at 30% density (15104 nodes, 13.5M links) embeds in about 9 s this way. Caveat: the Nystrom estimate inflates the
random "bulk" of the kernel spectrum by about ``sqrt(N / L)``, so a 2nd/3rd dimension that stands only a little
above the bulk (typical of random-like sparse networks) can be replaced by noise; networks with a real geometry (a
ring, separated layers) embed the same as with the exact kernel, but ASI values of random-like networks computed
with landmarks and exactly are not interchangeable (compare like with like, e.g. :func:`asi_baseline` with the same
``landmarks``). LE needs no landmarks (sparse eigensolver).

Nodes outside ``C`` (isolated neurons, small components) are not embedded: their ``theta`` and ``r`` are NaN.

Angular separation index [ASI: Cacciola, Muscoloni, Narula, Calcagnile & Cannistraci, "Coalescent embedding in the
hyperbolic space unsupervisedly discloses the hidden geometry of the brain", arXiv:1705.04192 (2017); formula
"score_w2" of its Suppl. Algorithm 1, as in the authors' ``compute_angular_separation.m``]: walking around the
circle, the *mistakes* of group ``k`` (``N_k`` members) are the samples of other groups lying between its extremes,
where the extremes are the two consecutive members separated by the largest gap:

    mistakes_k = (N - N_k) - max circular gap of group k     (groups with N_k = 1 are skipped)
    ASI = max(0, 1 - sum_k mistakes_k / sum_k worst_k)

``worst`` is the mistakes vector of the worst of ``n_perm`` random permutations of the angular coordinates (the
one with the largest total). ASI is 1 when every group occupies its own sector and tends to 0 for a worst-case
mixing; note that random permutations mix the groups almost as badly as possible, so an *uninformative*
embedding scores near 0, while random layered graphs score higher because their layers still form bands in the
embedding (the CHT paper reports about 0.63 for SET/random networks vs 1 for ESML).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, eigsh
from scipy.special import zeta

from netsci_dst.analysis.community import rewire_stack
from netsci_dst.analysis.paths import largest_component, stack_adjacency
from netsci_dst.analysis.shortest_paths import dijkstra_rows
from netsci_dst.errors import DstnetError
from netsci_dst.graph import as_stack
from netsci_dst.seeds import check_seed

__all__ = [
    "METHODS",
    "PRE_WEIGHTINGS",
    "ra_weights",
    "fit_degree_exponent",
    "radial_coordinates",
    "equidistant_adjustment",
    "ncISO_angles",
    "le_angles",
    "coalescent_embedding",
    "angular_separation",
    "angular_separation_index",
    "asi_baseline",
]

METHODS = ("ncISO", "LE")
PRE_WEIGHTINGS = ("RA1", "RA2")
GAMMA_MIN, GAMMA_MAX = 1.01, 10.0
DENSE_LIMIT = 6000
DEFAULT_LANDMARKS = 100
# The exact kernel also needs N x nnz edge relaxations at most (all-pairs Dijkstra; about 30 s on 2 cores).
EXACT_WORK = 1e10


# --------------------------------------------------------------------------------------------------- pre-weighting
def ra_weights(adj: sp.spmatrix, rule: str = "RA1", bipartite: bool = False) -> sp.csr_matrix:
    """Repulsion-attraction link weights (see the module docstring) on a symmetric 0/1 adjacency.

    ``bipartite=True`` skips the common-neighbour count (it is 0 on every link of a bipartite graph).
    """
    if rule not in PRE_WEIGHTINGS:
        raise DstnetError(f"pre-weighting must be one of {PRE_WEIGHTINGS}, got {rule!r}")
    a = sp.csr_matrix(adj)
    if a.nnz and not a.data.all():  # explicit zeros are not links
        a = a.copy()
        a.eliminate_zeros()
    a.sort_indices()
    counts = np.diff(a.indptr)
    deg = counts.astype(np.float64)
    if bipartite:  # CN = 0: RA1 = (1 + d_i)(1 + d_j) - 1, RA2 = d_i d_j; built without any per-link index array
        if rule == "RA1":
            w = np.repeat(deg + 1.0, counts)
            w *= (deg + 1.0)[a.indices]
            w -= 1.0
        else:
            w = np.repeat(deg, counts)
            w *= deg[a.indices]
    else:  # (A^2 o A) + A has exactly A's pattern, with CN + 1 on every link
        ones = sp.csr_matrix((np.ones(a.nnz), a.indices, a.indptr), shape=a.shape)
        cn_plus_1 = ((ones @ ones).multiply(ones) + ones).tocsr()
        cn_plus_1.sort_indices()
        cn = cn_plus_1.data - 1.0
        di, dj = np.repeat(deg, counts), deg[a.indices]
        if rule == "RA1":
            w = (di + dj + di * dj) / (1.0 + cn)
        else:
            ei, ej = di - cn - 1.0, dj - cn - 1.0
            w = (1.0 + ei + ej + ei * ej) / (1.0 + cn)
    out = sp.csr_matrix((w, a.indices, a.indptr), shape=a.shape)
    out.has_sorted_indices = True
    return out


# --------------------------------------------------------------------------------------------------- radial
def fit_degree_exponent(
    degrees: Any, gamma_min: float = GAMMA_MIN, gamma_max: float = GAMMA_MAX, step: float = 0.01
) -> dict[str, Any]:
    """Power-law exponent of a degree sequence as the coalescent-embedding reference code fits it (``plfit``).

    Discrete data: for every candidate ``xmin`` (distinct values but the largest), gamma maximises the discrete
    log-likelihood ``-gamma sum ln x - n ln zeta(gamma, xmin)`` over the grid ``gamma_min:step:gamma_max``; the
    ``xmin`` with the smallest Kolmogorov-Smirnov distance wins. Fewer than 100 values: finite-size correction
    ``gamma (n - 1) / n + 1 / n``. Every value above 1000 (and more than 100 values): the continuous estimator
    ``1 + n / sum ln(x / xmin)``. The result is clipped to ``[gamma_min, gamma_max]``.

    Returns ``{"gamma", "xmin", "ks", "n_tail", "method"}``; a sequence with fewer than two distinct positive
    values gives ``gamma = gamma_max`` and ``method = "constant"``.
    """
    x = np.asarray(degrees, dtype=np.float64).ravel()
    x = np.sort(x[x > 0])
    xmins = np.unique(x)[:-1]
    if xmins.size == 0:
        xmin0 = float(x[0]) if x.size else None
        return {"gamma": float(gamma_max), "xmin": xmin0, "ks": None, "n_tail": int(x.size), "method": "constant"}
    n_all = x.size
    if x[0] > 1000 and n_all > 100:
        # continuous: per xmin, MLE alpha and KS distance of the tail
        best = (np.inf, 0.0, 0.0, 0)
        for xmin in xmins:
            z = x[np.searchsorted(x, xmin) :]
            n = z.size
            s = np.log(z / xmin).sum()
            a = n / s
            ks = float(np.max(np.abs((1.0 - (xmin / z) ** a) - np.arange(n) / n)))
            if ks < best[0]:
                best = (ks, float(xmin), 1.0 + n / s, n)
        ks, xmin, gamma, n_tail = best
        method = "continuous"
    else:
        vec = np.arange(round((gamma_max - gamma_min) / step) + 1) * step + gamma_min
        start = np.searchsorted(x, xmins)
        n = n_all - start
        slogz = np.cumsum(np.log(x)[::-1])[::-1][start]  # sum of ln z over each tail
        loglik = -vec[None, :] * slogz[:, None] - n[:, None] * np.log(zeta(vec[None, :], xmins[:, None]))
        alpha = vec[np.argmax(loglik, axis=1)]
        xmax = int(x[-1])
        ks_all = np.empty(xmins.size)
        for t, (xmin, a) in enumerate(zip(xmins.astype(np.int64), alpha, strict=True)):
            support = np.arange(xmin, xmax + 1, dtype=np.float64)
            fit = np.cumsum(support**-a) / zeta(a, xmin)
            cdi = np.cumsum(np.bincount(x[start[t] :].astype(np.int64) - xmin, minlength=support.size)) / n[t]
            ks_all[t] = np.max(np.abs(fit - cdi))
        t = int(np.argmin(ks_all))
        ks, xmin, gamma, n_tail = float(ks_all[t]), float(xmins[t]), float(alpha[t]), int(n[t])
        method = "discrete"
    if n_all < 100:
        gamma = gamma * (n_tail - 1) / n_tail + 1.0 / n_tail
    gamma = float(np.clip(gamma, gamma_min, gamma_max))
    return {"gamma": gamma, "xmin": xmin, "ks": ks, "n_tail": int(n_tail), "method": method}


def radial_coordinates(degrees: Any, gamma: float) -> np.ndarray:
    """``r_i = max(0, 2 beta ln i + 2 (1 - beta) ln N)``, ``beta = 1 / (gamma - 1)``, ``i`` the rank by descending
    degree (1 for the hub; ties keep node order)."""
    d = np.asarray(degrees, dtype=np.float64)
    n = d.size
    beta = 1.0 / (float(gamma) - 1.0)
    rank = np.empty(n, dtype=np.float64)
    rank[np.argsort(-d, kind="stable")] = np.arange(1, n + 1)
    return np.maximum(0.0, 2.0 * beta * np.log(rank) + 2.0 * (1.0 - beta) * np.log(n))


# --------------------------------------------------------------------------------------------------- angular
def equidistant_adjustment(angles: Any) -> np.ndarray:
    """Angles replaced by ``2 pi k / N`` following their sorted (stable) order."""
    a = np.asarray(angles, dtype=np.float64)
    out = np.empty(a.size)
    out[np.argsort(a, kind="stable")] = 2.0 * np.pi * np.arange(a.size) / a.size
    return out


def _to_angle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.mod(np.arctan2(y, x) + 2.0 * np.pi, 2.0 * np.pi)


def _top_abs_eigs(mat: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` eigenpairs of a small dense symmetric matrix with the largest ``|eigenvalue|``, in that order.

    LAPACK's selective driver (``evx``) on both ends of the spectrum: far faster than a full ``eigh`` here.
    """
    n = mat.shape[0]
    if n <= 2 * k:
        lam, vec = scipy.linalg.eigh(mat)
    else:
        lo = scipy.linalg.eigh(mat, subset_by_index=[0, k - 1], driver="evx")
        hi = scipy.linalg.eigh(mat, subset_by_index=[n - k, n - 1], driver="evx")
        lam, vec = np.concatenate([lo[0], hi[0]]), np.hstack([lo[1], hi[1]])
    order = np.argsort(-np.abs(lam), kind="stable")[:k]
    return lam[order], vec[:, order]


def _v0(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=n)


def ncISO_angles(  # noqa: N802 (the method's name)
    weights: sp.csr_matrix, landmarks: int | None = None, seed: int = 0
) -> np.ndarray:
    """Raw (not yet equidistant) ncISO angles of a connected weighted graph (see the module docstring).

    ``landmarks=None`` computes the exact dense kernel (float32); an int uses that many random landmarks (Nystrom);
    ``landmarks >= N`` is exact too.
    """
    n = weights.shape[0]
    if landmarks is None or landmarks >= n:
        dist = dijkstra_rows(weights, dtype=np.float32)
        # the kernel is symmetric: its singular vectors are its eigenvectors, its singular values |eigenvalues|
        if n <= 500:
            lam, vec = _top_abs_eigs(dist.astype(np.float64))
        else:
            op = LinearOperator(
                (n, n), matvec=lambda v: dist @ np.asarray(v, dtype=np.float32).ravel(), dtype=np.float32
            )
            lam, vec = eigsh(op, k=3, which="LM", v0=_v0(n, seed), tol=1e-6)
            order = np.argsort(-np.abs(lam))
            lam, vec = lam[order], vec[:, order]
        coords = vec * np.sqrt(np.abs(lam))
    else:
        if landmarks < 3:
            raise DstnetError(f"landmark ncISO needs at least 3 landmarks, got {landmarks}")
        rng = np.random.default_rng(seed)
        lm = np.sort(rng.choice(n, size=int(landmarks), replace=False))
        c = dijkstra_rows(weights, lm, dtype=np.float64)  # (L, N)
        k_ll = c[:, lm]
        k_ll = np.maximum(k_ll, k_ll.T)
        lam, u = _top_abs_eigs(k_ll)
        scale = np.sqrt(np.maximum(np.abs(lam), np.finfo(np.float64).tiny))  # a rank-deficient K_LL gives 0s
        coords = (c.T @ u) * (np.where(lam < 0, -1.0, 1.0) / scale)
    return _to_angle(coords[:, 1], coords[:, 2])


def le_angles(weights: sp.csr_matrix, seed: int = 0) -> np.ndarray:
    """Raw (not yet equidistant) Laplacian-eigenmaps angles of a connected weighted graph.

    Heat kernel ``W = exp(-(x / mean(x))^2)`` on the links; the generalised eigenvectors ``f`` of ``L f = lambda D f``
    come from the symmetric ``S = D^-1/2 W D^-1/2`` (``S u = (1 - lambda) u``, ``f = D^-1/2 u``), whose three largest
    eigenvalues are the three smallest ``lambda``.
    """
    n = weights.shape[0]
    h = weights.tocsr(copy=True)
    h.data = np.exp(-((h.data / h.data.mean()) ** 2))
    dinv = 1.0 / np.sqrt(np.asarray(h.sum(axis=1)).ravel())
    s = sp.diags(dinv) @ h @ sp.diags(dinv)
    if n <= 500:
        mu, u = scipy.linalg.eigh(s.toarray(), subset_by_index=[n - 3, n - 1], driver="evx")
    else:
        mu, u = eigsh(s, k=3, which="LA", v0=_v0(n, seed), tol=1e-6)
    order = np.argsort(-mu)
    f = u[:, order] * dinv[:, None]
    return _to_angle(f[:, 1], f[:, 2])


# --------------------------------------------------------------------------------------------------- embedding
def coalescent_embedding(
    stack: Any,
    method: str = "ncISO",
    seed: int = 0,
    landmarks: int | None = None,
    pre_weighting: str = "RA1",
    dense_limit: int = DENSE_LIMIT,
    asi: bool = True,
) -> dict[str, Any]:
    """2-D coalescent embedding of the whole stack graph (RA pre-weighting, ncISO or LE, EA, degree-rank radii).

    Args:
        stack: a :class:`LayerStack`, a list of masks or one mask.
        method: ``"ncISO"`` or ``"LE"``.
        seed: seeds the eigensolver start vector and the landmark choice.
        landmarks: ncISO only. ``None`` = exact when the component has at most ``dense_limit`` nodes and the
            all-pairs Dijkstra at most :data:`EXACT_WORK` edge relaxations (``N x nnz``; the paper MLP at 1% needs
            6.7e8, at 10% 6.7e9), else 100 landmarks; an int forces that many landmarks (exact when it reaches ``N``).
        pre_weighting: ``"RA1"`` (default, as the paper) or ``"RA2"``.
        dense_limit: the largest component size embedded with the exact dense ncISO kernel.
        asi: also compute the angular separation index of the neuron layers (``asi`` key, 1000 permutations).

    Returns:
        ``theta`` and ``r`` (one float per node in :mod:`netsci_dst.graph` node order, NaN for nodes outside the
        largest component), ``layer`` (neuron layer of every node), ``gamma``, ``beta``, ``xmin`` (of the degree
        fit), ``method``, ``pre_weighting``, ``landmarks`` (0 for the exact kernel), ``n_nodes``, ``n_embedded``,
        ``component_fraction`` and, with ``asi=True``, ``asi`` (NaN when fewer than two layers are embedded).
    """
    seed = check_seed(seed)
    if method not in METHODS:
        raise DstnetError(f"method must be one of {METHODS}, got {method!r}")
    if landmarks is not None and (isinstance(landmarks, bool) or not isinstance(landmarks, (int, np.integer))):
        raise DstnetError(f"landmarks must be None or an integer, got {landmarks!r}")
    adj, layer = stack_adjacency(stack)
    n_nodes = adj.shape[0]
    comp = largest_component(adj)
    n = int(comp.size)
    if n < 4:
        raise DstnetError(
            f"the largest connected component has {n} node{'' if n == 1 else 's'}: too small to embed (needs 4)"
        )
    sub = adj if n == n_nodes else adj[comp][:, comp].tocsr()
    deg = np.diff(sub.indptr)
    weights = ra_weights(sub, pre_weighting, bipartite=True)
    n_lm = 0
    if method == "ncISO":
        if landmarks is None and (n > dense_limit or float(n) * sub.nnz > EXACT_WORK):
            landmarks = DEFAULT_LANDMARKS
        n_lm = 0 if landmarks is None or landmarks >= n else int(landmarks)
        raw = ncISO_angles(weights, n_lm or None, seed=seed)
    else:
        raw = le_angles(weights, seed=seed)
    del weights
    theta_c = equidistant_adjustment(raw)
    fit = fit_degree_exponent(deg)
    gamma = fit["gamma"]
    r_c = radial_coordinates(deg, gamma)
    theta = np.full(n_nodes, np.nan)
    r = np.full(n_nodes, np.nan)
    theta[comp], r[comp] = theta_c, r_c
    out: dict[str, Any] = {
        "theta": theta.tolist(),
        "r": r.tolist(),
        "layer": layer.tolist(),
        "gamma": float(gamma),
        "beta": 1.0 / (float(gamma) - 1.0),
        "xmin": fit["xmin"],
        "method": method,
        "pre_weighting": pre_weighting,
        "landmarks": n_lm,
        "n_nodes": int(n_nodes),
        "n_embedded": n,
        "component_fraction": n / n_nodes,
    }
    if asi:
        labels = layer[comp]
        out["asi"] = (
            angular_separation_index(theta_c, labels, seed=seed) if 1 < np.unique(labels).size < n else float("nan")
        )
    return out


# --------------------------------------------------------------------------------------------------- ASI
@numba.njit(cache=True, nogil=True)
def _mistakes_rows(seq: np.ndarray, counts: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    n_groups = counts.size
    first = np.empty(n_groups, np.int64)
    last = np.empty(n_groups, np.int64)
    gap = np.empty(n_groups, np.int64)
    for row in range(seq.shape[0]):
        first[:] = -1
        gap[:] = 0
        for i in range(seq.shape[1]):
            k = seq[row, i]
            if first[k] < 0:
                first[k] = i
            elif i - last[k] - 1 > gap[k]:
                gap[k] = i - last[k] - 1
            last[k] = i
        n = seq.shape[1]
        for k in range(n_groups):
            if counts[k] < 2:
                out[row, k] = np.nan
            else:
                wrap = n - last[k] + first[k] - 1
                out[row, k] = (n - counts[k]) - max(gap[k], wrap)


def _mistakes(seq: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mistakes per group for each row of ``seq`` (group codes in angular order), shape (rows, groups): the other
    groups' samples between the group's extremes, i.e. ``(N - N_k)`` minus the largest circular gap (NaN when
    ``N_k < 2``)."""
    seq = np.ascontiguousarray(seq)
    out = np.empty((seq.shape[0], counts.size))
    _mistakes_rows(seq, np.asarray(counts, dtype=np.int64), out)
    return out


def angular_separation(theta: Any, labels: Any, n_perm: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Angular separation index of groups on the circle, with per-group indices and a permutation p-value.

    Args:
        theta: angular coordinates (radians); NaN entries (nodes not embedded) are dropped with their labels.
        labels: group of each entry (any hashable values, e.g. the neuron layer).
        n_perm: random permutations of the coordinates; the worst one (most mistakes) normalises the index.
        seed: seeds the permutations.

    Returns:
        ``{"index", "group_index": {str(label): value or NaN}, "pvalue", "n_perm", "n"}`` (formula in the module
        docstring); ``pvalue = (#{permutations with index >= observed} + 1) / (n_perm + 1)``.
    """
    seed = check_seed(seed)
    th = np.asarray(theta, dtype=np.float64).ravel()
    lab = np.asarray(labels).ravel()
    if th.size != lab.size:
        raise DstnetError(f"{th.size} angles but {lab.size} labels")
    keep = np.isfinite(th)
    th, lab = th[keep], lab[keep]
    n = th.size
    if n < 4:
        raise DstnetError(f"the angular separation index needs at least 4 embedded nodes, got {n}")
    if isinstance(n_perm, bool) or not isinstance(n_perm, (int, np.integer)) or n_perm < 1:
        raise DstnetError(f"n_perm must be a positive integer, got {n_perm!r}")
    uniq, codes = np.unique(lab, return_inverse=True)
    if not 1 < uniq.size < n:
        raise DstnetError(f"need between 2 and {n - 1} groups, got {uniq.size}")
    counts = np.bincount(codes)
    seq = codes[np.argsort(th, kind="stable")].astype(np.int32)
    observed = _mistakes(seq[None, :], counts)[0]
    rng = np.random.default_rng(seed)
    rand = np.empty((int(n_perm), counts.size))
    chunk = max(1, min(int(n_perm), 2_000_000 // n))
    for a in range(0, int(n_perm), chunk):
        b = min(a + chunk, int(n_perm))
        rand[a:b] = _mistakes(rng.permuted(np.tile(seq, (b - a, 1)), axis=1), counts)
    totals = np.nansum(rand, axis=1)
    worst = rand[int(np.argmax(totals))]
    denom = np.nansum(worst)
    with np.errstate(divide="ignore", invalid="ignore"):
        index = max(0.0, 1.0 - float(np.nansum(observed)) / denom) if denom > 0 else float("nan")
        group = 1.0 - observed / worst
        index_rand = 1.0 - totals / denom if denom > 0 else np.full(totals.size, np.nan)
    pvalue = float((np.sum(index_rand >= index) + 1) / (int(n_perm) + 1))
    return {
        "index": float(index),
        "group_index": {str(u.item() if hasattr(u, "item") else u): float(g) for u, g in zip(uniq, group, strict=True)},
        "pvalue": pvalue,
        "n_perm": int(n_perm),
        "n": int(n),
    }


def angular_separation_index(theta: Any, labels: Any, n_perm: int = 1000, seed: int = 0) -> float:
    """The overall ASI in [0, 1] of :func:`angular_separation`: 1 when the groups occupy disjoint sectors."""
    return angular_separation(theta, labels, n_perm=n_perm, seed=seed)["index"]


def asi_baseline(
    stack: Any,
    seed: int = 0,
    n_random: int = 5,
    method: str = "ncISO",
    landmarks: int | None = None,
    n_perm: int = 1000,
) -> dict[str, Any]:
    """ASI of the neuron layers on degree-preserving layered randomisations of the stack (the random reference).

    Each randomisation is :func:`netsci_dst.analysis.community.rewire_stack` (Curveball per layer: every neuron keeps
    its degree in every layer), embedded with :func:`coalescent_embedding` like the original.

    Returns ``{"mean", "std", "values", "n_random", "method"}``.
    """
    seed = check_seed(seed)
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 1:
        raise DstnetError(f"n_random must be a positive integer, got {n_random!r}")
    st = as_stack(stack)
    values: list[float] = []
    for k, ss in enumerate(np.random.SeedSequence(int(seed)).spawn(int(n_random))):
        rewired = rewire_stack(st, np.random.default_rng(ss))
        emb = coalescent_embedding(rewired, method=method, seed=int(seed) + k, landmarks=landmarks, asi=False)
        labels = np.asarray(emb["layer"])
        values.append(angular_separation_index(emb["theta"], labels, n_perm=n_perm, seed=int(seed) + k))
    return {
        "mean": float(np.mean(values)),
        "std": float(np.std(values)),
        "values": values,
        "n_random": int(n_random),
        "method": method,
    }
