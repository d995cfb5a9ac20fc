"""A truly sparse linear layer: only the active links are stored and multiplied (CPU, numba, multi-threaded).

A layer of shape ``(n_out, n_in)`` with ``nnz`` links keeps its weights as a value vector ``values[nnz]`` in CSR
order (links sorted by output neuron ``j``, then input ``i``) plus two index structures:

* CSR: ``indptr[n_out + 1]``, ``cols[nnz]``: the links of output ``j`` are ``indptr[j]:indptr[j + 1]``;
* its transpose (CSC): ``colptr[n_in + 1]``, ``rows_t[nnz]`` and ``perm[nnz]``: the links of input ``i`` are
  ``colptr[i]:colptr[i + 1]``, link ``kk`` of that list is CSR link ``perm[kk]``.

For a batch ``x`` of shape ``(B, n_in)`` the three products of a training step each cost ``O(B * nnz)``::

    y[b, j]  = bias[j] + sum_{k in row j} values[k] x[b, cols[k]]          (forward, over CSR rows)
    dx[b, i] = sum_{kk in col i} values[perm[kk]] dy[b, rows_t[kk]]        (input gradient, over CSC columns)
    dv[k]    = sum_b dy[b, j(k)] x[b, cols[k]]                             (value gradient, one dot per link)

The kernels work on the transposed activations ``x^T`` (``n_in x B``, contiguous), so each link touches one
contiguous length-``B`` row; rows (forward, value gradient) and columns (input gradient) are spread over threads
with ``prange``; a layer that feeds another sparse layer returns its output as a transposed view, so a chain of
sparse layers transposes only its first input and the gradient coming back from a dense layer.
Every output element is accumulated in a fixed order, so results do not depend on the thread
count. No dense weight, dense gradient or dense optimizer state exists: an optimizer sees only ``values``.

This is the execution half of the sparse backend (ARCHITECTURE.md, "two execution backends"); the engine decides
which links exist. Reference for the layout: the CSR/CSC pair of any sparse BLAS; nothing here is specific to DST.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable

import numpy as np
import torch
from numba import njit, prange
from torch import Tensor, nn

from netsci_dst.errors import DstnetError
from netsci_dst.parallel import PARALLEL_KERNELS

__all__ = ["SparseLinear", "SparseTopology", "carrier", "link_carrier", "link_positions", "sparse_linear"]


# ----------------------------------------------------------------------------------------------------------------
# kernels
# ----------------------------------------------------------------------------------------------------------------


def _rows_times_py(indptr, cols, values, xT, out):  # pragma: no cover - compiled
    """out[j, :] = sum_{k in row j} values[k] * xT[cols[k], :] (out zeroed by the caller)."""
    batch = xT.shape[1]
    for j in prange(indptr.shape[0] - 1):
        for k in range(indptr[j], indptr[j + 1]):
            v = values[k]
            c = cols[k]
            for b in range(batch):
                out[j, b] += v * xT[c, b]


def _cols_times_py(colptr, rows_t, perm, values, dyT, out):  # pragma: no cover - compiled
    """out[i, :] = sum_{kk in column i} values[perm[kk]] * dyT[rows_t[kk], :] (out zeroed by the caller)."""
    batch = dyT.shape[1]
    for i in prange(colptr.shape[0] - 1):
        for kk in range(colptr[i], colptr[i + 1]):
            v = values[perm[kk]]
            r = rows_t[kk]
            for b in range(batch):
                out[i, b] += v * dyT[r, b]


def _link_dots_py(indptr, cols, dyT, xT, out):  # pragma: no cover - compiled
    """out[k] = dot(dyT[j(k), :], xT[cols[k], :]) for every link k of row j (accumulated in double precision)."""
    batch = xT.shape[1]
    for j in prange(indptr.shape[0] - 1):
        for k in range(indptr[j], indptr[j + 1]):
            c = cols[k]
            acc = 0.0
            for b in range(batch):
                acc += dyT[j, b] * xT[c, b]
            out[k] = acc


def _compiled(kernel, fastmath: bool = False) -> tuple:
    """(serial, multi-threaded) compiled variants of ``kernel``. A parallel region costs tens of microseconds to
    start, more than a small layer's whole product, so layers with fewer than :data:`PARALLEL_MIN_WORK`
    multiply-adds run on one thread. Every output element is summed by one thread in a fixed order either way, so
    results do not depend on the variant or the thread count."""

    def renamed(suffix):  # numba's on-disk cache is keyed by the function's name: one name per variant
        name = kernel.__name__ + suffix
        code = kernel.__code__.replace(co_name=name, co_qualname=name)
        return types.FunctionType(code, kernel.__globals__, name)

    return (
        njit(cache=True, nogil=True, fastmath=fastmath)(renamed("_serial")),
        njit(parallel=True, cache=True, nogil=True, fastmath=fastmath)(renamed("_parallel")),
    )


# (benchmarked on the paper MLP: this 2-D indexing beats row views and 8-wide register blocking; fastmath only
# helps the reduction of the value gradient)
_rows_times = _compiled(_rows_times_py)
_cols_times = _compiled(_cols_times_py)
_link_dots = _compiled(_link_dots_py, fastmath=True)
PARALLEL_MIN_WORK = 1 << 16


def _launch(kernels: tuple, parallel: bool, *args) -> None:
    """Run the serial or the multi-threaded variant; the latter under :data:`netsci_dst.parallel.PARALLEL_KERNELS`
    (numba's workqueue layer aborts on two parallel regions at once)."""
    if not parallel:
        kernels[0](*args)
        return
    with PARALLEL_KERNELS:
        kernels[1](*args)


# ----------------------------------------------------------------------------------------------------------------
# topology
# ----------------------------------------------------------------------------------------------------------------


class SparseTopology:
    """The index structures of one layer's links (CSR and its CSC transpose), built from a bool mask.

    Attributes:
        shape: ``(n_out, n_in)``.
        indptr, cols: CSR (int64 numpy arrays); links in row-major order of the mask.
        colptr, rows_t, perm: the CSC transpose and its map to CSR positions.
        rows: the output neuron of every CSR link (for gathering and scattering dense tensors).
    """

    def __init__(self, mask: np.ndarray | Tensor) -> None:
        if isinstance(mask, Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.ndim != 2 or mask.dtype != np.bool_:
            raise DstnetError(f"a sparse layer's mask must be a 2-D bool array, got {mask.dtype} {mask.shape}")
        rows, cols = np.nonzero(mask)  # row-major: CSR order
        self._build((int(mask.shape[0]), int(mask.shape[1])), rows.astype(np.int64), cols.astype(np.int64))

    @classmethod
    def from_flat(cls, shape: tuple[int, int], flat: np.ndarray) -> SparseTopology:
        """The topology whose links are the row-major flat indices ``flat`` (sorted ascending, unique), built
        without a dense mask: O(nnz + n_out + n_in)."""
        flat = np.asarray(flat, dtype=np.int64)
        if flat.size and (np.any(np.diff(flat) <= 0) or flat[0] < 0 or flat[-1] >= shape[0] * shape[1]):
            raise DstnetError("flat link indices must be unique, sorted and inside the layer")
        out = cls.__new__(cls)
        out._build((int(shape[0]), int(shape[1])), flat // shape[1], flat % shape[1])
        return out

    def _build(self, shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray) -> None:
        self.shape = shape
        self.rows = rows
        self.cols = cols
        self.indptr = np.zeros(self.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.rows, minlength=self.shape[0]), out=self.indptr[1:])
        self.perm = np.argsort(self.cols, kind="stable").astype(np.int64)  # CSR positions in column order
        self.rows_t = self.rows[self.perm]
        self.colptr = np.zeros(self.shape[1] + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.cols, minlength=self.shape[1]), out=self.colptr[1:])

    @property
    def nnz(self) -> int:
        return int(self.cols.shape[0])

    def flat_index(self) -> np.ndarray:
        """Row-major flat indices ``j * n_in + i`` of the links, in CSR order."""
        return self.rows * self.shape[1] + self.cols

    def mask(self) -> np.ndarray:
        out = np.zeros(self.shape, dtype=bool)
        out[self.rows, self.cols] = True
        return out


def link_carrier(old: SparseTopology, new: SparseTopology) -> Callable[[Tensor], Tensor]:
    """``carry(t)``: a per-link tensor of ``old`` (CSR order) moved to ``new``: a link present in both keeps its
    entry, a new link gets 0."""
    return carrier(*link_positions(torch.from_numpy(old.flat_index()), torch.from_numpy(new.flat_index())))


def link_positions(old_flat: Tensor, new_flat: Tensor) -> tuple[Tensor, Tensor]:
    """For sorted flat link indices: ``(pos, found)``, where ``found[k]`` says whether new link ``k`` was an old
    link and ``pos[k]`` is then its old position."""
    pos = torch.searchsorted(old_flat, new_flat).clamp_max(max(old_flat.numel() - 1, 0))
    found = old_flat[pos] == new_flat if old_flat.numel() else torch.zeros(new_flat.numel(), dtype=torch.bool)
    return pos, found


def carrier(pos: Tensor, where: Tensor) -> Callable[[Tensor], Tensor]:
    """``carry(t)`` with ``out[k] = t[pos[k]]`` where ``where[k]``, else 0."""
    src = pos[where]

    def carry(t: Tensor) -> Tensor:
        out = torch.zeros(where.numel(), dtype=t.dtype, device=t.device)
        out[where] = t.detach()[src]
        return out

    return carry


# ----------------------------------------------------------------------------------------------------------------
# autograd
# ----------------------------------------------------------------------------------------------------------------


class _SparseLinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, values: Tensor, topology: SparseTopology, sink, row_major) -> Tensor:  # type: ignore[override]
        xT = x.detach().t().contiguous()
        batch, n_out = xT.shape[1], topology.shape[0]
        # the output is its own tensor (not a view: autograd allows in-place ops on it, e.g. ReLU(inplace=True)),
        # stored n_out x B (transposed strides) when it feeds another sparse layer, row-major otherwise
        out = None if row_major else torch.empty_strided((batch, n_out), (1, batch), dtype=x.dtype).zero_()
        outT = out.t().numpy() if out is not None else np.zeros((n_out, batch), dtype=xT.numpy().dtype)
        par = topology.nnz * batch >= PARALLEL_MIN_WORK
        _launch(_rows_times, par, topology.indptr, topology.cols, values.detach().numpy(), xT.numpy(), outT)
        ctx.save_for_backward(xT, values)
        ctx.topology = topology
        ctx.sink = sink
        if row_major:
            return torch.from_numpy(np.ascontiguousarray(outT.T))
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        xT, values = ctx.saved_tensors
        topology: SparseTopology = ctx.topology
        dyT_t = grad_out.detach().t().contiguous()
        dyT = dyT_t.numpy()
        grad_x = grad_values = None
        par = topology.nnz * dyT.shape[1] >= PARALLEL_MIN_WORK
        if ctx.needs_input_grad[0]:
            dxT = np.zeros((topology.shape[1], dyT.shape[1]), dtype=dyT.dtype)
            _launch(
                _cols_times, par, topology.colptr, topology.rows_t, topology.perm, values.detach().numpy(), dyT, dxT
            )
            grad_x = torch.from_numpy(dxT).t()
        if ctx.needs_input_grad[1]:
            dv = np.zeros(topology.nnz, dtype=dyT.dtype)
            _launch(_link_dots, par, topology.indptr, topology.cols, dyT, xT.numpy(), dv)
            grad_values = torch.from_numpy(dv)
        if ctx.sink is not None:  # the dense gradient dL/dW = dy^T x, one dense product (RigL, MEST)
            ctx.sink(torch.mm(dyT_t, xT.t()))
        return grad_x, grad_values, None, None, None


