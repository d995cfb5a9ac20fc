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
import zipfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from netsci_dst.errors import DstnetError
from netsci_dst.fileio import atomic_write
from netsci_dst.memory import check_memory, format_bytes

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


def _count(value: Any, source: str, what: str) -> int:
    """A non-negative integer attribute (an int, an integral float or a string of digits), else one error line."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        number = int(value)
    elif isinstance(value, (float, np.floating)) and float(value).is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 19:
        number = int(value)
    else:
        raise DstnetError(f"{source}: {what} must be a non-negative integer, got {value!r}")
    if number < 0:
        raise DstnetError(f"{source}: {what} must be a non-negative integer, got {value!r}")
    return number


def from_networkx(g, *, source: str = "the graph") -> LayerStack:
    """Rebuild a stack from a graph made by :func:`to_networkx`, or read any bipartite networkx graph.

    A plain bipartite graph needs a ``bipartite`` node attribute (0 or 1): the nodes with 0 become the input neurons
    and those with 1 the output neurons, each side in sorted node order. Every attribute is checked, and the sizes
    against the memory available, before a mask is allocated; ``source`` names the graph in the error lines.
    """
    if "neuron_layers" in g.graph:
        return _from_layered_graph(g, source)
    side = {}
    for n, data in g.nodes(data=True):
        if "bipartite" not in data:
            raise DstnetError(f"{source}: node {n!r} has no 'bipartite' attribute (0 for inputs, 1 for outputs)")
        side[n] = _count(data["bipartite"], source, f"node {n!r}: 'bipartite'")
        if side[n] > 1:
            raise DstnetError(f"{source}: node {n!r} has bipartite = {side[n]}; 0 for inputs, 1 for outputs")
    inputs = sorted((n for n, s in side.items() if s == 0), key=_sort_key)
    outputs = sorted((n for n, s in side.items() if s == 1), key=_sort_key)
    check_mask_sizes([(len(outputs), len(inputs))], source)
    iidx = {n: k for k, n in enumerate(inputs)}
    oidx = {n: k for k, n in enumerate(outputs)}
    mask = np.zeros((len(outputs), len(inputs)), dtype=bool)
    for a, b in g.edges():
        if a in iidx and b in oidx:
            mask[oidx[b], iidx[a]] = True
        elif b in iidx and a in oidx:
            mask[oidx[a], iidx[b]] = True
        else:
            raise DstnetError(
                f"{source}: link {a!r}-{b!r} joins two nodes of the same side: the graph is not bipartite"
            )
    return LayerStack.single(mask)


def _from_layered_graph(g, source: str) -> LayerStack:
    """The stack of a graph with ``neuron_layers`` (and ``layer_groups``, ``layer_names``) graph attributes and
    ``layer``/``index`` node attributes, as :func:`to_networkx` writes it."""
    sizes = [_count(s, source, "neuron_layers") for s in str(g.graph["neuron_layers"]).split(",")]
    if len(sizes) < 2:
        raise DstnetError(f"{source}: neuron_layers {g.graph['neuron_layers']!r} names fewer than 2 neuron layers")
    groups_attr = g.graph.get("layer_groups")
    groups: list[tuple[int, int]] = []
    for pair in str(groups_attr).split(";") if groups_attr else []:
        ends = pair.split(",")
        if len(ends) != 2:
            raise DstnetError(f"{source}: layer_groups {groups_attr!r} is not 'in,out;in,out;...'")
        groups.append((_count(ends[0], source, "layer_groups"), _count(ends[1], source, "layer_groups")))
    groups = groups or [(l, l + 1) for l in range(len(sizes) - 1)]
    if any(not (i < len(sizes) and o < len(sizes)) for i, o in groups):
        raise DstnetError(f"{source}: neuron layers {sizes} and layer groups {groups} do not fit")
    check_mask_sizes([(sizes[go], sizes[gi]) for gi, go in groups], source)
    names = str(g.graph.get("layer_names", "")).split(",") if g.graph.get("layer_names") else []
    pos: dict[Any, tuple[int, int]] = {}
    taken: dict[tuple[int, int], Any] = {}
    for n, data in g.nodes(data=True):
        if "layer" not in data or "index" not in data:
            raise DstnetError(f"{source}: node {n!r} lacks 'layer'/'index' attributes")
        layer = _count(data["layer"], source, f"node {n!r}: 'layer'")
        index = _count(data["index"], source, f"node {n!r}: 'index'")
        if not (layer < len(sizes) and index < sizes[layer]):
            raise DstnetError(
                f"{source}: node {n!r}: layer {layer}, index {index} is outside the neuron layers {sizes}"
            )
        if (layer, index) in taken:
            raise DstnetError(
                f"{source}: nodes {taken[layer, index]!r} and {n!r} are both neuron {index} of layer {layer}"
            )
        pos[n] = (layer, index)
        taken[layer, index] = n
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
            raise DstnetError(f"{source}: link {a!r}-{b!r} joins neuron layers {la} and {lb}, which share no layer")
    chain = all(groups[k + 1][0] == groups[k][1] for k in range(len(groups) - 1))
    return _stack(source, masks, names if len(names) == len(masks) else [], {}, chain)


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
    The write is atomic (:func:`netsci_dst.fileio.atomic_write`).
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
    with atomic_write(path, "wb") as f:  # a file object: numpy adds no .npz to the name
        np.savez_compressed(f, **arrays)
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


#: At most this many layers in a file (LLaMA-70B has 560 projection layers).
MAX_LAYERS = 10_000
#: Most neurons on one side of a layer: link indices are stored as int32 in ``.npz`` files.
MAX_NEURONS = 2**31 - 1
#: Bytes per possible link (cell of ``n_out x n_in``) of the dense work done on one layer at a time: link
#: prediction's float64 scores and path products (about 60 measured), the measures' and figures' float copies.
WORK_BYTES_PER_LINK = 64
#: Memory per byte of a text file while it is read: an edge list's parsed ids, GraphML's parse tree and graph.
EDGE_LIST_BYTES_PER_BYTE = 8
GRAPHML_BYTES_PER_BYTE = 32
#: Longest ``names``/``meta`` JSON text in an ``.npz`` file.
NPZ_TEXT_LIMIT = 1 << 24


def mask_memory(shapes: Sequence[tuple[int, int]]) -> int:
    """Bytes to hold the bool masks of ``shapes`` and do the dense work on the largest of them."""
    cells = [int(a) * int(b) for a, b in shapes]
    return sum(cells) + WORK_BYTES_PER_LINK * max(cells, default=0)


def check_mask_sizes(
    shapes: Sequence[tuple[int, int]], source: str | os.PathLike, *, extra: int = 0, hint: str = ""
) -> None:
    """Refuse, before anything is allocated, layer shapes ``(n_out, n_in)`` that are not sizes (at least one neuron
    a side, at most :data:`MAX_NEURONS`), more than :data:`MAX_LAYERS` layers, or masks that would not fit in the
    memory available now with the dense work on them (:func:`mask_memory`, plus ``extra`` bytes): one line with the
    bytes they would need, ``hint`` saying what to change."""
    if len(shapes) > MAX_LAYERS:
        raise DstnetError(f"{source}: {len(shapes):,} layers (at most {MAX_LAYERS:,})")
    shown = ", ".join(f"{a}x{b}" for a, b in shapes[:3]) + (", ..." if len(shapes) > 3 else "")
    check_memory(mask_memory(shapes) + extra, f"{source}: layers of {shown} neurons", hint)
    for k, (n_out, n_in) in enumerate(shapes):
        if not (1 <= n_out <= MAX_NEURONS and 1 <= n_in <= MAX_NEURONS):
            raise DstnetError(
                f"{source}: layer {k} has shape {n_out}x{n_in}; a layer has 1 to {MAX_NEURONS:,} neurons a side"
            )


def _npy_header(zf: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array of an ``.npz`` archive, read from its header without loading the data."""
    with zf.open(member) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DstnetError(f"array {member!r} has npy format {version}, not 1.0 or 2.0")
    if dtype.hasobject:
        raise DstnetError(f"array {member!r} holds Python objects (pickles are never loaded)")
    return tuple(int(s) for s in shape), dtype


