"""The data model: masks, stacks, conversions and file round trips."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netsci_dst.errors import DstnetError
from netsci_dst.graph import (
    LayerStack,
    as_mask,
    density,
    from_igraph,
    from_networkx,
    load,
    mask_from_scipy,
    mask_to_scipy,
    read_edgelist,
    save,
    to_igraph,
    to_networkx,
)

# A 3x4 layer: input i -> output j where mask[j, i].
TINY = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)


def random_mask(seed: int, n_out: int, n_in: int, p: float) -> np.ndarray:
    return np.random.default_rng(seed).random((n_out, n_in)) < p


@st.composite
def stacks(draw):
    n_layers = draw(st.integers(1, 3))
    sizes = draw(st.lists(st.integers(1, 9), min_size=n_layers + 1, max_size=n_layers + 1))
    seed = draw(st.integers(0, 10_000))
    p = draw(st.floats(0.0, 1.0))
    masks = [random_mask(seed + k, sizes[k + 1], sizes[k], p) for k in range(n_layers)]
    return LayerStack(masks, meta={"seed": seed})


def test_as_mask_accepts_numpy_torch_scipy_and_rejects_1d():
    assert as_mask(TINY.astype(int)).dtype == bool
    assert np.array_equal(as_mask(torch.from_numpy(TINY)), TINY)
    assert np.array_equal(as_mask(sp.csr_matrix(TINY)), TINY)
    with pytest.raises(DstnetError, match="2-D"):
        as_mask(np.ones(3))


def test_density_and_scipy_roundtrip():
    assert density(TINY) == pytest.approx(3 / 12)
    m = mask_to_scipy(TINY)
    assert m.shape == (3, 4) and m.nnz == 3
    assert np.array_equal(mask_from_scipy(m), TINY)


def test_networkx_node_numbering_and_orientation():
    g = to_networkx(TINY)
    # inputs 0..3 (layer 0), outputs 4..6 (layer 1); link input 0 -> output 0 is edge (0, 4)
    assert sorted(g.edges()) == [(0, 4), (1, 5), (3, 4)]
    assert g.nodes[5] == {"layer": 1, "index": 1, "bipartite": 1}
    assert g.number_of_nodes() == 7  # the isolated neurons are kept


def test_chain_shares_neurons_in_graph_views():
    a = random_mask(0, 5, 4, 0.5)
    b = random_mask(1, 3, 5, 0.5)
    g = to_networkx([a, b])
    assert g.number_of_nodes() == 4 + 5 + 3
    assert g.number_of_edges() == a.sum() + b.sum()
    ig = to_igraph([a, b])
    assert ig.vcount() == 12 and ig.ecount() == a.sum() + b.sum()


@settings(max_examples=40, deadline=None)
@given(stacks())
def test_conversions_round_trip(stack):
    assert from_networkx(to_networkx(stack)).equals(stack)
    assert from_igraph(to_igraph(stack)).equals(stack)


@settings(max_examples=25, deadline=None)
@given(stacks(), st.sampled_from(["t.npz", "t.edges", "t.graphml"]))
def test_files_round_trip(tmp_path_factory, stack, name):
    path = tmp_path_factory.mktemp("rt") / name
    save(stack, path)
    back = load(path)
    assert back.equals(stack)
    if name.endswith(".npz"):
        assert back.meta == stack.meta


def test_non_chain_stack_round_trips_and_reports_not_chain(tmp_path):
    q = random_mask(2, 6, 6, 0.4)
    v = random_mask(3, 4, 6, 0.4)
    assert LayerStack([q, v]).is_chain  # shapes fit, so a chain is inferred...
    stack = LayerStack([q, v], ["q", "v"], chain=False)  # ...unless said otherwise
    assert not stack.is_chain
    with pytest.raises(DstnetError, match="chain"):
        _ = stack.sizes
    assert from_networkx(to_networkx(stack)).equals(stack)
    for name in ("s.graphml", "s.npz", "s.edges"):
        save(stack, tmp_path / name)
        assert load(tmp_path / name).equals(stack)


def test_plain_bipartite_networkx_graph():
    g = nx.Graph()
    g.add_nodes_from(["a", "b"], bipartite=0)
    g.add_nodes_from(["x", "y", "z"], bipartite=1)
    g.add_edges_from([("a", "y"), ("z", "b")])
    stack = from_networkx(g)
    assert np.array_equal(stack[0], np.array([[0, 0], [1, 0], [0, 1]], dtype=bool))
    g.add_edge("a", "b")
    with pytest.raises(DstnetError, match="not bipartite"):
        from_networkx(g)


def test_read_plain_edgelist_without_header(tmp_path):
    p = tmp_path / "net.txt"
    p.write_text("0 2\n1,0\n\n# comment\n3\t1\n")
    m = read_edgelist(p)[0]
    assert m.shape == (3, 4)
    assert sorted(zip(*np.nonzero(m), strict=True)) == [(0, 1), (1, 3), (2, 0)]


@pytest.mark.parametrize(
    "content, match",
    [("0 x\n", "integer"), ("0 1\n0 1 2\n", "columns"), ("0 1 2 3\n", "2 columns"), ("-1 0\n", "negative")],
)
def test_bad_edgelists_raise(tmp_path, content, match):
    p = tmp_path / "bad.edges"
    p.write_text(content)
    with pytest.raises(DstnetError, match=match):
        read_edgelist(p)


def test_load_errors_are_user_errors(tmp_path):
    with pytest.raises(DstnetError, match="no such file"):
        load(tmp_path / "missing.npz")
    with pytest.raises(DstnetError, match="unknown file type"):
        load(tmp_path / "x.bin")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(DstnetError, match="unreadable"):
        load(bad)
    bad_xml = tmp_path / "bad.graphml"
    bad_xml.write_text("<graphml><oops")
    with pytest.raises(DstnetError, match="GraphML"):
        load(bad_xml)


def test_stack_validation():
    with pytest.raises(DstnetError):
        LayerStack([])
    with pytest.raises(DstnetError, match="do not form a chain"):
        LayerStack([TINY, TINY], chain=True)
    with pytest.raises(DstnetError, match="unique"):
        LayerStack([TINY, TINY], ["a", "a"])
    s = LayerStack([TINY], ["only"])
    assert s["only"] is s[0]
    with pytest.raises(DstnetError, match="no layer named"):
        s["nope"]


def test_files_whose_sizes_cannot_fit_are_refused_before_allocating(tmp_path):
    import time

    import numpy as np

    from netsci_dst.graph import load, load_npz

    huge = tmp_path / "huge.txt"
    huge.write_text("0 99999999999\n")  # 14 bytes asking for a 10^11-neuron layer
    t0 = time.perf_counter()
    with pytest.raises(DstnetError, match=r"100000000000x1 neurons would need 5\.9 TiB of memory"):
        load(huge)
    layers = tmp_path / "layers.txt"
    layers.write_text("5000000000 1 2\n")
    with pytest.raises(DstnetError, match="at most 10,000 layers"):
        load(layers)
    assert time.perf_counter() - t0 < 5  # refused up front, not after minutes
    fake = tmp_path / "fake.npz"
    np.savez(fake, format_version=1, names='["a"]', meta="{}", shape_0=np.array([10**6, 10**6]),
             rows_0=np.array([0]), cols_0=np.array([0]))  # fmt: skip
    with pytest.raises(DstnetError, match="TiB of memory"):
        load_npz(fake)


def test_a_mask_file_of_another_format_version_is_refused(tmp_path):
    import numpy as np

    from netsci_dst.graph import load_npz

    path = tmp_path / "future.npz"
    np.savez(path, format_version=99, names='["a"]', meta="{}", shape_0=np.array([2, 2]),
             rows_0=np.array([0]), cols_0=np.array([0]))  # fmt: skip
    with pytest.raises(DstnetError, match="mask file format 99; this dstnet reads format 1"):
        load_npz(path)


def test_graph_attributes_that_do_not_fit_are_one_line_errors():
    from netsci_dst.graph import from_networkx

    g = nx.Graph(neuron_layers="3,100000000000")
    g.add_node(0, layer=0, index=0)
    with pytest.raises(DstnetError, match="TiB of memory"):
        from_networkx(g)
    g = nx.Graph(neuron_layers="3,2")
    g.add_node("a", layer=0, index=7)
    with pytest.raises(DstnetError, match="outside the neuron layers"):
        from_networkx(g)
