"""The data model: layer masks, layer stacks, conversions and file formats.

A **layer mask** is a boolean array of shape ``(n_out, n_in)``, laid out like ``torch.nn.Linear.weight``:
``mask[j, i]`` is True when input neuron ``i`` links to output neuron ``j``. Its topology is the bipartite graph
between the ``n_in`` input neurons and the ``n_out`` output neurons.

A **layer stack** is an ordered list of named masks. When consecutive masks fit (``masks[l + 1].shape[1] ==
masks[l].shape[0]``) the stack is a *chain*: the outputs of layer ``l`` are the inputs of layer ``l + 1``, as in an
MLP, and the whole network is a layered ("sandwich") graph over the neuron layers ``sizes = [n_in0, n_out0, n_out1,
...]``. Stacks that are not chains (for example the q/k/v/o projections of a Transformer) are still valid stacks;
operations that need a chain check :attr:`LayerStack.is_chain`.

Every conversion to a graph view goes through this module, so orientation is decided in one place:

* node ids in networkx/igraph are integers; neuron ``p`` of neuron layer ``g`` has id ``offset[g] + p`` with
  ``offset`` the cumulative neuron-layer sizes; nodes carry ``layer`` (``g``), ``index`` (``p``) and ``bipartite``
  (``g % 2``) attributes;
* links go from the input side to the output side.

File formats: ``.npz`` (native: a whole stack with names and metadata, links stored as sparse indices),
edge lists (``.edges``/``.txt``/``.tsv``/``.csv``), and GraphML (``.graphml``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import temp_path

__all__ = [
    "LayerStack",
    "as_mask",
    "as_stack",
    "neuron_layers",
    "density",
    "mask_to_scipy",
    "mask_from_scipy",
    "to_networkx",
    "from_networkx",
    "to_igraph",
    "from_igraph",
    "save",
    "load",
    "save_npz",
    "load_npz",
    "write_edgelist",
    "read_edgelist",
    "write_graphml",
    "read_graphml",
    "FORMATS",
]

NPZ_FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------------- masks
def as_mask(mask: Any) -> np.ndarray:
    """Return ``mask`` as a 2-D boolean numpy array (accepts numpy, torch, scipy.sparse, nested lists).

    Raises :class:`DstnetError` for anything that is not 2-D.
    """
    if sp.issparse(mask):
        return mask_from_scipy(mask)
    if hasattr(mask, "detach"):  # torch tensor, without importing torch here
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise DstnetError(f"a layer mask must be 2-D (n_out, n_in), got shape {arr.shape}")
    if arr.dtype != np.bool_:
        arr = arr != 0
    return arr


def density(mask: Any) -> float:
    """Fraction of possible links present: ``nnz(M) / (n_out * n_in)``."""
    m = as_mask(mask)
    return float(m.sum()) / float(m.size) if m.size else 0.0


def mask_to_scipy(mask: Any) -> sp.csr_matrix:
    """The mask as a ``scipy.sparse.csr_matrix`` of int8 ones, shape ``(n_out, n_in)``."""
    m = as_mask(mask)
    return sp.csr_matrix(m, dtype=np.int8)


def mask_from_scipy(matrix: sp.spmatrix | sp.sparray) -> np.ndarray:
    """A boolean mask from a sparse matrix of shape ``(n_out, n_in)``; explicit zeros are not links."""
    coo = sp.coo_matrix(matrix)
    out = np.zeros(coo.shape, dtype=bool)
    nz = coo.data != 0
    out[coo.row[nz], coo.col[nz]] = True
    return out


# --------------------------------------------------------------------------------------------------- stacks
@dataclass
class LayerStack:
    """An ordered list of named layer masks plus free-form metadata (JSON-serialisable).

    Attributes:
        masks: boolean arrays, each ``(n_out, n_in)``.
        names: one name per mask (defaults to ``layer0, layer1, ...``).
        meta: JSON-serialisable metadata (generator, parameters, seed, ...).
        chain: whether each layer's inputs are the previous layer's outputs. ``None`` (the default) infers it from
            the shapes; pass ``False`` for layers that merely have fitting shapes (q, k, v projections).
    """

    masks: list[np.ndarray]
    names: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    chain: bool | None = None

    def __post_init__(self) -> None:
        self.masks = [as_mask(m) for m in self.masks]
        if not self.masks:
            raise DstnetError("a layer stack needs at least one layer")
        if not self.names:
            self.names = [f"layer{i}" for i in range(len(self.masks))]
        if len(self.names) != len(self.masks):
            raise DstnetError(f"{len(self.names)} names for {len(self.masks)} layers")
        if len(set(self.names)) != len(self.names):
            raise DstnetError(f"layer names must be unique, got {self.names}")
        shapes_fit = all(b.shape[1] == a.shape[0] for a, b in zip(self.masks, self.masks[1:], strict=False))
        if self.chain is None:
            self.chain = shapes_fit
        elif self.chain and not shapes_fit:
            shapes = [tuple(m.shape) for m in self.masks]
            raise DstnetError(f"layers do not form a chain (n_in of each must equal n_out of the previous): {shapes}")

    @classmethod
    def single(cls, mask: Any, name: str = "layer0", **meta: Any) -> LayerStack:
        """A stack holding one layer."""
        return cls([mask], [name], dict(meta), chain=True)

    def __len__(self) -> int:
        return len(self.masks)

    def __iter__(self):
        return iter(self.masks)

    def __getitem__(self, key: int | str) -> np.ndarray:
        if isinstance(key, str):
            try:
                return self.masks[self.names.index(key)]
            except ValueError:
                raise DstnetError(f"no layer named {key!r}; layers are {self.names}") from None
        return self.masks[key]

    @property
    def is_chain(self) -> bool:
        """True when each layer's inputs are the previous layer's outputs."""
        return bool(self.chain)

    @property
    def sizes(self) -> list[int]:
        """Neuron-layer sizes ``[n_in0, n_out0, n_out1, ...]`` of a chain."""
        self.require_chain()
        return [self.masks[0].shape[1]] + [m.shape[0] for m in self.masks]

    def require_chain(self) -> None:
        """Raise :class:`DstnetError` unless the stack is a chain."""
        if not self.is_chain:
            raise DstnetError(f"this operation needs a chain of layers; layers {self.names} are independent")

    @property
    def n_links(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks))

    def equals(self, other: LayerStack) -> bool:
        """Same names, chain flag and identical masks (metadata ignored)."""
        return (
            self.names == other.names
            and self.is_chain == other.is_chain
            and len(self.masks) == len(other.masks)
            and all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(self.masks, other.masks, strict=True))
        )


def as_stack(obj: Any) -> LayerStack:
    """A :class:`LayerStack` from a stack, a list of masks (a chain when the shapes fit) or a single mask."""
    if isinstance(obj, LayerStack):
        return obj
    if isinstance(obj, (list, tuple)):
        return LayerStack(list(obj))
    return LayerStack.single(obj)


def neuron_layers(stack: LayerStack) -> tuple[list[int], list[tuple[int, int]]]:
    """Neuron-layer sizes and, per mask, the (input group, output group) indices.

    A chain shares neurons between consecutive masks; otherwise every mask has its own input and output groups.
    """
    if stack.is_chain:
        return stack.sizes, [(l, l + 1) for l in range(len(stack))]
    sizes: list[int] = []
    groups: list[tuple[int, int]] = []
    for m in stack.masks:
        groups.append((len(sizes), len(sizes) + 1))
        sizes.extend([m.shape[1], m.shape[0]])
    return sizes, groups


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _stack_edges(stack: LayerStack) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Global (source, target) node ids of every link, sources on the input side."""
    sizes, groups = neuron_layers(stack)
    off = _offsets(sizes)
    src, dst = [], []
    for m, (gi, go) in zip(stack.masks, groups, strict=True):
        rows, cols = np.nonzero(m)
        src.append(cols.astype(np.int64) + off[gi])
        dst.append(rows.astype(np.int64) + off[go])
    return sizes, np.concatenate(src), np.concatenate(dst)