def sparse_linear(
    x: Tensor,
    values: Tensor,
    topology: SparseTopology,
    bias: Tensor | None = None,
    dense_grad_sink: Callable[[Tensor], None] | None = None,
    row_major: bool = True,
) -> Tensor:
    """``x @ W^T + bias`` for the sparse ``W`` given by ``values`` (CSR order) on ``topology``; differentiable in
    ``x``, ``values`` and ``bias``. CPU tensors of one floating dtype; ``x`` of shape ``(..., n_in)``.

    ``dense_grad_sink``, when given, receives the dense ``(n_out, n_in)`` gradient ``dy^T x`` during backward
    (what a dense layer's ``weight.grad`` would be, missing links included). ``row_major=False`` returns the
    output as a transposed view (stored ``n_out x B``), which another sparse layer takes without copying but a dense
    layer multiplies up to 4x slower."""
    if x.device.type != "cpu" or values.device.type != "cpu":
        raise DstnetError("the compiled sparse kernels run on the CPU; use the dense backend on other devices")
    if x.dtype != values.dtype:
        raise DstnetError(f"x is {x.dtype} but the layer's values are {values.dtype}")
    if values.shape != (topology.nnz,):
        raise DstnetError(f"values must have shape ({topology.nnz},), got {tuple(values.shape)}")
    if x.dim() == 0 or x.shape[-1] != topology.shape[1]:
        raise DstnetError(
            f"x has {x.shape[-1] if x.dim() else 0} features per sample but the layer takes {topology.shape[1]} inputs"
        )
    lead = x.shape[:-1]
    y = _SparseLinearFunction.apply(x.reshape(-1, x.shape[-1]), values, topology, dense_grad_sink, row_major)
    if bias is not None:
        y = y + bias
    return y.reshape(*lead, topology.shape[0])


