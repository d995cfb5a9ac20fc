"""Sparse weight initialisation (SWI) [CHT] (Zhang et al., ICLR 2024, App. E).

Kaiming initialisation keeps the variance of a neuron's pre-activation at ``gain^2 Var(x)`` when the neuron sums
``fan_in`` inputs. In a sparse layer of density ``D`` an output neuron receives on average only ``D * fan_in``
inputs, so Kaiming's ``sigma = gain / sqrt(fan_in)`` shrinks the signal by ``sqrt(D)`` per layer, which at 99 %
sparsity kills it within a few layers. SWI draws the existing links' weights from ``N(0, sigma^2)`` with::

    sigma = gain / sqrt(D * fan_in)        gain = sqrt(2) for ReLU

and sets every other entry to 0. ``fan_in`` is ``n_in`` (the second dimension of an ``(n_out, n_in)`` weight), so
``D * fan_in = nnz / n_out`` is the mean in-degree of the output neurons. This follows the paper; the authors'
released code uses ``D * n_out`` instead (the mean out-degree of the input neurons), which only coincides for square
layers: ``swi_(..., fan="out")`` and the recipes' ``swi_fan="out"`` give the code's rule.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from netsci_dst.errors import DstnetError

__all__ = ["swi_", "swi_sigma", "swi_values"]


def swi_sigma(density: float, fan_in: int, gain: float = math.sqrt(2.0)) -> float:
    """SWI's standard deviation ``gain / sqrt(density * fan_in)`` [CHT App. E]."""
    density, gain = float(density), float(gain)
    if not (math.isfinite(density) and 0.0 < density <= 1.0):
        raise DstnetError(f"density must be in (0, 1], got {density}")
    if int(fan_in) != fan_in or fan_in <= 0:
        raise DstnetError(f"fan_in must be a positive integer, got {fan_in}")
    if not (math.isfinite(gain) and gain >= 0.0):
        raise DstnetError(f"gain must be a finite number >= 0, got {gain}")
    return gain / math.sqrt(density * int(fan_in))


def _normal(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device, generator: torch.Generator | None
) -> Tensor:
    work = torch.float64 if dtype == torch.float64 else torch.float32
    return torch.randn(shape, generator=generator, dtype=work, device=device)


def swi_(
    weight: Tensor,
    mask: Tensor,
    gain: float = math.sqrt(2.0),
    generator: torch.Generator | None = None,
    *,
    fan: str = "in",
    density: float | None = None,
) -> Tensor:
    """Sparse weight initialisation in place: ``W ~ N(0, sigma^2)`` on the mask, 0 elsewhere [CHT App. E].

    ``sigma = gain / sqrt(D * fan)`` with ``D = mask.sum() / mask.numel()`` (or ``density`` when given) and
    ``fan = n_in = weight.shape[1]`` for ``fan="in"`` (the paper's rule) or ``n_out = weight.shape[0]`` for
    ``fan="out"`` (the authors' released code, mlp_and_cnn/dst_scheduler.py line 825 of
    biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5: ``sqrt(2 / ((1 - S) N / n_in))``). ``density=1``
    with ``fan="in"`` is dense Kaiming normal initialisation, masked. An empty mask zeroes the weight.
    Randomness comes only from ``generator`` (on the weight's device; ``None``: torch's default generator): one
    normal sample per entry of the full matrix is drawn, so the same generator state gives the same weights.
    Works on ``nn.Parameter`` (under ``torch.no_grad``). Returns ``weight``.
    """
    if weight.dim() != 2:
        raise ValueError(f"weight must be 2-D (n_out, n_in), got shape {tuple(weight.shape)}")
    if mask.dtype != torch.bool or mask.shape != weight.shape:
        raise ValueError(f"mask must be a bool tensor of shape {tuple(weight.shape)}")
    if mask.device != weight.device:
        raise ValueError(f"mask is on {mask.device} but weight is on {weight.device}")
    nnz = int(mask.sum())
    with torch.no_grad():
        if nnz == 0:
            weight.zero_()
            return weight
        if fan not in ("in", "out"):
            raise ValueError(f"fan must be 'in' or 'out', got {fan!r}")
        d = nnz / mask.numel() if density is None else density
        sigma = swi_sigma(d, weight.shape[1] if fan == "in" else weight.shape[0], gain)
        values = _normal(tuple(weight.shape), weight.dtype, weight.device, generator) * sigma
        weight.copy_(torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device)))
    return weight


def swi_values(
    shape_or_mask: Tensor | tuple[int, ...] | torch.Size,
    density: float,
    fan_in: int,
    gain: float = math.sqrt(2.0),
    generator: torch.Generator | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Fresh SWI samples ``N(0, (gain / sqrt(density * fan_in))^2)``, e.g. for links regrown with SWI values.

    ``shape_or_mask`` is either a shape (every entry is sampled) or a bool mask (sampled on the mask, 0 elsewhere,
    on the mask's device). ``density`` is the layer's density the values are meant for and ``fan_in`` its ``n_in``.
    The device is the mask's, else ``device``, else the generator's, else the CPU. Randomness comes only from
    ``generator``: one sample is drawn per entry of the full shape, whatever the mask.
    """
    sigma = swi_sigma(density, fan_in, gain)
    if isinstance(shape_or_mask, Tensor):
        mask = shape_or_mask
        if mask.dtype != torch.bool:
            raise ValueError(f"a mask must be a bool tensor, got {mask.dtype}")
        values = _normal(tuple(mask.shape), dtype, mask.device, generator) * sigma
        values = torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device))
        return values.to(dtype)
    shape = tuple(int(s) for s in shape_or_mask)
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    return (_normal(shape, dtype, torch.device(device), generator) * sigma).to(dtype)