# --------------------------------------------------------------------------------------------------- networkx
def to_networkx(obj: Any):
    """A ``networkx.Graph`` of a mask or a stack (see the module docstring for node ids and attributes).

    Graph attributes ``neuron_layers`` (sizes, as a comma-separated string) and ``layer_names`` record the shape so
    :func:`from_networkx` can rebuild the stack exactly, isolated neurons included.
    """
    import networkx as nx

    stack = as_stack(obj)
    sizes, src, dst = _stack_edges(stack)
    _, groups = neuron_layers(stack)
    g = nx.Graph()
    g.graph["neuron_layers"] = ",".join(map(str, sizes))
    g.graph["layer_names"] = ",".join(stack.names)
    g.graph["layer_groups"] = ";".join(f"{a},{b}" for a, b in groups)
    node = 0
    for layer, n in enumerate(sizes):
        g.add_nodes_from((node + p, {"layer": layer, "index": p, "bipartite": layer % 2}) for p in range(n))
        node += n
    g.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    return g


def from_networkx(g) -> LayerStack:
    """Rebuild a stack from a graph made by :func:`to_networkx`, or read any bipartite networkx graph.

    A plain bipartite graph needs a ``bipartite`` node attribute (0 or 1): the nodes with 0 become the input neurons
    and those with 1 the output neurons, each side in sorted node order.
    """
    if "neuron_layers" in g.graph:
        sizes = [int(s) for s in str(g.graph["neuron_layers"]).split(",")]
        names = str(g.graph.get("layer_names", "")).split(",") if g.graph.get("layer_names") else []
        groups_attr = g.graph.get("layer_groups")
        groups = (
            [tuple(int(x) for x in pair.split(",")) for pair in str(groups_attr).split(";")]
            if groups_attr
            else [(l, l + 1) for l in range(len(sizes) - 1)]
        )
        if any(n < 0 for n in sizes) or any(not (0 <= i < len(sizes) and 0 <= o < len(sizes)) for i, o in groups):
            raise DstnetError(f"graph attributes: neuron layers {sizes} and layer groups {groups} do not fit")
        check_mask_sizes([(sizes[go], sizes[gi]) for gi, go in groups], "the graph")
        pos: dict[Any, tuple[int, int]] = {}
        for n, data in g.nodes(data=True):
            try:
                pos[n] = (int(data["layer"]), int(data["index"]))
            except KeyError:
                raise DstnetError(f"node {n!r} lacks 'layer'/'index' attributes") from None
            if not (0 <= pos[n][0] < len(sizes) and 0 <= pos[n][1] < sizes[pos[n][0]]):
                raise DstnetError(
                    f"node {n!r}: layer {pos[n][0]}, index {pos[n][1]} is outside the neuron layers {sizes}"
                )
        masks = [np.zeros((sizes[go], sizes[gi]), dtype=bool) for gi, go in groups]
        for a, b in g.edges():
            (la, pa), (lb, pb) = pos[a], pos[b]
            for k, (gi, go) in enumerate(groups):
                if (la, lb) == (gi, go):
                    masks[k][pb, pa] = True
                    break
                if (la, lb) == (go, gi):
                    masks[k][pa, pb] = True
                    break
            else:
                raise DstnetError(f"link {a!r}-{b!r} joins neuron layers {la} and {lb}, which share no layer")
        chain = all(groups[k + 1][0] == groups[k][1] for k in range(len(groups) - 1))
        return LayerStack(masks, names if len(names) == len(masks) else [], chain=chain)

    side = {}
    for n, data in g.nodes(data=True):
        if "bipartite" not in data:
            raise DstnetError(f"node {n!r} has no 'bipartite' attribute (0 for inputs, 1 for outputs)")
        side[n] = int(data["bipartite"])
    inputs = sorted((n for n, s in side.items() if s == 0), key=_sort_key)
    outputs = sorted((n for n, s in side.items() if s == 1), key=_sort_key)
    iidx = {n: k for k, n in enumerate(inputs)}
    oidx = {n: k for k, n in enumerate(outputs)}
    mask = np.zeros((len(outputs), len(inputs)), dtype=bool)
    for a, b in g.edges():
        if a in iidx and b in oidx:
            mask[oidx[b], iidx[a]] = True
        elif b in iidx and a in oidx:
            mask[oidx[a], iidx[b]] = True
        else:
            raise DstnetError(f"link {a!r}-{b!r} joins two nodes of the same side: the graph is not bipartite")
    return LayerStack.single(mask)