class SparseLinear(nn.Module):
    """A linear layer that stores and multiplies only its active links (see the module docstring).

    Args:
        mask: bool ``(n_out, n_in)``: which links exist.
        weight: optional dense ``(n_out, n_in)`` initial weights (only the masked entries are kept); default 0.
        bias: optional ``(n_out,)`` bias, or None for no bias. A ``nn.Parameter`` is used as it is (shared, so an
            optimizer holding it keeps working); a plain tensor is copied into a new Parameter.

    Attributes:
        values: the links' weights, a ``(nnz,)`` Parameter in CSR order (row-major order of the mask).
        topology: the :class:`SparseTopology`.
        capture_dense_grad: when True, the next backward pass also stores the dense gradient ``dL/dW`` (summed
            over the layer's calls) in :attr:`dense_grad`; set it for one step only (it costs a dense product).
        feeds_sparse: when True the output is returned as a transposed view, which the next
            :class:`SparseLinear` reads without a copy (the DST engine sets it for layers whose consumers in the
            percolation structure are all sparse); default False: an ordinary row-major output. A transposed output
            is an ordinary tensor for every elementwise op (in-place ones included) and for ``reshape``; only
            ``.view`` calls that merge its dimensions need ``.reshape`` (or ``.contiguous()``) instead.

    The state dict has the keys of a masked dense layer, ``weight`` (dense, zeros off the links), ``weight_mask``
    and ``bias``, so checkpoints move between this layer and ``nn.Linear`` + mask; loading one rebuilds the
    topology from ``weight_mask`` (the ``values`` Parameter object stays, with new data).
    """

    def __init__(self, mask: np.ndarray | Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> None:
        super().__init__()
        self.topology = SparseTopology(mask)
        n_out, n_in = self.topology.shape
        self.in_features, self.out_features = n_in, n_out
        dtype = weight.dtype if weight is not None else torch.float32
        values = torch.zeros(self.topology.nnz, dtype=dtype)
        if weight is not None:
            if tuple(weight.shape) != self.topology.shape:
                raise DstnetError(f"weight has shape {tuple(weight.shape)}, the mask {self.topology.shape}")
            values = weight.detach().reshape(-1)[torch.from_numpy(self.topology.flat_index())].clone()
        self.values = nn.Parameter(values)
        if bias is None or isinstance(bias, nn.Parameter):
            self.bias = bias
        else:
            self.bias = nn.Parameter(bias.detach().clone().to(dtype))
        self.capture_dense_grad = False
        self.feeds_sparse = False
        self.dense_grad: Tensor | None = None
        self._values_hooks: list[Callable[[nn.Parameter, nn.Parameter, Callable[[Tensor], Tensor]], None]] = []

    @classmethod
    def from_linear(cls, linear: nn.Linear, mask: np.ndarray | Tensor) -> SparseLinear:
        """The sparse equivalent of ``linear`` restricted to ``mask`` (sharing its bias Parameter)."""
        return cls(mask, linear.weight, linear.bias)

    def _sink(self, grad: Tensor) -> None:
        self.dense_grad = grad if self.dense_grad is None else self.dense_grad + grad

    def forward(self, x: Tensor) -> Tensor:
        sink = self._sink if self.capture_dense_grad and torch.is_grad_enabled() else None
        return sparse_linear(x, self.values, self.topology, self.bias, sink, row_major=not self.feeds_sparse)

    def set_topology(
        self, topology: SparseTopology, values: Tensor, carry: Callable[[Tensor], Tensor] | None = None
    ) -> None:
        """Replace the links and their weights (``values`` in the new CSR order).

        ``values`` becomes a *new* Parameter (a Parameter cannot change its length safely: autograd caches its
        shape while any graph that used it is alive). ``carry`` maps a per-link tensor of the old topology to the
        new one (default: links present in both keep their entry, new links get 0); it moves the gradient, and
        every hook registered with :meth:`register_values_hook` gets ``(old, new, carry)`` to move what it holds
        (the DST engine moves the optimizer's Parameter and state).
        """
        if tuple(topology.shape) != self.topology.shape:
            raise DstnetError(f"new topology has shape {topology.shape}, the layer {self.topology.shape}")
        if values.shape != (topology.nnz,):
            raise DstnetError(f"values must have shape ({topology.nnz},), got {tuple(values.shape)}")
        if carry is None:
            carry = link_carrier(self.topology, topology)
        old = self.values
        new = nn.Parameter(values.detach().to(dtype=old.dtype), requires_grad=old.requires_grad)
        if old.grad is not None:
            new.grad = carry(old.grad)
        self.topology = topology
        self.values = new
        for hook in self._values_hooks:
            hook(old, new, carry)

    def __getstate__(self) -> dict:
        """Copies and pickles leave the hooks behind: they belong to the engine driving this layer."""
        state = dict(self.__dict__)
        state["_values_hooks"] = []
        return state

    def __deepcopy__(self, memo: dict) -> SparseLinear:
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        for key, value in self.__getstate__().items():
            clone.__dict__[key] = copy.deepcopy(value, memo)
        return clone

    def register_values_hook(self, hook: Callable[[nn.Parameter, nn.Parameter, Callable[[Tensor], Tensor]], None]):
        """Call ``hook(old, new, carry)`` whenever :meth:`set_topology` replaces the ``values`` Parameter."""
        self._values_hooks.append(hook)

    def dense_weight(self) -> Tensor:
        """The ``(n_out, n_in)`` dense weight (zeros off the links), for checks and export."""
        out = torch.zeros(self.topology.shape, dtype=self.values.dtype)
        out.view(-1)[torch.from_numpy(self.topology.flat_index())] = self.values.detach()
        return out

    def mask(self) -> Tensor:
        """The ``(n_out, n_in)`` bool mask of the links."""
        return torch.from_numpy(self.topology.mask())

    # state dict: the keys of a masked nn.Linear -------------------------------------------------------------
    def _save_to_state_dict(self, destination, prefix, keep_vars):  # type: ignore[override]
        destination[prefix + "weight"] = self.dense_weight()
        destination[prefix + "weight_mask"] = self.mask()
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias if keep_vars else self.bias.detach()

    def _load_from_state_dict(  # type: ignore[override]
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        names = ["weight", "weight_mask"] + (["bias"] if self.bias is not None else [])
        present = {n: state_dict[prefix + n] for n in names if prefix + n in state_dict}
        missing_keys.extend(prefix + n for n in names if n not in present)
        if strict:
            for key in state_dict:
                if key.startswith(prefix) and "." not in key[len(prefix) :] and key[len(prefix) :] not in names:
                    unexpected_keys.append(key)
        shape = self.topology.shape
        if "weight" in present and "weight_mask" in present:
            weight, mask = present["weight"], present["weight_mask"]
            if tuple(weight.shape) != shape or tuple(mask.shape) != shape or mask.dtype != torch.bool:
                error_msgs.append(
                    f"size mismatch for {prefix}weight/weight_mask: expected {shape} (mask bool), got "
                    f"{tuple(weight.shape)} and {tuple(mask.shape)} {mask.dtype}"
                )
            else:
                topology = SparseTopology(mask)
                flat = torch.from_numpy(topology.flat_index())
                values = weight.detach().reshape(-1)[flat].to(self.values.dtype)
                with torch.no_grad():
                    if np.array_equal(topology.flat_index(), self.topology.flat_index()):
                        self.values.copy_(values)
                    else:
                        self.set_topology(topology, values.clone())
        if "bias" in present:
            bias = present["bias"]
            if bias.shape != self.bias.shape:
                error_msgs.append(f"size mismatch for {prefix}bias: {tuple(bias.shape)} != {tuple(self.bias.shape)}")
            else:
                with torch.no_grad():
                    self.bias.copy_(bias)

    def extra_repr(self) -> str:
        n_out, n_in = self.topology.shape
        density = self.topology.nnz / (n_out * n_in)
        return f"in_features={n_in}, out_features={n_out}, links={self.topology.nnz}, density={density:.4g}"
