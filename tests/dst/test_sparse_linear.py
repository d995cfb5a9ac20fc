"""The truly sparse linear layer against torch's dense products: forward, input and value gradients, gradcheck."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from netsci_dst.dst.sparse_linear import SparseLinear, SparseTopology, sparse_linear
from netsci_dst.errors import DstnetError


def random_layer(n_out, n_in, density, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    mask = torch.rand(n_out, n_in, generator=g) < density
    weight = torch.randn(n_out, n_in, generator=g, dtype=dtype) * mask
    bias = torch.randn(n_out, generator=g, dtype=dtype)
    return mask, weight, bias


def test_topology_indices_on_a_hand_made_mask():
    mask = np.array([[0, 1, 1], [0, 0, 0], [1, 0, 1]], dtype=bool)
    t = SparseTopology(mask)
    assert t.nnz == 4 and t.shape == (3, 3)
    assert t.indptr.tolist() == [0, 2, 2, 4] and t.cols.tolist() == [1, 2, 0, 2]
    assert t.colptr.tolist() == [0, 1, 2, 4] and t.rows_t.tolist() == [2, 0, 0, 2]
    assert t.perm.tolist() == [2, 0, 1, 3]  # column order of the CSR links
    assert t.flat_index().tolist() == [1, 2, 6, 8] and np.array_equal(t.mask(), mask)


def test_values_on_a_hand_made_layer():
    mask = torch.tensor([[0, 1, 1], [0, 0, 0], [1, 0, 1]], dtype=torch.bool)
    weight = torch.tensor([[0.0, 2.0, -1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.5]])
    layer = SparseLinear(mask, weight, torch.tensor([0.0, 1.0, -1.0]))
    assert layer.values.tolist() == [2.0, -1.0, 3.0, 0.5]
    x = torch.tensor([[1.0, 2.0, 4.0]], requires_grad=True)
    y = layer(x)
    assert y.tolist() == [[0.0, 1.0, 4.0]]  # [2*2 - 4, 0 + 1, 3 + 2 - 1]
    y.sum().backward()
    assert x.grad.tolist() == [[3.0, 2.0, -0.5]]
    assert layer.values.grad.tolist() == [2.0, 4.0, 1.0, 4.0]  # dy = 1: the inputs of each link
    assert layer.bias.grad.tolist() == [1.0, 1.0, 1.0]


@settings(max_examples=25, deadline=None)
@given(
    n_out=st.integers(1, 40),
    n_in=st.integers(1, 40),
    batch=st.integers(1, 9),
    density=st.sampled_from([0.0, 0.05, 0.3, 1.0]),
    seed=st.integers(0, 2**16),
)
def test_equals_the_dense_masked_layer(n_out, n_in, batch, density, seed):
    mask, weight, bias = random_layer(n_out, n_in, density, seed)
    dense = nn.Linear(n_in, n_out).double()
    with torch.no_grad():
        dense.weight.copy_(weight)
        dense.bias.copy_(bias)
    sparse = SparseLinear(mask, weight, bias)
    x = torch.randn(batch, n_in, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    xd, xs = x.clone().requires_grad_(), x.clone().requires_grad_()
    up = torch.randn(batch, n_out, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 2))
    (dense(xd) * up).sum().backward()
    ys = sparse(xs)
    (ys * up).sum().backward()
    torch.testing.assert_close(ys, dense(x), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(xs.grad, xd.grad, rtol=1e-12, atol=1e-12)
    links = torch.from_numpy(sparse.topology.flat_index())
    torch.testing.assert_close(sparse.values.grad, dense.weight.grad.reshape(-1)[links], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sparse.bias.grad, dense.bias.grad)
    torch.testing.assert_close(sparse.dense_weight(), weight)


def test_gradcheck_in_float64():
    mask, weight, _ = random_layer(7, 5, 0.4, seed=3)
    topology = SparseTopology(mask)
    values = weight.reshape(-1)[torch.from_numpy(topology.flat_index())].clone().requires_grad_()
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, v, b: sparse_linear(x, v, topology, b), (x, values, bias))


def test_float32_matches_dense_to_round_off_and_leading_dims():
    mask, weight, bias = random_layer(64, 48, 0.1, seed=5, dtype=torch.float32)
    layer = SparseLinear(mask, weight, bias)
    x = torch.randn(3, 8, 48)
    torch.testing.assert_close(layer(x), x @ weight.T + bias, rtol=1e-5, atol=1e-5)
    assert "links=" in repr(layer)


def test_bad_inputs_are_refused():
    mask, weight, _ = random_layer(4, 3, 0.5, seed=1, dtype=torch.float32)
    layer = SparseLinear(mask, weight)
    with pytest.raises(DstnetError, match="float"):
        layer(torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(DstnetError, match="bool"):
        SparseTopology(np.zeros((2, 2)))
    with pytest.raises(DstnetError, match="shape"):
        SparseLinear(mask, torch.zeros(3, 4))


def test_an_empty_batch_gives_empty_outputs_and_zero_gradients():
    mask, weight, bias = random_layer(6, 5, 0.5, seed=4)
    layer = SparseLinear(mask, weight, bias)
    x = torch.zeros(0, 5, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    assert y.shape == (0, 6)
    y.sum().backward()
    assert x.grad.shape == (0, 5) and torch.all(layer.values.grad == 0) and torch.all(layer.bias.grad == 0)


def test_large_layers_use_the_multithreaded_kernels_with_the_same_results(monkeypatch):
    from netsci_dst.dst import sparse_linear as module

    mask, weight, bias = random_layer(300, 200, 0.3, seed=5, dtype=torch.float32)
    x = torch.randn(64, 200, generator=torch.Generator().manual_seed(6))
    results = []
    for threshold in (1, 1 << 62):  # parallel kernels, then serial ones
        monkeypatch.setattr(module, "PARALLEL_MIN_WORK", threshold)
        layer = SparseLinear(mask, weight, bias)
        xs = x.clone().requires_grad_()
        layer(xs).square().sum().backward()
        results.append((layer(x).detach(), xs.grad, layer.values.grad))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)  # each element summed by one thread, in one order