def _sort_key(n: Any) -> tuple[int, Any]:
    return (0, n) if isinstance(n, (int, np.integer)) else (1, str(n))


# --------------------------------------------------------------------------------------------------- igraph
def to_igraph(obj: Any):
    """An ``igraph.Graph`` (undirected) with the same node numbering and attributes as :func:`to_networkx`."""
    import igraph as ig

    stack = as_stack(obj)
    sizes, src, dst = _stack_edges(stack)
    _, groups = neuron_layers(stack)
    n = int(sum(sizes))
    g = ig.Graph(n=n, edges=np.column_stack([src, dst]).tolist(), directed=False)
    layer = np.repeat(np.arange(len(sizes)), sizes)
    g.vs["layer"] = layer.tolist()
    g.vs["index"] = np.concatenate([np.arange(s) for s in sizes]).tolist()
    g.vs["bipartite"] = (layer % 2).tolist()
    g.vs["type"] = (layer % 2 == 1).tolist()  # igraph's own bipartite convention
    g["neuron_layers"] = ",".join(map(str, sizes))
    g["layer_names"] = ",".join(stack.names)
    g["layer_groups"] = ";".join(f"{a},{b}" for a, b in groups)
    return g


def from_igraph(g) -> LayerStack:
    """Inverse of :func:`to_igraph`; also reads any igraph graph with a ``bipartite`` or ``type`` vertex attribute."""
    import networkx as nx

    h = nx.Graph()
    attrs = g.vertex_attributes()
    for v in g.vs:
        data = {a: v[a] for a in attrs}
        if "bipartite" not in data and "type" in data:
            data["bipartite"] = int(bool(data["type"]))
        h.add_node(v.index, **data)
    h.add_edges_from(g.get_edgelist())
    for key in ("neuron_layers", "layer_names", "layer_groups"):
        if key in g.attributes():
            h.graph[key] = g[key]
    return from_networkx(h)