class _NpzArrays:
    """The arrays of an open ``.npz`` archive: headers checked before any data is read."""

    def __init__(self, path: Path, zf: zipfile.ZipFile) -> None:
        self.path, self.zf = path, zf
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        for member in zf.namelist():
            if not member.endswith(".npy"):
                raise DstnetError(f"{path}: holds {member!r}, which is not a numpy array")
            try:
                self.headers[member[:-4]] = _npy_header(zf, member)
            except DstnetError as e:
                raise DstnetError(f"{path}: {e}") from None

    def header(self, name: str, ndim: int, kinds: str, what: str) -> tuple[tuple[int, ...], np.dtype]:
        """The header of array ``name``, checked to have ``ndim`` dimensions and a dtype kind in ``kinds``."""
        if name not in self.headers:
            raise DstnetError(f"{self.path}: no array {name!r} ({what})")
        shape, dtype = self.headers[name]
        if len(shape) != ndim or dtype.kind not in kinds:
            raise DstnetError(f"{self.path}: array {name!r} is {dtype} of shape {shape}, not {what}")
        return shape, dtype

    def read(self, name: str) -> np.ndarray:
        """The data of array ``name`` (call after its header was checked against the budget)."""
        with self.zf.open(name + ".npy") as f:
            return np.lib.format.read_array(f, allow_pickle=False)

    def json(self, name: str, kind: type) -> Any:
        """A JSON value of type ``kind`` stored as a 0-d string array."""
        _, dtype = self.header(name, 0, "U", "a JSON text")
        if dtype.itemsize > 4 * NPZ_TEXT_LIMIT:
            raise DstnetError(f"{self.path}: {name} is longer than {NPZ_TEXT_LIMIT:,} characters")
        try:
            value = json.loads(str(self.read(name)))
        except ValueError as e:  # bad JSON, or an integer too long to convert
            raise DstnetError(f"{self.path}: {name} is not JSON ({e})") from None
        except RecursionError:
            raise DstnetError(f"{self.path}: {name} is JSON nested too deeply") from None
        if not isinstance(value, kind):
            raise DstnetError(f"{self.path}: {name} is a JSON {type(value).__name__}, not a {kind.__name__}")
        return value


