"""Zeroing a dense tensor outside a layer's links, exactly and NaN-safely, at the cost its density calls for.

The dense-with-masks backend zeroes the gradient of every missing link at every optimizer step (and, in strict
mode, the weights and optimizer state too). The result must be exactly 0 outside the mask whatever was there (NaN
and infinity included: ``tensor * mask`` would keep ``NaN * 0 = NaN``) and bit-identical on the links. Two exact
ways, each the fastest in its own range of density:

- **gather/scatter** reads only the links (``index_select``), zeroes the tensor (a memset) and writes the links
  back (``index_copy_``): its cost grows with the number of links, so it wins at the papers' 1-5% density.
- **bit mask** reinterprets the tensor's bits as integers of the same width and multiplies them by the boolean
  mask (``bits * 1`` keeps every bit, ``bits * 0`` is the bit pattern of +0.0): one streaming pass whose cost does
  not depend on the density, no extra memory, so it wins on dense-ish layers such as CHTss's (which starts at
  50% density) or a Transformer's at 70% sparsity.

:data:`GATHER_MAX_DENSITY` is the crossover measured on one CPU thread for a 1568 x 1568 layer of the paper MLP
(``python benchmarks/bench_masking.py``): the bit mask is 3-6x faster at 50% density, the two are level near 5%
(this crossover), and gather/scatter is 2-3x faster at 1%. ``masked_fill_`` is slower than both on CPU at every
density (its random branch pattern defeats vectorisation).
"""

from __future__ import annotations

import torch

#: Above this share of links, :func:`keep_links_only` uses the bit mask; at or below it, gather/scatter.
GATHER_MAX_DENSITY = 0.05

#: The integer type whose width equals each floating type's, for the bit-mask reinterpretation.
_SAME_WIDTH_INT = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def zero_outside_by_bits(tensor: torch.Tensor, mask: torch.Tensor) -> None:
    """Set ``tensor`` to +0.0 outside the boolean ``mask`` (same shape), in place, keeping the links' bits.

    Works on any strides: a same-width dtype view shares the tensor's layout. Integer and boolean tensors are
    multiplied directly (their zero is the all-zero pattern too); a floating type without a same-width integer
    here (float8, complex) is masked with ``masked_fill_``.
    """
    if not tensor.is_floating_point() and not tensor.is_complex():
        tensor.mul_(mask)
    elif tensor.dtype in _SAME_WIDTH_INT:
        tensor.view(_SAME_WIDTH_INT[tensor.dtype]).mul_(mask)
    else:
        tensor.masked_fill_(~mask, 0)


def zero_outside_by_gather(tensor: torch.Tensor, index: torch.Tensor) -> None:
    """Set contiguous ``tensor`` to 0 outside the flat positions ``index`` (sorted or not), in place."""
    flat = tensor.view(-1)
    values = flat.index_select(0, index)
    tensor.zero_()
    flat.index_copy_(0, index, values)


def keep_links_only(tensor: torch.Tensor, mask: torch.Tensor, index: torch.Tensor) -> None:
    """Set every entry of ``tensor`` outside the links to exactly 0 (NaN-safe), in place.

    Args:
        tensor: the dense tensor to clean (a weight, its gradient, an optimizer buffer), shaped like ``mask``.
        mask: the boolean link mask.
        index: the flat positions of the links (``mask.reshape(-1).nonzero().squeeze(1)``), which callers cache.

    Gather/scatter at density <= :data:`GATHER_MAX_DENSITY` on a contiguous tensor, the bit mask otherwise.
    """
    if tensor.is_contiguous() and index.numel() <= GATHER_MAX_DENSITY * tensor.numel():
        zero_outside_by_gather(tensor, index)
    else:
        zero_outside_by_bits(tensor, mask)