# --------------------------------------------------------------------------------------------------- .npz
def save_npz(obj: Any, path: str | os.PathLike) -> Path:
    """Write a mask or stack to the native ``.npz`` format (compressed, no pickles).

    Layout: ``format_version``, ``names`` (JSON list), ``meta`` (JSON object), and per layer ``k``:
    ``shape_k`` (n_out, n_in), ``rows_k`` and ``cols_k`` (int32 indices of the links, row-major order).
    The write is atomic (temporary file, then rename).
    """
    stack = as_stack(obj)
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(NPZ_FORMAT_VERSION),
        "names": np.array(json.dumps(stack.names)),
        "meta": np.array(json.dumps(stack.meta, default=_json_default)),
        "chain": np.array(stack.is_chain),
    }
    for k, m in enumerate(stack.masks):
        rows, cols = np.nonzero(m)
        arrays[f"shape_{k}"] = np.array(m.shape, dtype=np.int64)
        arrays[f"rows_{k}"] = rows.astype(np.int32)
        arrays[f"cols_{k}"] = cols.astype(np.int32)
    path = Path(path)
    tmp = temp_path(path, ".tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:  # nothing half-written is left behind (a full disk, a crash)
        tmp.unlink(missing_ok=True)
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


#: At most this many layers in a file (a layer id of 10^9 would otherwise loop for minutes).
MAX_LAYERS = 100_000


def available_memory() -> int:
    """Bytes of memory the system can still give (``MemAvailable`` on Linux, free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no way to ask
        return 1 << 62


def check_mask_sizes(shapes: Sequence[tuple[int, int]], path: str | os.PathLike) -> None:
    """Refuse, before allocating, layer shapes whose bool masks would not fit in the memory available now (one byte
    per possible link), with the number they would need."""
    if len(shapes) > MAX_LAYERS:
        raise DstnetError(f"{path}: {len(shapes):,} layers (at most {MAX_LAYERS:,})")
    need = sum(int(a) * int(b) for a, b in shapes)
    free = available_memory()
    if need > free // 2:
        shown = ", ".join(f"{a}x{b}" for a, b in shapes[:3]) + (", ..." if len(shapes) > 3 else "")
        raise DstnetError(
            f"{path}: its layer sizes {shown} need {need / 2**30:.1f} GiB as masks; "
            f"{free / 2**30:.1f} GiB are available"
        )


def load_npz(path: str | os.PathLike) -> LayerStack:
    """Read a stack written by :func:`save_npz`. Also accepts an ``.npz`` holding one dense 2-D array."""
    try:
        with np.load(path, allow_pickle=False) as z:
            files = set(z.files)
            if "format_version" not in files:
                arrays = [k for k in z.files if z[k].ndim == 2]
                if len(arrays) == 1:
                    return LayerStack.single(z[arrays[0]], name=arrays[0])
                raise DstnetError(f"{path}: not a dstnet mask file (no format_version, {len(arrays)} 2-D arrays)")
            version = z["format_version"]
            if (
                version.shape != ()
                or not np.issubdtype(version.dtype, np.integer)
                or int(version) != NPZ_FORMAT_VERSION
            ):
                raise DstnetError(
                    f"{path}: mask file format {version.tolist()!r}; this dstnet reads format {NPZ_FORMAT_VERSION}"
                )
            names = json.loads(str(z["names"]))
            meta = json.loads(str(z["meta"]))
            chain = bool(z["chain"]) if "chain" in files else None
            if not isinstance(names, list) or len(names) > MAX_LAYERS:
                raise DstnetError(f"{path}: names must be a list of at most {MAX_LAYERS:,} layer names")
            shapes = [tuple(int(s) for s in z[f"shape_{k}"]) for k in range(len(names))]
            if any(len(s) != 2 or min(s) < 0 for s in shapes):
                raise DstnetError(f"{path}: layer shapes must be pairs of non-negative sizes, got {shapes[:3]}")
            check_mask_sizes(shapes, path)
            masks = []
            for k in range(len(names)):
                shape = shapes[k]
                m = np.zeros(shape, dtype=bool)
                m[z[f"rows_{k}"], z[f"cols_{k}"]] = True
                masks.append(m)
    except DstnetError:
        raise
    except FileNotFoundError:
        raise DstnetError(f"{path}: no such file") from None
    except (OSError, ValueError, KeyError, IndexError, json.JSONDecodeError) as e:
        raise DstnetError(f"{path}: unreadable mask file ({e.__class__.__name__}: {e})") from None
    return LayerStack(masks, names, meta, chain=chain)


# --------------------------------------------------------------------------------------------------- edge list
def write_edgelist(obj: Any, path: str | os.PathLike) -> Path:
    """Write an edge list: a header of ``#`` comments, then one link per line.

    One layer: ``input output`` (two columns, 0-based neuron indices). Several layers: ``layer input output``.
    The header records the shapes (``# shapes: n_out x n_in; ...``) and names so isolated neurons survive a round trip.
    """
    stack = as_stack(obj)
    path = Path(path)
    lines = [
        "# dstnet edge list: links from input neuron to output neuron, 0-based",
        "# shapes: " + "; ".join(f"{m.shape[0]}x{m.shape[1]}" for m in stack.masks),
        "# names: " + ",".join(stack.names),
        f"# chain: {int(stack.is_chain)}",
    ]
    tmp = temp_path(path)
    try:
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
            for k, m in enumerate(stack.masks):
                rows, cols = np.nonzero(m)
                cols_rows = np.column_stack([cols, rows])
                if len(stack) == 1:
                    np.savetxt(f, cols_rows, fmt="%d")
                else:
                    np.savetxt(f, np.column_stack([np.full(len(rows), k), cols_rows]), fmt="%d")
        os.replace(tmp, path)
    finally:  # nothing half-written is left behind (a full disk, a crash)
        tmp.unlink(missing_ok=True)
    return path


def read_edgelist(path: str | os.PathLike) -> LayerStack:
    """Read an edge list written by :func:`write_edgelist`, or any bipartite edge list of integer ids.

    Without a ``# shapes:`` header, sizes are ``max index + 1`` per side. Separators may be spaces, tabs or commas.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DstnetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DstnetError(f"{path}: unreadable edge list ({e})") from None
    shapes: list[tuple[int, int]] | None = None
    names: list[str] = []
    chain: bool | None = None
    rows_data: list[list[int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#") or line.startswith("%"):
            body = line.lstrip("#% ").strip()
            if body.startswith("shapes:"):
                try:
                    shapes = [tuple(int(x) for x in s.strip().split("x")) for s in body[7:].split(";")]
                except ValueError:
                    raise DstnetError(f"{path}:{lineno}: bad shapes header {body!r}") from None
            elif body.startswith("names:"):
                names = [s for s in body[6:].strip().split(",") if s]
            elif body.startswith("chain:"):
                chain = body[6:].strip() == "1"
            continue
        parts = line.replace(",", " ").split()
        try:
            rows_data.append([int(p) for p in parts])
        except ValueError:
            raise DstnetError(f"{path}:{lineno}: expected integer neuron ids, got {line!r}") from None
    widths = {len(r) for r in rows_data}
    if len(widths) > 1:
        raise DstnetError(f"{path}: lines have different numbers of columns {sorted(widths)}")
    width = widths.pop() if widths else 2
    if width not in (2, 3):
        raise DstnetError(f"{path}: expected 2 columns (input output) or 3 (layer input output), got {width}")
    data = np.array(rows_data, dtype=np.int64).reshape(-1, width)
    if width == 2:
        data = np.column_stack([np.zeros(len(data), dtype=np.int64), data])
    if (data < 0).any():
        raise DstnetError(f"{path}: negative neuron index")
    n_layers = len(shapes) if shapes else (int(data[:, 0].max()) + 1 if len(data) else 1)
    if n_layers > MAX_LAYERS:
        raise DstnetError(f"{path}: layer index {n_layers - 1:,} (at most {MAX_LAYERS:,} layers)")
    if shapes:
        check_mask_sizes([(n_out, n_in) for n_out, n_in in shapes], path)
    else:
        sizes = []
        for k in range(n_layers):
            sel = data[data[:, 0] == k]
            sizes.append((int(sel[:, 2].max()) + 1, int(sel[:, 1].max()) + 1) if len(sel) else (0, 0))
        check_mask_sizes(sizes, path)
    masks = []
    for k in range(n_layers):
        sel = data[data[:, 0] == k]
        if shapes:
            n_out, n_in = shapes[k]
        else:
            n_in = int(sel[:, 1].max()) + 1 if len(sel) else 0
            n_out = int(sel[:, 2].max()) + 1 if len(sel) else 0
        if len(sel) and (sel[:, 1].max() >= n_in or sel[:, 2].max() >= n_out):
            raise DstnetError(f"{path}: layer {k} has a neuron index outside its shape {n_out}x{n_in}")
        m = np.zeros((n_out, n_in), dtype=bool)
        m[sel[:, 2], sel[:, 1]] = True
        masks.append(m)
    if (data[:, 0] >= n_layers).any():
        raise DstnetError(f"{path}: layer index beyond the {n_layers} layers in the header")
    return LayerStack(masks, names if len(names) == n_layers else [], chain=chain)


# --------------------------------------------------------------------------------------------------- GraphML
def write_graphml(obj: Any, path: str | os.PathLike) -> Path:
    """Write GraphML through networkx (node attributes ``layer``, ``index``, ``bipartite``)."""
    import networkx as nx

    path = Path(path)
    tmp = temp_path(path)
    try:
        nx.write_graphml(to_networkx(obj), tmp)
        os.replace(tmp, path)
    finally:  # nothing half-written is left behind (a full disk, a crash)
        tmp.unlink(missing_ok=True)
    return path


def read_graphml(path: str | os.PathLike) -> LayerStack:
    """Read GraphML written by :func:`write_graphml`, or any GraphML with a ``bipartite`` node attribute."""
    import networkx as nx

    try:
        g = nx.read_graphml(path, node_type=int)
    except FileNotFoundError:
        raise DstnetError(f"{path}: no such file") from None
    except ValueError:
        try:
            g = nx.read_graphml(path)
        except Exception as e:  # networkx raises assorted parser errors
            raise DstnetError(f"{path}: unreadable GraphML ({e})") from None
    except Exception as e:
        raise DstnetError(f"{path}: unreadable GraphML ({e})") from None
    return from_networkx(g)


# --------------------------------------------------------------------------------------------------- dispatch
FORMATS = {
    "npz": (save_npz, load_npz),
    "edgelist": (write_edgelist, read_edgelist),
    "graphml": (write_graphml, read_graphml),
}
_SUFFIX_FORMAT = {
    ".npz": "npz",
    ".graphml": "graphml",
    ".edges": "edgelist",
    ".txt": "edgelist",
    ".tsv": "edgelist",
    ".csv": "edgelist",
    ".edgelist": "edgelist",
}


def format_of(path: str | os.PathLike) -> str:
    """The format name implied by a file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX_FORMAT:
        known = ", ".join(sorted(_SUFFIX_FORMAT))
        raise DstnetError(f"{path}: unknown file type {suffix!r} (known: {known})")
    return _SUFFIX_FORMAT[suffix]


def save(obj: Any, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write a mask or stack; the format follows ``fmt`` or the file suffix."""
    fmt = fmt or format_of(path)
    if fmt not in FORMATS:
        raise DstnetError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    return FORMATS[fmt][0](obj, path)


def load(path: str | os.PathLike, fmt: str | None = None) -> LayerStack:
    """Read a stack from any supported file; the format follows ``fmt`` or the file suffix."""
    fmt = fmt or format_of(path)
    if fmt not in FORMATS:
        raise DstnetError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if not Path(path).exists():
        raise DstnetError(f"{path}: no such file")
    return FORMATS[fmt][1](path)