def load_npz(path: str | os.PathLike) -> LayerStack:
    """Read a stack written by :func:`save_npz`. Also accepts an ``.npz`` holding one dense 2-D array.

    Every array's header (dtype, shape) is checked, and the layer sizes against the memory available
    (:func:`check_mask_sizes`), before any data is read; link indices must lie inside their layer, come in
    pairs and name each link once. Anything else is one :class:`DstnetError` line.
    """
    path = Path(path)
    if not path.is_file():
        raise DstnetError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        if not zipfile.is_zipfile(path):
            raise DstnetError(f"{path}: unreadable mask file (not an .npz zip archive)")
        with zipfile.ZipFile(path) as zf:
            arrays = _NpzArrays(path, zf)
            if "format_version" not in arrays.headers:
                return _dense_npz(arrays)
            return _stack_npz(arrays)
    except DstnetError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # truncated or corrupt data
        raise DstnetError(f"{path}: unreadable mask file ({e.__class__.__name__}: {e})") from None


def _dense_npz(arrays: _NpzArrays) -> LayerStack:
    """An ``.npz`` of one dense 2-D array of numbers: non-zero entries are links."""
    path = arrays.path
    two_d = [name for name, (shape, _) in arrays.headers.items() if len(shape) == 2]
    if len(two_d) != 1:
        raise DstnetError(f"{path}: not a dstnet mask file (no format_version, {len(two_d)} 2-D arrays)")
    name = two_d[0]
    shape, dtype = arrays.header(name, 2, "biuf", "a 2-D array of numbers")
    check_mask_sizes([shape], path, extra=shape[0] * shape[1] * dtype.itemsize)
    dense = arrays.read(name)
    if dense.dtype.kind == "f" and not np.isfinite(dense).all():
        raise DstnetError(f"{path}: array {name!r} holds NaN or infinite values")
    return LayerStack.single(dense, name=name)


