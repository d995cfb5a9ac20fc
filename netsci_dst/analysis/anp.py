"""ANP, the active-neuron post-percolation rate [CHT, Zhang et al. ICLR 2024].

A neuron of a chain of sparse layers is *active* when it has at least one link in the layers it belongs to (the
input pixels count, as in the authors' released code). ANP of a neuron layer = active neurons / neurons; the
overall ANP pools every neuron layer of the chain, input included:

    ANP = sum_g |{p : deg_g(p) > 0}| / sum_g n_g
"""

from __future__ import annotations

from typing import Any

import numpy as np

from netsci_dst.graph import LayerStack, as_mask


def layer_labels(n_groups: int, chain: bool = True, last_is_output: bool = True) -> list[str]:
    """Names of the neuron layers of a stack: ``input``, ``hidden 1``, ..., and ``output`` for the last one of a
    chain, or ``hidden N`` when ``last_is_output`` is false (the sparse chain feeds further, dense layers: see
    :func:`ends_at_output`); ``neurons`` for a single group, ``group 0``, ``group 1``, ... for independent layers."""
    if not chain:
        return [f"group {g}" for g in range(n_groups)]
    if n_groups == 1:
        return ["neurons"]
    last = ["output"] if last_is_output else [f"hidden {n_groups - 1}"]
    return ["input"] + [f"hidden {g}" for g in range(1, n_groups - 1)] + last


def ends_at_output(config: dict[str, Any], n_layers: int) -> bool:
    """Whether the last of a chain of ``n_layers`` sparse layers produces the network's output, from a training
    run's configuration: its ``sizes`` (neuron layers of the whole MLP, ``784,1568,1568,1568,10``) have more than
    ``n_layers + 1`` entries when dense layers follow (the package's MLP keeps its output layer dense). True when
    the configuration does not say (a mask file)."""
    sizes = config.get("sizes") or (config.get("train") or {}).get("sizes")
    return not (isinstance(sizes, (list, tuple)) and len(sizes) > n_layers + 1)


def neuron_degrees(masks: list[Any]) -> list[np.ndarray]:
    """Total degree of every neuron of a chain: ``[inputs of layer 0, outputs of 0 = inputs of 1, ..., outputs]``."""
    ms = [as_mask(m) for m in masks]
    degs = [ms[0].sum(axis=0, dtype=np.int64)]
    for k, m in enumerate(ms):
        d = m.sum(axis=1, dtype=np.int64)
        if k + 1 < len(ms):
            d = d + ms[k + 1].sum(axis=0, dtype=np.int64)
        degs.append(d)
    return degs


def anp(stack: LayerStack | list[Any]) -> dict[str, Any]:
    """ANP per neuron layer and overall for a chain of masks.

    Returns ``{"per_layer": [rate of neuron layer 0 (inputs), 1, ...], "active": [...], "sizes": [...],
    "overall": pooled rate}``.
    """
    masks = stack.masks if isinstance(stack, LayerStack) else list(stack)
    if isinstance(stack, LayerStack):
        stack.require_chain()
    degs = neuron_degrees(masks)
    active = [int((d > 0).sum()) for d in degs]
    sizes = [int(d.size) for d in degs]
    return {
        "per_layer": [a / s if s else 0.0 for a, s in zip(active, sizes, strict=True)],
        "active": active,
        "sizes": sizes,
        "overall": sum(active) / sum(sizes) if sum(sizes) else 0.0,
    }


def anp_structure(masks: dict[str, Any], structure: Any) -> dict[str, Any]:
    """ANP of the internal units of a network that is not a plain chain (a Transformer), from its percolation
    :class:`~netsci_dst.dst.percolation.Structure`.

    The units are the outputs of every coupled group (q/k: unit ``j`` is row ``j`` of every member) and of every
    producer (v feeding the output projection, w_1 feeding w_2). A unit is active when it has an incoming link in
    every member of its group and, if the group feeds consumers, an outgoing link in at least one of them: the
    neurons that survive percolation. Layers whose outputs leave the structure (the output projection, w_2,
    writing into the residual stream) have no units of their own.

    Returns ``{"per_group": {first member: rate}, "active": {...}, "sizes": {...}, "overall": pooled rate}``.
    """
    ms = {name: as_mask(m) for name, m in masks.items()}
    groups: list[tuple[str, ...]] = []
    seen: set[str] = set()
    for name in structure.layers:
        group = tuple(structure.group(name))
        if name in seen or (len(group) == 1 and not structure.consumers(name)):
            continue
        seen.update(group)
        groups.append(group)
    active: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for group in groups:
        alive = np.ones(ms[group[0]].shape[0], dtype=bool)
        fed = None
        for member in group:
            alive &= ms[member].any(axis=1)
            for consumer in structure.consumers(member):
                col = ms[consumer].any(axis=0)
                fed = col if fed is None else fed | col
        if fed is not None:
            alive &= fed
        active[group[0]] = int(alive.sum())
        sizes[group[0]] = int(alive.size)
    total = sum(sizes.values())
    return {
        "per_group": {k: active[k] / sizes[k] if sizes[k] else 0.0 for k in sizes},
        "active": active,
        "sizes": sizes,
        "overall": sum(active.values()) / total if total else 0.0,
    }