def _stack_npz(arrays: _NpzArrays) -> LayerStack:
    """A stack in dstnet's own layout (see :func:`save_npz`)."""
    path = arrays.path
    arrays.header("format_version", 0, "iu", "an integer format version")
    version = arrays.read("format_version")
    if int(version) != NPZ_FORMAT_VERSION:
        raise DstnetError(
            f"{path}: mask file format {version.tolist()!r}; this dstnet reads format {NPZ_FORMAT_VERSION}"
        )
    names = arrays.json("names", list)
    meta = arrays.json("meta", dict)
    if not names or len(names) > MAX_LAYERS or not all(isinstance(n, str) for n in names):
        raise DstnetError(f"{path}: names must be a list of 1 to {MAX_LAYERS:,} layer names (strings)")
    chain = None
    if "chain" in arrays.headers:
        arrays.header("chain", 0, "b", "a bool")
        chain = bool(arrays.read("chain"))
    n = len(names)
    per_layer = [(f"shape_{k}", f"rows_{k}", f"cols_{k}") for k in range(n)]
    expected = {"format_version", "names", "meta", "chain"} | {a for layer in per_layer for a in layer}
    unexpected = sorted(set(arrays.headers) - expected)
    if unexpected:
        raise DstnetError(f"{path}: arrays {unexpected[:3]} do not belong to the {n} layer(s) the names list")
    shapes: list[tuple[int, int]] = []
    links: list[int] = []
    for k, (shape_k, rows_k, cols_k) in enumerate(per_layer):
        arrays.header(shape_k, 1, "iu", "an (n_out, n_in) pair")
        (rows_len,), _ = arrays.header(rows_k, 1, "iu", "1-D integer link indices")
        (cols_len,), _ = arrays.header(cols_k, 1, "iu", "1-D integer link indices")
        if arrays.headers[shape_k][0] != (2,):
            raise DstnetError(f"{path}: {shape_k} has {arrays.headers[shape_k][0]} entries, not 2 (n_out, n_in)")
        shapes.append(tuple(int(s) for s in arrays.read(shape_k)))
        if rows_len != cols_len:
            raise DstnetError(f"{path}: layer {k} has {rows_len} row and {cols_len} column indices")
        links.append(rows_len)
    check_mask_sizes(shapes, path, extra=16 * sum(links))
    masks = []
    for k, ((n_out, n_in), n_links) in enumerate(zip(shapes, links, strict=True)):
        if n_links > n_out * n_in:
            raise DstnetError(f"{path}: layer {k} lists {n_links:,} links, more than its {n_out}x{n_in} cells")
        rows, cols = arrays.read(f"rows_{k}"), arrays.read(f"cols_{k}")
        if n_links and (rows.min() < 0 or rows.max() >= n_out or cols.min() < 0 or cols.max() >= n_in):
            raise DstnetError(f"{path}: layer {k} has a link index outside its shape {n_out}x{n_in}")
        m = np.zeros((n_out, n_in), dtype=bool)
        m[rows, cols] = True
        repeated = n_links - int(np.count_nonzero(m))
        if repeated:  # save_npz writes every link once: a repeat means the file was altered
            raise DstnetError(f"{path}: layer {k} lists {repeated:,} link(s) more than once")
        masks.append(m)
    return _stack(path, masks, names, meta, chain)


def _stack(
    source: str | os.PathLike, masks: list[np.ndarray], names: list[str], meta: dict[str, Any], chain: bool | None
) -> LayerStack:
    """A :class:`LayerStack`, its complaints (duplicate names, a chain that does not fit) prefixed by ``source``."""
    try:
        return LayerStack(masks, names, meta, chain=chain)
    except DstnetError as e:
        raise DstnetError(f"{source}: {e}") from None


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
    with atomic_write(path) as f:
        f.write("\n".join(lines) + "\n")
        for k, m in enumerate(stack.masks):
            rows, cols = np.nonzero(m)
            cols_rows = np.column_stack([cols, rows])
            if len(stack) == 1:
                np.savetxt(f, cols_rows, fmt="%d")
            else:
                np.savetxt(f, np.column_stack([np.full(len(rows), k), cols_rows]), fmt="%d")
    return path


def _text_size(path: Path, per_byte: int, what: str) -> None:
    """Refuse a missing file, a folder, or a text file too big to parse in the memory available."""
    if not path.is_file():
        raise DstnetError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    size = path.stat().st_size
    check_memory(size * per_byte, f"{path}: reading this {format_bytes(size)} {what}")


def _neuron_id(text: str, source: str, what: str) -> int:
    """A 0-based id written as ASCII digits (sizes are checked against memory once the file is read)."""
    if not (text.isascii() and text.isdigit()):
        raise DstnetError(f"{source}: {what} must be a non-negative integer (0-based), got {text!r}")
    if len(text.lstrip("0")) > 18:  # beyond int64: no layer that wide fits in any memory
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise DstnetError(f"{source}: {what} {shown} ({len(text)} digits) is beyond any layer that fits in memory")
    return int(text)


@dataclass
class _EdgeListHeader:
    """What the ``#`` comment lines of an edge list say: ``shapes``, ``names``, ``chain`` (each at most once)."""

    shapes: list[tuple[int, int]] | None = None
    names: list[str] | None = None
    chain: bool | None = None

    def read(self, line: str, source: str) -> None:
        body = line.lstrip("#% ").strip()
        key, _, value = body.partition(":")
        key, value = key.strip(), value.strip()
        if key not in ("shapes", "names", "chain"):
            return  # a comment
        if getattr(self, key) is not None:
            raise DstnetError(f"{source}: a second '# {key}:' header")
        if key == "shapes":
            shapes = []
            for item in value.split(";"):
                sides = item.split("x")
                if len(sides) != 2:
                    raise DstnetError(f"{source}: bad shapes header {body!r} (expected '# shapes: 3x4; 2x3')")
                n_out, n_in = (_neuron_id(s.strip(), source, "a layer size") for s in sides)
                shapes.append((n_out, n_in))
            self.shapes = shapes
        elif key == "names":
            self.names = [s for s in value.split(",") if s]
        else:
            if value not in ("0", "1"):
                raise DstnetError(f"{source}: '# chain:' is 0 or 1, got {value!r}")
            self.chain = value == "1"


def read_edgelist(path: str | os.PathLike) -> LayerStack:
    """Read an edge list written by :func:`write_edgelist`, or any bipartite edge list of integer ids.

    Lines are ``input output`` (one layer) or ``layer input output``; separators may be spaces, tabs or commas;
    ``#`` or ``%`` lines are comments or the headers ``# shapes: n_out x n_in; ...``, ``# names: a,b`` and
    ``# chain: 0|1``. Without a shapes header, a layer's sizes are ``max id + 1`` per side and every layer
    ``0..L-1`` needs a link. Ids are checked as they are read, the sizes against the memory available
    (:func:`check_mask_sizes`) before any mask is allocated; anything else is one :class:`DstnetError` line.
    """
    path = Path(path)
    _text_size(path, EDGE_LIST_BYTES_PER_BYTE, "edge list")
    header = _EdgeListHeader()
    ids, line_of = array("q"), array("q")
    width, first = 0, 0
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, raw in enumerate(f, 1):
                line = raw.strip()
                where = f"{path}:{lineno}"
                if not line:
                    continue
                if line[0] in "#%":
                    header.read(line, where)
                    continue
                parts = line.replace(",", " ").split()
                if not width:
                    width, first = len(parts), lineno
                    if width not in (2, 3):
                        raise DstnetError(
                            f"{where}: expected 2 columns (input output) or 3 (layer input output), got {width}"
                        )
                elif len(parts) != width:
                    raise DstnetError(f"{where}: {len(parts)} columns, but line {first} has {width}")
                if width == 3 and _neuron_id(parts[0], where, "a layer id") >= MAX_LAYERS:
                    raise DstnetError(f"{where}: layer id {parts[0]} (at most {MAX_LAYERS:,} layers)")
                ids.extend(_neuron_id(p, where, "a neuron id") for p in parts)
                line_of.append(lineno)
    except UnicodeDecodeError as e:
        raise DstnetError(f"{path}: not a UTF-8 text edge list ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise DstnetError(f"{path}: unreadable edge list ({e.strerror or e})") from None
    if not line_of and header.shapes is None:
        raise DstnetError(f"{path}: no links and no '# shapes:' header: nothing to read")
    if not width:  # a header and no links
        width = 2 if len(header.shapes) == 1 else 3
    data = np.frombuffer(ids, dtype=np.int64).reshape(-1, width)
    lines = np.frombuffer(line_of, dtype=np.int64)
    if data.shape[1] == 2:
        if header.shapes is not None and len(header.shapes) != 1:
            raise DstnetError(
                f"{path}: 2-column lines are one layer, but the '# shapes:' header gives {len(header.shapes)}; "
                "write 'layer input output' lines"
            )
        data = np.column_stack([np.zeros(len(data), dtype=np.int64), data])
    layer, src, dst = data[:, 0], data[:, 1], data[:, 2]
    shapes = header.shapes if header.shapes is not None else _inferred_shapes(path, layer, src, dst)
    n_layers = len(shapes)
    check_mask_sizes(
        shapes,
        path,
        hint="check the ids (0-based neuron indices: without a '# shapes:' header a layer's sizes are its largest "
        "ids + 1)",
    )
    n_out = np.array([s[0] for s in shapes], dtype=np.int64)
    n_in = np.array([s[1] for s in shapes], dtype=np.int64)
    outside = layer >= n_layers
    if outside.any():
        k = int(np.argmax(outside))
        raise DstnetError(f"{path}:{lines[k]}: layer {layer[k]}, but the '# shapes:' header gives {n_layers} layers")
    outside = (src >= n_in[layer]) | (dst >= n_out[layer])
    if outside.any():
        k = int(np.argmax(outside))
        raise DstnetError(
            f"{path}:{lines[k]}: link {src[k]} -> {dst[k]} lies outside layer {layer[k]}'s shape "
            f"{n_out[layer[k]]}x{n_in[layer[k]]} (n_out x n_in)"
        )
    if header.names is not None and len(header.names) != n_layers:
        raise DstnetError(f"{path}: the '# names:' header gives {len(header.names)} names for {n_layers} layers")
    order = np.argsort(layer, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(layer, minlength=n_layers))])
    masks = []
    for k, (rows, cols) in enumerate(shapes):
        sel = order[bounds[k] : bounds[k + 1]]
        m = np.zeros((rows, cols), dtype=bool)
        m[dst[sel], src[sel]] = True
        masks.append(m)
    return _stack(path, masks, header.names or [], {}, header.chain)


def _inferred_shapes(path: Path, layer: np.ndarray, src: np.ndarray, dst: np.ndarray) -> list[tuple[int, int]]:
    """Layer shapes ``(max output id + 1, max input id + 1)`` of an edge list without a shapes header."""
    n_layers = int(layer.max()) + 1
    counts = np.bincount(layer, minlength=n_layers)
    if (counts == 0).any():
        k = int(np.argmin(counts))
        raise DstnetError(
            f"{path}: layer {k} has no links; without a '# shapes:' header every layer 0..{n_layers - 1} needs one"
        )
    n_in = np.zeros(n_layers, dtype=np.int64)
    n_out = np.zeros(n_layers, dtype=np.int64)
    np.maximum.at(n_in, layer, src + 1)
    np.maximum.at(n_out, layer, dst + 1)
    return [(int(o), int(i)) for o, i in zip(n_out, n_in, strict=True)]


# --------------------------------------------------------------------------------------------------- GraphML
def write_graphml(obj: Any, path: str | os.PathLike) -> Path:
    """Write GraphML through networkx (node attributes ``layer``, ``index``, ``bipartite``)."""
    import networkx as nx

    path = Path(path)
    with atomic_write(path, "wb") as f:
        nx.write_graphml(to_networkx(obj), f)
    return path


def read_graphml(path: str | os.PathLike) -> LayerStack:
    """Read GraphML written by :func:`write_graphml`, or any GraphML with a ``bipartite`` node attribute.

    The file's size is checked against the memory available before it is parsed, its attributes by
    :func:`from_networkx` before any mask is allocated.
    """
    import networkx as nx

    path = Path(path)
    _text_size(path, GRAPHML_BYTES_PER_BYTE, "GraphML file")
    try:
        try:
            g = nx.read_graphml(path, node_type=int)
        except ValueError:  # node ids that are not integers
            g = nx.read_graphml(path)
    except Exception as e:  # the XML parser and networkx raise assorted errors on foreign files
        raise DstnetError(f"{path}: unreadable GraphML ({_one_line(e)})") from None
    return from_networkx(g, source=str(path))


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__


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
    if not Path(path).is_file():
        raise DstnetError(f"{path}: no such file" if not Path(path).exists() else f"{path}: not a file")
    return FORMATS[fmt][1](path)
