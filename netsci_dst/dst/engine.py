"""The dynamic sparse training engine: masks on a model's Linear layers, kept sparse through an ordinary loop.

:class:`DSTEngine` attaches a boolean mask to each chosen ``nn.Linear`` or Hugging Face ``Conv1D`` (registered as
the buffer ``weight_mask`` in the layer's own weight layout, so it travels in ``model.state_dict()``), initialises
the masks with a topology generator and the weights with sparse weight initialisation (SWI), and hooks the
optimizer so that a plain loop stays unchanged::

    engine = DSTEngine(model, optimizer, "chts", density=0.01, total_steps=n_steps, update_interval=1875)
    for x, y in loader:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()          # masks gradients, then every update_interval steps evolves the topology

What the hooks do (ALGORITHMS.md §2):

* before every optimizer step: the inactive entries of each sparse weight's gradient are set to exactly 0 with
  ``masked_fill`` (NaN-safe, unlike multiplying by the mask). On the step just before a topology update, methods
  that need it (RigL's gradient regrowth, MEST's ``|W| + lambda |grad|``) first keep a copy of the dense gradient:
  the forward pass uses the exactly-zero inactive weights, so the gradient of a missing link is its true dense
  gradient. No dense gradient is gathered on other steps.
* after every optimizer step: the step is counted and, when due, one topology update runs.

Why inactive weights and optimizer state stay exactly 0 between updates: for SGD (momentum, dampening, Nesterov,
weight decay), Adam, AdamW, NAdam, RAdam (amsgrad included), RMSprop, Adagrad and Adadelta (:data:`ZERO_PRESERVING`,
subclasses included) every per-entry quantity is a function of that entry's gradient, weight and state only; with a
0 gradient, 0 weight and 0 state the step writes 0 again (Adam: ``0 / (sqrt(0) + eps) = 0``; decoupled decay:
``0 * (1 - lr wd) = 0``). The engine therefore zeroes weights and state only when the topology changes (and at
attach/load). Any other optimizer is accepted as well: its per-entry state is every state tensor shaped like the
weight, and the engine re-zeroes missing links after every step (what ``strict=True`` asks for any optimizer), at
the cost of a few passes over the weights. Only :data:`UNSUPPORTED_OPTIMIZERS` (LBFGS, Rprop, SparseAdam) are
refused, with the reason; so is a second engine on an optimizer that already drives one.

One topology update (every ``update_interval`` steps, for steps ``< T_end = topology_end_fraction * total_steps``,
until the topology freezes):

1. prune to the scheduled density, when the schedule asks for fewer links (``prune_removal``, CHTss: RI; EM&S:
   ``int(nnz (1 - S - D) / (1 - S))`` links, see :class:`~netsci_dst.dst.schedules.EMSSchedule`);
2. remove ``int(zeta_t * nnz)`` links by the configured rule (WM, SET, RI, MEST, soft), truncated as in the
   authors' code;
3. network percolation over the layer structure (CHT family);
4. regrow exactly the links needed to reach the scheduled link count (EM&S: ``int(extra_t * n_in * n_out)``
   links, nothing at the last update), by CH scores on the mask after 1-3;
5. new links get weight 0 (or SWI values) and zero optimizer state; removed links' weights and state are zeroed.
   With ``readded_keep_weight`` (the authors' code) a link removed and regrown by the same update keeps its weight
   and state: only links absent before the update start from 0.

With ``skip_step_on_update`` (the authors' MLP loop) the optimizer step of the step that triggers an update does
nothing: the engine hides every gradient from the optimizer for that step and gives them back afterwards.

The history (:attr:`DSTEngine.history`) has one row per update and layer; the removed and regrown index sets of
the latest update are kept in :attr:`DSTEngine.latest`. CHT's topological early stop flags a layer whose overlap
``|removed ∩ regrown| / |regrown|`` exceeds the threshold (0.9); once every layer is flagged the topology freezes.
"""

from __future__ import annotations

import copy
import math
import numbers
import re
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from netsci_dst.backends import BACKENDS
from netsci_dst.dst.history import LayerUpdate, layer_update, read_history, update_totals
from netsci_dst.dst.init import swi_, swi_values
from netsci_dst.dst.masking import keep_links_only
from netsci_dst.dst.methods import MethodConfig, get_method
from netsci_dst.dst.percolation import Structure, active_neurons, percolate
from netsci_dst.dst.regrowth import select_regrowth
from netsci_dst.dst.removal import select_removal
from netsci_dst.dst.schedules import (
    DensitySchedule,
    EMSSchedule,
    cosine_zeta,
    linear,
    linear_temperature,
    soft_temperature,
)
from netsci_dst.dst.sparse_linear import SparseLinear, SparseTopology, carrier, link_positions
from netsci_dst.dst.structures import infer_structure, is_sequential_container
from netsci_dst.errors import DstnetError
from netsci_dst.seeds import check_seed
from netsci_dst.topology import generate
from netsci_dst.topology._common import link_count
from netsci_dst.topology.er import erk_densities

__all__ = [
    "AUTO_SPARSE_DENSITY",
    "BACKENDS",
    "DSTEngine",
    "UNSUPPORTED_OPTIMIZERS",
    "ZERO_PRESERVING",
    "select_sparse_layers",
]


#: ``backend="auto"`` computes sparse on the CPU at this overall density or below: from the start when the initial
#: masks are this sparse, else from the first topology update that brings the density down to it (the decaying
#: schedules: CHTss starts at 0.5). Measured on the paper MLP at batch 32 (2 cores): the sparse step takes
#: 0.31-0.36x the dense one at density 0.1, 0.6x at 0.2, about 0.1x at 0.01 and several times the dense one at 0.5
#: (benchmarks/bench_sparse.py); models whose step is mostly dense work choose for themselves (the Transformer
#: trainer's auto is dense).
AUTO_SPARSE_DENSITY = 0.1

#: Optimizers for which a zero gradient on a zero weight with zero per-entry state gives zero again, so a missing
#: link's weight and state stay exactly 0 between updates with no extra work (checked for each by the engine's
#: invariant tests; subclasses count). Any other optimizer is accepted too: the engine then re-zeroes missing links'
#: weights and state after every step (as ``strict=True`` does), at the cost of a few passes over the weights.
ZERO_PRESERVING: tuple[type, ...] = (
    torch.optim.SGD,
    torch.optim.Adam,
    torch.optim.AdamW,
    torch.optim.NAdam,
    torch.optim.RAdam,
    torch.optim.RMSprop,
    torch.optim.Adagrad,
    torch.optim.Adadelta,
)

#: Optimizers that cannot keep a sparse topology consistent, with the reason.
UNSUPPORTED_OPTIMIZERS: dict[type, str] = {
    torch.optim.LBFGS: "it recomputes the loss through a closure after the engine has masked the gradients",
    torch.optim.Rprop: "its per-entry step sizes multiply: a new link's zero step size could never grow",
    torch.optim.SparseAdam: "it needs sparse gradients, and a sparse layer's weight gradient is dense",
}

STATE_FORMAT = 1

LayerSpec = None | str | Callable[[str, nn.Module], bool] | Iterable[str]


def is_transposed(module: nn.Module) -> bool:
    """Whether ``module`` is a matrix layer that stores its weight as ``(n_in, n_out)``: Hugging Face's ``Conv1D``
    (GPT-2 and its relatives: ``y = x W + b`` with ``W`` of shape ``(nx, nf)``), recognised by its class name and
    its ``nf`` attribute, so that ``transformers`` need not be installed."""
    weight = getattr(module, "weight", None)
    return (
        type(module).__name__ == "Conv1D"
        and isinstance(getattr(module, "nf", None), int)
        and isinstance(weight, torch.Tensor)
        and weight.dim() == 2
        and weight.shape[1] == module.nf
    )


def is_matrix_layer(module: nn.Module) -> bool:
    """The layers the engine can make sparse: ``nn.Linear`` (and subclasses) and Hugging Face's ``Conv1D``."""
    return isinstance(module, nn.Linear) or is_transposed(module)


def select_sparse_layers(model: nn.Module, sparse_layers: LayerSpec = None) -> list[str]:
    """Names of the matrix layers (``nn.Linear``, Hugging Face ``Conv1D``: :func:`is_matrix_layer`) of ``model``
    to make sparse.

    Args:
        model: any module.
        sparse_layers: None (every matrix layer but the last, in module order), a regular expression
            (``re.search`` on the module name), a predicate ``f(name, module) -> bool`` applied to the matrix
            layers, or an explicit list of names (kept in the given order, which defines the default percolation
            chain).
    """
    linears = [(name, mod) for name, mod in model.named_modules() if is_matrix_layer(mod)]
    known = dict(linears)
    if sparse_layers is None:
        names = [name for name, _ in linears[:-1]]
    elif isinstance(sparse_layers, str):
        try:
            pattern = re.compile(sparse_layers)
        except re.error as exc:
            raise DstnetError(f"sparse_layers: bad regular expression {sparse_layers!r}: {exc}") from None
        names = [name for name, _ in linears if pattern.search(name)]
    elif callable(sparse_layers):
        names = [name for name, mod in linears if sparse_layers(name, mod)]
    else:
        names = list(sparse_layers)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise DstnetError(
                f"sparse_layers: {unknown} are not Linear (or Conv1D) modules of the model (those: {list(known)})"
            )
        if len(set(names)) != len(names):
            raise DstnetError(f"sparse_layers: duplicate names in {names}")
    return names


def _fill_flat(tensor: torch.Tensor, flat_idx: torch.Tensor, value: Any) -> None:
    """``tensor.view(-1)[flat_idx] = value`` in place, for a scalar or one value per index.

    ``index_fill_`` / ``index_copy_`` (about 100x faster on CPU than ``__setitem__``'s ``index_put_``).
    """
    flat = tensor.view(-1) if tensor.is_contiguous() else tensor.reshape(-1)
    if isinstance(value, torch.Tensor):
        flat.index_copy_(0, flat_idx, value)
    else:
        flat.index_fill_(0, flat_idx, value)
    if not tensor.is_contiguous():
        tensor.copy_(flat.view(tensor.shape))


def _count(mask: torch.Tensor) -> int:
    return int(torch.count_nonzero(mask))


@dataclass
class _LayerWork:
    """One layer through the phases of a topology update (:meth:`DSTEngine.update`)."""

    name: str
    before: torch.Tensor  # the mask before the update
    grad: torch.Tensor | None  # the dense gradient, for the rules that read it
    pruned: int = 0  # by the density schedule
    remaining: int = 0  # links after removal, before percolation
    kept: torch.Tensor | None = None  # the mask after removal (and percolation)
    percolated: int = 0
    removed: int = 0  # pruned + removed + percolated
    regrown: int = 0
    both: int = 0  # removed and regrown
    links: int = 0  # after the update
    final: torch.Tensor | None = None  # the mask after the update


#: Parameter-group entries a checkpoint's optimizer state keeps: the schedules' (every other group setting is the
#: run's own, :meth:`DSTEngine.load_optimizer_state_dict`).
SCHEDULED_GROUP_KEYS = frozenset({"params", "lr", "initial_lr", "param_names"})


class DSTEngine:
    """Dynamic sparse training on the chosen Linear layers of any model, driven by the optimizer's step hooks.

    Args:
        model: the network (its Linear layers get masks; nothing else changes).
        optimizer: any ``torch.optim.Optimizer`` holding the sparse layers' weights but LBFGS, Rprop and
            SparseAdam (see the module docstring); one engine per optimizer.
        method: a preset name (``"fc"``, ``"set"``, ``"rigl"``, ``"mest"``, ``"cht"``, ``"chts"``, ``"chtss"``) or
            a :class:`MethodConfig`.
        density: the target overall density of the sparse layers, in (0, 1] (required unless the method is
            ``fc``, where it is ignored). Per layer: uniform, or ERK with ``density_distribution="erk"``.
        total_steps: the number of optimizer steps of the whole training (schedules are fractions of it).
        sparse_layers: which Linear layers are sparse (see :func:`select_sparse_layers`); default every Linear
            but the last, or ``structure.layers`` when a structure is given.
        structure: how the sparse layers share neurons, for percolation (chains such as v -> o, coupled groups
            such as q/k and gate/up); default: recognised from the module names for LLaMA, BERT, GPT-2 and dstnet's
            Transformer (:func:`~netsci_dst.dst.structures.infer_structure`), else each layer feeds the next (an
            MLP). When the layers' shapes do not chain and percolation is on, a structure must be given.
        data: calibration data ``(n_samples, n_features)`` (numpy or torch; images are flattened) for CSTI.
        seed: seeds the initial masks, the SWI weights and the engine's generator (removal/regrowth sampling).
        strict: also re-zero inactive weights and optimizer state after every step (not needed for the supported
            optimizers, see the module docstring; nothing to do on the sparse backend).
        backend: ``"dense"`` (masks on the dense weights), ``"sparse"`` (each sparse layer is replaced in the model
            by a :class:`~netsci_dst.dst.sparse_linear.SparseLinear` holding only its links, and the optimizer holds
            its ``values``: forward, backward and optimizer state cost O(links); CPU only) or ``"auto"`` (dense, turning
            sparse on the CPU once the masks' overall density is <= :data:`AUTO_SPARSE_DENSITY`: at the start, or
            after the update of a decaying schedule that gets there; resumed runs turn at load). Both give the same
            topology decisions; checkpoints (``model.state_dict()``, :meth:`optimizer_state_dict`,
            :meth:`state_dict`) have one format.
        **overrides: any :class:`MethodConfig` field, e.g. ``update_interval=1875``, ``linkpred="CH3-L3"``.

    Attributes:
        config: the resolved :class:`MethodConfig`.
        layers: the sparse layers' names, in order.
        structure: the percolation :class:`Structure`.
        structure_source: where it came from: ``"given"``, ``"names (llama)"`` (and bert, gpt2, dstnet: module
            names, :mod:`netsci_dst.dst.structures`), ``"shapes"`` (a sequential chain, with a warning unless the
            layers are the numbered children of one container) or ``"none"``.
        step: optimizer steps taken since attaching.
        n_updates: topology updates done so far.
        topology_end: ``T_end`` in steps (``topology_end_fraction * total_steps``): no update at or after it.
        planned_updates: topology updates in the whole training (the multiples of ``update_interval`` below
            ``min(T_end, total_steps)``; the density decays run over them).
        frozen: True once CHT's early stop has frozen the topology.
        flags: per layer, whether the layer passed the early-stop overlap threshold (sticky).
        history: one dict per update and layer: ``update``, ``step``, ``layer``, ``pruned`` (to the scheduled
            density), ``removed`` (all links taken away: pruning + removal + percolation), ``percolated``,
            ``regrown``, ``both`` (``|removed ∩ regrown|``, links removed and regrown by the update), ``overlap``
            (``both / regrown``, NaN when nothing regrew), ``links``,
            ``density``, ``active_in``, ``active_out`` (input / output neurons with at least one link in the layer;
            :meth:`layer_stats` and the ANP analysis count them after percolation).
        latest: per layer, ``{"removed": ..., "regrown": ...}`` flat (row-major) int64 indices of the latest
            update (CPU tensors), for ELM and evolution analysis.
        init_topologies: the generator actually used for each layer's initial mask.
        backend: ``"dense"`` or ``"sparse"``, the execution backend now (``"auto"`` may turn it sparse later).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        method: str | MethodConfig = "chts",
        *,
        density: float | None = None,
        total_steps: int,
        sparse_layers: LayerSpec = None,
        structure: Structure | None = None,
        data: Any = None,
        seed: int = 0,
        strict: bool = False,
        backend: str = "dense",
        **overrides: Any,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise DstnetError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.config: MethodConfig = get_method(method, **overrides)
        if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
            raise DstnetError(f"total_steps must be a positive int, got {total_steps!r}")
        total_steps, seed = int(total_steps), check_seed(seed)
        self.zero_preserving = self._check_optimizer(optimizer)
        if backend not in BACKENDS:
            raise DstnetError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.model = model
        self.optimizer = optimizer
        self.total_steps = total_steps
        self.seed = seed
        # an optimizer not known to preserve zeros gets its missing links re-zeroed after every step
        self.strict = bool(strict) or not self.zero_preserving
        self.step = 0
        self.n_updates = 0
        self.frozen = False
        self.history: list[LayerUpdate] = []
        self.latest: dict[str, dict[str, torch.Tensor]] = {}
        self.init_topologies: dict[str, str] = {}
        self._dense_grad: dict[str, torch.Tensor] = {}
        self._index_cache: dict[str, tuple[int, int, torch.Tensor]] = {}

        if not self.config.sparse:
            self.density = 1.0
            self.layers: list[str] = []
        else:
            if density is None:
                raise DstnetError(f"method {self.config.name!r} needs a density in (0, 1]")
            if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0.0 < density <= 1.0:
                raise DstnetError(f"density must be in (0, 1], got {density!r}")
            self.density = float(density)
            if sparse_layers is None and structure is not None:
                sparse_layers = list(structure.layers)
            self.layers = select_sparse_layers(model, sparse_layers)
            if not self.layers:
                raise DstnetError(
                    "no sparse layers selected (by default the model needs at least two Linear or Conv1D layers)"
                )
        self._modules: dict[str, Any] = {name: model.get_submodule(name) for name in self.layers}
        # layers storing (n_in, n_out) weights (Conv1D): the engine works on their (n_out, n_in) transposed view
        self._transposed = {name for name in self.layers if is_transposed(self._modules[name])}
        self._shapes: dict[str, tuple[int, int]] = {
            n: tuple(self._oriented(n, self._modules[n].weight).shape) for n in self.layers
        }
        self.flags: dict[str, bool] = {name: False for name in self.layers}
        self.structure = self._build_structure(structure)
        self.device = self._check_devices()
        self.backend = self._resolve_backend(backend)
        #: ``backend="auto"`` on a model the sparse backend can run: turn sparse when the density allows
        self._may_turn_sparse = backend == "auto" and self._sparse_capable()
        #: leave the turn after an update to the caller (:meth:`turn_sparse_if_due`): processes that sync masks
        self.defer_backend_turn = False
        self._check_params_in_optimizer()

        self.topology_end = self.config.topology_end_fraction * total_steps
        horizon = math.ceil(min(self.topology_end, float(total_steps)))
        self.planned_updates = max(0, (horizon - 1) // self.config.update_interval)
        shapes = [self._shapes[n] for n in self.layers]
        if self.layers and self.config.density_distribution == "erk":
            finals = erk_densities(shapes, self.density)
        else:
            finals = [self.density] * len(self.layers)
        self.final_densities: dict[str, float] = dict(zip(self.layers, finals, strict=True))
        self.schedules: dict[str, DensitySchedule | EMSSchedule] = {
            name: self._schedule(final) for name, final in self.final_densities.items()
        }
        # EM&S: each layer's nominal sparsity S (the authors' S[l]), which sets the share pruned at an update
        self.ems_sparsity: dict[str, float] = {
            name: sched.sparsity_after(None) for name, sched in self.schedules.items() if isinstance(sched, EMSSchedule)
        }
        self._hidden_grads: dict[torch.Tensor, torch.Tensor] = {}

        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(self._derived_seed("engine"))
        if self.layers:
            self._initialise(data)
        if self.backend == "sparse":
            self._to_sparse()
            self._arm_dense_grad()
        self.turn_sparse_if_due()
        self._hooks = [
            optimizer.register_step_pre_hook(self._pre_step),
            optimizer.register_step_post_hook(self._post_step),
        ]
        optimizer._dstnet_engine = weakref.ref(self)  # a second engine on this optimizer is refused

    # ------------------------------------------------------------------------------------------------------------
    # set-up
    # ------------------------------------------------------------------------------------------------------------

    @staticmethod
    def _check_optimizer(optimizer: Any) -> bool:
        """Refuse what cannot work; True when the optimizer preserves zeros by itself (see :data:`ZERO_PRESERVING`)."""
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise DstnetError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        name = f"{type(optimizer).__module__}.{type(optimizer).__name__}"
        for cls, reason in UNSUPPORTED_OPTIMIZERS.items():
            if isinstance(optimizer, cls):
                raise DstnetError(f"unsupported optimizer {name}: {reason}")
        other = getattr(optimizer, "_dstnet_engine", None)
        if other is not None and other() is not None and other()._hooks:
            raise DstnetError(
                "this optimizer already drives a DSTEngine: two engines would mask and evolve the same weights; "
                "close() the first one"
            )
        if isinstance(optimizer, torch.optim.Adagrad):  # a nonzero start of its sums is state on missing links
            return all(g.get("initial_accumulator_value", 0) == 0 for g in optimizer.param_groups)
        return isinstance(optimizer, ZERO_PRESERVING)

    def _build_structure(self, structure: Structure | None) -> Structure:
        if structure is not None:
            if not isinstance(structure, Structure):
                raise DstnetError(f"structure must be a netsci_dst.dst.percolation.Structure, got {type(structure)}")
            if sorted(structure.layers) != sorted(self.layers):
                raise DstnetError(
                    f"the structure's layers {list(structure.layers)} differ from the sparse layers {self.layers}"
                )
            shapes = {n: torch.empty(self._shapes[n], dtype=torch.bool, device="meta") for n in self.layers}
            structure.check(shapes)
            self.structure_source = "given"
            return structure
        inferred = infer_structure(self.layers) if self.layers else None
        if inferred is not None:  # LLaMA, BERT, GPT-2 or dstnet's Transformer names
            structure, family = inferred
            shapes = {n: torch.empty(self._shapes[n], dtype=torch.bool, device="meta") for n in self.layers}
            try:
                structure.check(shapes)
            except DstnetError:
                inferred = None  # the names fit, the shapes do not: not that family after all
            else:
                self.structure_source = f"names ({family})"
                return structure
        chained = all(
            self._shapes[a][0] == self._shapes[b][1] for a, b in zip(self.layers[:-1], self.layers[1:], strict=False)
        )
        if chained:
            self.structure_source = "shapes"
            if self.config.percolation and len(self.layers) > 1 and not is_sequential_container(self.layers):
                warnings.warn(
                    f"percolation treats the sparse layers {self.layers} as one chain, each feeding the next, only "
                    "because their shapes fit; pass structure=Structure(...) if that is not how they connect",
                    stacklevel=4,
                )
            return Structure.sequential(self.layers)
        if self.config.percolation:
            raise DstnetError(
                f"the sparse layers {self.layers} do not form a sequential chain (output width != next input width); "
                "pass structure=Structure(layers=..., chains=..., coupled=...) for percolation"
            )
        self.structure_source = "none"
        return Structure(layers=tuple(self.layers))

    def _check_devices(self) -> torch.device:
        devices = {self._modules[n].weight.device for n in self.layers}
        if len(devices) > 1:
            raise DstnetError(f"all sparse layers must be on one device, found {sorted(map(str, devices))}")
        return devices.pop() if devices else torch.device("cpu")

    def _check_params_in_optimizer(self) -> None:
        in_opt = {id(p) for group in self.optimizer.param_groups for p in group["params"]}
        missing = [n for n in self.layers if id(self._modules[n].weight) not in in_opt]
        if missing:
            raise DstnetError(f"the weights of sparse layer(s) {missing} are not in the optimizer")

    def _resolve_backend(self, backend: str) -> str:
        if not self.layers:
            return "dense"  # nothing is sparse
        dtypes = {self._modules[n].weight.dtype for n in self.layers}
        supported = dtypes <= {torch.float32, torch.float64}
        if backend == "sparse" and self._transposed:
            raise DstnetError(
                f"the sparse backend replaces nn.Linear layers; {sorted(self._transposed)} are Conv1D: use "
                "backend='dense' (or 'auto')"
            )
        if backend == "auto":
            return "dense"  # until the masks are sparse enough (turn_sparse_if_due)
        if backend == "sparse" and self.device.type != "cpu":
            raise DstnetError(
                f"the sparse backend runs on the CPU (its kernels are compiled with numba); the model is on "
                f"{self.device}: use backend='dense' there"
            )
        if backend == "sparse" and not supported:
            raise DstnetError(
                f"the sparse backend computes in float32 or float64; the sparse layers are {sorted(map(str, dtypes))}"
            )
        return backend

    def _sparse_capable(self) -> bool:
        """Whether the sparse backend can run these layers: CPU, float32/float64, ``nn.Linear`` (not Conv1D)."""
        dtypes = {self._modules[n].weight.dtype for n in self.layers}
        return (
            bool(self.layers)
            and self.device.type == "cpu"
            and dtypes <= {torch.float32, torch.float64}
            and not self._transposed
        )

    def turn_sparse_if_due(self) -> bool:
        """``backend="auto"``: move to the sparse backend once the overall density is at most
        :data:`AUTO_SPARSE_DENSITY` (up to a link per layer of rounding; weights, gradients and optimizer state
        carried exactly; never back). Checked at construction, after each topology update (unless
        :attr:`defer_backend_turn`: then whoever syncs the masks calls it, as the multi-process trainer does after
        taking rank 0's masks, so every process turns at the same update) and after loading a state; returns
        whether it turned now."""
        if not self._may_turn_sparse or self.backend == "sparse":
            return False
        masks = self.masks
        links = sum(int(masks[n].sum()) for n in self.layers)
        cells = sum(a * b for a, b in self._shapes.values())
        if links > AUTO_SPARSE_DENSITY * cells + len(self.layers):  # one link per layer: the masks' rounding
            return False
        self._to_sparse()
        self.backend = "sparse"
        self._arm_dense_grad()
        return True

    def _to_sparse(self) -> None:
        """Replace each sparse ``nn.Linear`` by a :class:`SparseLinear` on its mask (same bias Parameter) and hand
        the optimizer the links' ``values`` in place of the dense weight, with its state gathered at the links."""
        for name in self.layers:
            linear = self._modules[name]
            mask = linear._buffers.pop("weight_mask")
            sparse = SparseLinear.from_linear(linear, mask)
            flat = torch.from_numpy(sparse.topology.flat_index())
            if linear.weight.grad is not None:
                sparse.values.grad = linear.weight.grad.detach().reshape(-1)[flat].clone()
            self._values_replaced(linear.weight, sparse.values, lambda t, flat=flat: t.reshape(-1)[flat].clone())
            sparse.register_values_hook(self._values_replaced)
            consumers = [c for p, c in self.structure.chains if p == name]
            sparse.feeds_sparse = bool(consumers)  # transposed outputs cost a dense consumer up to 4x
            # every name the module goes by (a shared layer is one layer): all now see the sparse one
            aliases = [n for n, m in self.model.named_modules(remove_duplicate=False) if m is linear]
            for alias in aliases:
                parent, _, child = alias.rpartition(".")
                setattr(self.model.get_submodule(parent) if parent else self.model, child, sparse)
            self._modules[name] = sparse

    def _values_replaced(self, old: nn.Parameter, new: nn.Parameter, carry: Callable) -> None:
        """The optimizer holds ``new`` in place of ``old`` (a dense weight turned sparse, or a sparse layer's new
        topology), with the per-entry state moved by ``carry``."""
        for group in self.optimizer.param_groups:
            group["params"] = [new if p is old else p for p in group["params"]]
        state = self.optimizer.state.pop(old, None)
        if state:
            state = dict(state)
            for key, buf in list(state.items()):  # per-entry state: the tensors shaped like the parameter
                if isinstance(buf, torch.Tensor) and buf.shape == old.shape:
                    state[key] = carry(buf)
            self.optimizer.state[new] = state

    def _arm_dense_grad(self) -> None:
        """Sparse backend: let the layers compute the dense gradient in the next backward pass only when the next
        optimizer step triggers an update that needs it (RigL, MEST): one dense product per update."""
        if self.backend != "sparse":
            return
        due = self.config.needs_grad and self._update_due(self.step + 1)
        for name in self.layers:
            module = self._modules[name]
            module.capture_dense_grad = due
            module.dense_grad = None

    def _schedule(self, final: float) -> DensitySchedule | EMSSchedule:
        cfg = self.config
        if cfg.density_schedule == "ems":
            return EMSSchedule(final=final, extra=cfg.ems_extra, t_end=self.topology_end, interval=cfg.update_interval)
        initial = final if cfg.initial_density is None else max(cfg.initial_density, final)
        return DensitySchedule(
            kind=cfg.density_schedule,
            final=final,
            initial=initial,
            k=cfg.schedule_k,
            end_fraction=cfg.schedule_end_fraction,
        )

    def _derived_seed(self, *key: Any) -> int:
        words = [self.seed] + [sum(ord(c) << (8 * (i % 4)) for i, c in enumerate(str(k))) for k in key]
        return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> 1)

    def _init_generator(self, n_in: int, n_out: int, data: np.ndarray | None) -> tuple[str, dict[str, Any], bool]:
        """(generator name, its parameters, whether CSTI had to fall back to BSW) for one layer."""
        cfg = self.config
        name = cfg.init_topology.lower()
        params = dict(cfg.init_params)
        if name == "auto":
            if data is None:
                return "bsw", {"beta": params.get("beta", 0.25)}, True
            name = "csti"
            params = {k: v for k, v in params.items() if k == "soft"}
        if name != "csti":
            return name, params, False
        n_features = data.shape[1] if data is not None else 784  # the bundled MNIST subset
        if n_in % n_features or n_out % n_features:
            return "bsw", {"beta": 0.25}, True
        if data is not None:
            params["data"] = data
        return "csti", params, False

    def _initialise(self, data: Any) -> None:
        if data is not None:
            if isinstance(data, torch.Tensor):
                data = data.detach().cpu().numpy()
            data = np.asarray(data)
            if data.ndim < 2:
                raise DstnetError(f"data must be (n_samples, n_features), got shape {data.shape}")
            data = data.reshape(data.shape[0], -1)
        fallbacks = []
        with torch.no_grad():
            for i, name in enumerate(self.layers):
                module = self._modules[name]
                weight = self._oriented(name, module.weight)
                n_out, n_in = weight.shape
                gen_name, params, fell_back = self._init_generator(n_in, n_out, data)
                if fell_back:
                    fallbacks.append(name)
                density0 = self._initial_density(name)
                layer_seed = self._derived_seed("layer", i)
                mask_np = generate(gen_name, n_in, n_out, density0, seed=layer_seed, **params)
                self.init_topologies[name] = gen_name
                mask = torch.from_numpy(np.ascontiguousarray(mask_np, dtype=bool)).to(weight.device)
                if "weight_mask" in module._buffers:
                    del module._buffers["weight_mask"]
                elif hasattr(module, "weight_mask"):
                    raise DstnetError(f"layer {name!r} already has an attribute 'weight_mask' that is not a buffer")
                module.register_buffer("weight_mask", self._oriented(name, mask).contiguous())  # stored as the weight
                if self.config.weight_init in ("swi", "kaiming"):
                    gen = torch.Generator(device=weight.device)
                    gen.manual_seed(self._derived_seed("swi", i))
                    if self.config.weight_init == "swi":
                        swi_(weight, mask, self.config.swi_gain, generator=gen, fan=self.config.swi_fan)
                    else:  # dense Kaiming normal, masked (the authors' --init_mode kaiming)
                        swi_(weight, mask, self.config.swi_gain, generator=gen, density=1.0)
                else:
                    weight.masked_fill_(~mask, 0)
                if module.weight.grad is not None:
                    module.weight.grad.masked_fill_(~module.weight_mask, 0)
                self._zero_state(module.weight, module.weight_mask)
        if fallbacks:
            reason = (
                "no calibration data was given"
                if data is None
                else "CSTI needs layer sizes that are multiples of the data's feature count"
            )
            warnings.warn(
                f"{self.config.name}: {reason}; layers {fallbacks} start from BSW (beta 0.25) instead of CSTI, "
                "as the authors' recipes do for layers that cannot see the input",
                stacklevel=3,
            )

    def _initial_density(self, name: str) -> float:
        """The density of a layer's initial mask (EM&S: ``int((1 - S_0) N) / N``, the authors' link count)."""
        schedule = self.schedules[name]
        if isinstance(schedule, EMSSchedule):
            n_cells = self._cells(name)
            return schedule.initial_links(n_cells) / n_cells
        return schedule.density_at(0, self.planned_updates)

    # ------------------------------------------------------------------------------------------------------------
    # masks and zeroing
    # ------------------------------------------------------------------------------------------------------------

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """The masks by layer name: the live ``weight_mask`` buffers on the dense backend, fresh bool tensors built
        from the links on the sparse one."""
        if self.backend == "sparse":
            return {name: self._modules[name].mask() for name in self.layers}
        return {name: self._oriented(name, self._modules[name].weight_mask) for name in self.layers}

    def weight(self, name: str) -> torch.Tensor:
        """The dense ``(n_out, n_in)`` weight of sparse layer ``name``: the live Parameter on the dense backend (its
        transposed view for a Conv1D), a fresh tensor (zeros off the links) on the sparse one."""
        module = self._modules[name]
        return module.dense_weight() if self.backend == "sparse" else self._oriented(name, module.weight)

    def _oriented(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` (stored as layer ``name`` stores its weight) as ``(n_out, n_in)``: a view, transposed for a
        Conv1D."""
        return tensor.T if name in self._transposed else tensor

    def _native_index(self, name: str, flat_idx: torch.Tensor) -> torch.Tensor:
        """Flat indices into the ``(n_out, n_in)`` view of layer ``name`` as flat indices into its storage."""
        if name not in self._transposed:
            return flat_idx
        n_out, n_in = self._shapes[name]
        return (flat_idx % n_in) * n_out + flat_idx // n_in

    def dense_parameter_count(self) -> int:
        """The model's parameters with every sparse layer counted at its full ``n_out x n_in`` weight: the same on
        either backend (the sparse one stores only the links)."""
        held = {id(self.parameter(n)) for n in self.layers}
        others = sum(p.numel() for p in self.model.parameters() if id(p) not in held)
        return others + sum(self._cells(n) for n in self.layers)

    def describe_backend(self) -> str:
        """``"sparse backend"``, ``"dense backend"``, or for ``backend="auto"`` before a turn its schedule will reach
        ``"dense backend, sparse once the density is <= 0.1"``: for the trainers' first line."""
        cells = {n: self._cells(n) for n in self.layers}
        final = sum(self.final_densities[n] * c for n, c in cells.items()) / max(1, sum(cells.values()))
        if self.backend == "dense" and self._may_turn_sparse and final <= AUTO_SPARSE_DENSITY:
            return f"dense backend, sparse once the density is <= {AUTO_SPARSE_DENSITY:g}"
        return f"{self.backend} backend"

    def parameter(self, name: str) -> nn.Parameter:
        """The Parameter the optimizer holds for layer ``name``'s weights (``weight``, or ``values`` if sparse)."""
        module = self._modules[name]
        return module.values if self.backend == "sparse" else module.weight

    def _active_index(self, name: str) -> torch.Tensor:
        """Flat indices of the links of ``name``, cached until the mask buffer changes (tracked by its version
        counter, so in-place loads such as ``model.load_state_dict`` are seen)."""
        mask = self._modules[name].weight_mask
        key = (id(mask), mask._version)
        cached = self._index_cache.get(name)
        if cached is None or cached[:2] != key:
            cached = (*key, mask.reshape(-1).nonzero().squeeze(1))
            self._index_cache[name] = cached
        return cached[2]

    def _keep_links_only(self, name: str, tensor: torch.Tensor) -> None:
        """Set every entry of ``tensor`` outside the mask of ``name`` to exactly 0 (NaN-safe), by gather/scatter or
        by bit mask, whichever the layer's density makes faster (:func:`netsci_dst.dst.masking.keep_links_only`)."""
        keep_links_only(tensor, self._modules[name].weight_mask, self._active_index(name))

    def _zero_state(self, param: torch.Tensor, keep: torch.Tensor) -> None:
        """Zero the optimizer's per-entry state of ``param`` wherever ``keep`` is False."""
        state = self.optimizer.state.get(param)
        if not state:
            return
        drop = ~keep
        for buf in state.values():  # per-entry state: the tensors shaped like the parameter
            if isinstance(buf, torch.Tensor) and buf.shape == param.shape:
                buf.masked_fill_(drop, 0)

    def _zero_state_at(self, param: torch.Tensor, flat_idx: torch.Tensor) -> None:
        """Zero the optimizer's per-entry state of ``param`` at the given flat indices."""
        state = self.optimizer.state.get(param)
        if not state:
            return
        for buf in state.values():
            if isinstance(buf, torch.Tensor) and buf.shape == param.shape:
                _fill_flat(buf, flat_idx, 0)

    @torch.no_grad()
    def apply_masks(self) -> None:
        """Zero every inactive weight, gradient and optimizer state entry now (NaN-safe); the sparse backend has
        no inactive entries."""
        if self.backend == "sparse":
            return
        for name in self.layers:
            weight = self._modules[name].weight
            self._keep_links_only(name, weight)
            if weight.grad is not None:
                self._keep_links_only(name, weight.grad)
            state = self.optimizer.state.get(weight) or {}
            for buf in state.values():
                if isinstance(buf, torch.Tensor) and buf.shape == weight.shape:
                    self._keep_links_only(name, buf)

    # ------------------------------------------------------------------------------------------------------------
    # hooks
    # ------------------------------------------------------------------------------------------------------------

    def _update_due(self, step: int) -> bool:
        return (
            bool(self.layers)
            and not self.frozen
            and step < self.total_steps
            and step < self.topology_end
            and step % self.config.update_interval == 0
        )

    def mask_gradients(self) -> None:
        """Zero the gradients of missing links (the optimizer's pre-step hook does it; call it yourself before
        ``clip_grad_norm_``, so the norm is the sparse network's on either backend), keeping first the dense
        gradient an update due at the next step needs (RigL, MEST). Call it after the last ``backward()`` of the
        step; calling it again changes nothing."""
        stash = self.config.needs_grad and self._update_due(self.step + 1)
        with torch.no_grad():
            for name in self.layers:
                module = self._modules[name]
                if self.backend == "sparse":  # gradients exist only for links; the dense one if armed
                    if stash and module.dense_grad is not None:
                        self._dense_grad[name] = module.dense_grad
                    module.dense_grad = None
                    continue
                grad = module.weight.grad
                if grad is None:
                    continue
                if stash and name not in self._dense_grad:  # the dense gradient, before any masking
                    self._dense_grad[name] = self._oriented(name, grad.detach()).contiguous().clone()
                self._keep_links_only(name, grad)

    def _pre_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        # the hook sees step's positional arguments with the optimizer first: (optimizer, closure?)
        if any(a is not None and a is not optimizer for a in args) or kwargs.get("closure") is not None:
            # a closure recomputes the gradients after this hook: they would escape the masking
            raise DstnetError("DSTEngine does not support optimizer.step(closure): call loss.backward() first")
        self.mask_gradients()
        due = self._update_due(self.step + 1)
        if due and self.config.skip_step_on_update:
            # the authors' MLP loop skips optimizer.step() on an update step: with no gradient, every torch
            # optimizer leaves the parameter and its state untouched
            for group in optimizer.param_groups:
                for param in group["params"]:
                    if param.grad is not None:
                        self._hidden_grads[param] = param.grad
                        param.grad = None

    def _post_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.step += 1
        for param, grad in self._hidden_grads.items():
            param.grad = grad
        self._hidden_grads.clear()
        try:
            if self.strict:
                self.apply_masks()
            if self._update_due(self.step):
                self.update()
                if not self.defer_backend_turn:
                    self.turn_sparse_if_due()
        finally:
            self._dense_grad.clear()
            self._arm_dense_grad()

    def close(self) -> None:
        """Remove the optimizer hooks (the masks stay on the model as buffers)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []
        if getattr(self.optimizer, "_dstnet_engine", None) is not None and self.optimizer._dstnet_engine() is self:
            del self.optimizer._dstnet_engine

    # ------------------------------------------------------------------------------------------------------------
    # topology update
    # ------------------------------------------------------------------------------------------------------------

    def _links(self, name: str, density: float) -> int:
        n_out, n_in = self._shapes[name]
        return link_count(n_in, n_out, density)

    def target_links(self, name: str, update_index: int | None = None) -> int:
        """The link count layer ``name`` has right after update ``update_index`` (default: the latest).

        For EM&S, the nominal count ``int((1 - S) N)``: the layer's current ``S`` for the latest update, else ``S``
        after an update at step ``update_index * update_interval`` (percolation can leave fewer links: EM&S regrows
        a fixed share, not back to a target).
        """
        tau = self.n_updates if update_index is None else update_index
        schedule = self.schedules[name]
        if isinstance(schedule, EMSSchedule):
            n_cells = self._cells(name)
            if tau == 0:
                return schedule.initial_links(n_cells)
            if update_index is None:  # the state the updates actually left, also after manual update() calls
                return int((1 - self.ems_sparsity[name]) * n_cells)
            return int(schedule.density_after(tau * self.config.update_interval) * n_cells)
        return self._links(name, schedule.density_at(tau, self.planned_updates))

    def _cells(self, name: str) -> int:
        n_out, n_in = self._shapes[name]
        return n_out * n_in

    def _prune_count(self, name: str, tau: int, nnz: int) -> int:
        """Links to prune at the start of update ``tau`` (down to the scheduled density, or EM&S's share)."""
        schedule = self.schedules[name]
        if isinstance(schedule, EMSSchedule):
            return schedule.prune_count(nnz, self.ems_sparsity[name])
        return max(0, nnz - self._links(name, schedule.density_at(tau, self.planned_updates)))

    def _grow_count(self, name: str, tau: int, n_after: int) -> int:
        """Links to regrow at update ``tau``, the layer holding ``n_after`` after removal and percolation."""
        schedule = self.schedules[name]
        if isinstance(schedule, EMSSchedule):
            available = self._cells(name) - n_after
            return min(available, schedule.grow_count(self.step, self._cells(name)))
        return max(0, self.target_links(name, tau) - n_after)

    def _temperature(self, t: int) -> float:
        """The soft-removal exponent at step ``t`` (over ``T_end``; see :class:`MethodConfig`)."""
        cfg = self.config
        if cfg.temperature_schedule == "linear":
            return linear_temperature(t, self.topology_end, cfg.temperature_start, cfg.temperature_end)
        return soft_temperature(linear(t, self.topology_end, cfg.delta_start, cfg.delta_end))

    def _gradients(self) -> dict[str, torch.Tensor]:
        if not self.config.needs_grad:
            return {}
        grads = {}
        for name in self.layers:
            grad = self._dense_grad.get(name)
            if grad is None and self.backend == "dense" and self._modules[name].weight.grad is not None:
                grad = self._oriented(name, self._modules[name].weight.grad)
            if grad is None:
                raise DstnetError(
                    f"method {self.config.name!r} needs the dense gradient of layer {name!r} for its update: call "
                    "update() after loss.backward() (the optimizer hook gathers it automatically)"
                )
            grads[name] = grad
        return grads

    def schedule_at(self, step: int) -> dict[str, Any]:
        """The recipe's schedules at optimizer step ``step``, for inspection and plots.

        Returns ``zeta`` (the removal fraction an update at ``step`` uses), ``temperature`` (the soft-removal
        exponent), ``evolves`` (whether ``step`` is an update step: a multiple of ``update_interval`` below
        ``T_end`` and ``total_steps``) and ``density``: per layer, the density an update at ``step`` aims for
        (the scheduled density; for EM&S the nominal ``1 - S`` after it).
        """
        cfg = self.config
        zeta = cosine_zeta(cfg.zeta, step, self.topology_end) if cfg.zeta_schedule == "cosine" else cfg.zeta
        density = {}
        for name, schedule in self.schedules.items():
            if isinstance(schedule, EMSSchedule):
                density[name] = schedule.density_after(step)
            else:
                density[name] = schedule.density_at(step // cfg.update_interval, self.planned_updates)
        evolves = bool(self.layers) and 0 < step < min(self.topology_end, self.total_steps)
        return {
            "zeta": zeta,
            "temperature": self._temperature(step),
            "evolves": evolves and step % cfg.update_interval == 0,
            "density": density,
        }

    @torch.no_grad()
    def update(self) -> list[LayerUpdate]:
        """Run one topology update now (the hooks call it every ``update_interval`` steps); returns its rows.

        Four phases over one :class:`_LayerWork` record per layer: removal (schedule pruning, then the rule's
        ``zeta`` share, layer by layer), percolation (the whole structure at once), regrowth and its application to
        the weights, optimizer state and masks (layer by layer), and the record (:class:`LayerUpdate` rows in
        :attr:`history`, after every layer has its new mask). Does nothing (returns ``[]``) for dense training or
        once the topology is frozen.
        """
        if not self.layers or self.frozen:
            return []
        cfg = self.config
        tau = self.n_updates + 1
        zeta = cfg.zeta
        if cfg.zeta_schedule == "cosine":
            zeta = cosine_zeta(cfg.zeta, self.step, self.topology_end)
        grads = self._gradients()
        masks = self.masks
        work = [_LayerWork(name, masks[name], grads.get(name)) for name in self.layers]
        for w in work:
            self._remove(w, tau, zeta)
        if cfg.percolation:
            kept, percolated = percolate({w.name: w.kept for w in work}, self.structure)
            for w in work:
                w.kept, w.percolated = kept[w.name], int(percolated[w.name])
        for w in work:
            self._regrow_and_apply(w, tau)
        rows = [self._record(w, tau) for w in work]
        self.history.extend(rows)
        for name, schedule in self.schedules.items():
            if isinstance(schedule, EMSSchedule):
                self.ems_sparsity[name] = schedule.sparsity_after(self.step)
        self.n_updates = tau
        if cfg.early_stop and all(self.flags.values()):
            self.frozen = True
        return rows

    def _remove(self, w: _LayerWork, tau: int, zeta: float) -> None:
        """Removal phase of one layer: the schedule's pruning, then ``int(zeta * links left)`` links by the rule
        (the authors' ``int(n_ones * drop_fraction)``)."""
        cfg = self.config
        kw = dict(
            alpha=cfg.soft_alpha,
            temperature=self._temperature(self.step),
            lam=cfg.mest_lambda,
            ri_epsilon=cfg.ri_epsilon,
            generator=self.generator,
        )
        weight = self.weight(w.name)  # sparse backend: built for this layer only, freed after its removal
        current = w.before
        nnz = _count(current)
        w.pruned = self._prune_count(w.name, tau, nnz)
        if w.pruned:
            current = current & ~select_removal(weight, current, w.pruned, cfg.prune_removal, grad=w.grad, **kw)
        n_remove = int(zeta * (nnz - w.pruned))
        if n_remove:
            current = current & ~select_removal(weight, current, n_remove, cfg.removal, grad=w.grad, **kw)
        w.kept = current
        w.remaining = nnz - w.pruned - n_remove

    def _regrow_and_apply(self, w: _LayerWork, tau: int) -> None:
        """Regrowth phase of one layer: choose the new links, then write the change into the backend (removed links
        and new ones start from 0, or SWI values; their optimizer state is zeroed)."""
        cfg = self.config
        n_after = w.remaining - w.percolated
        n_grow = self._grow_count(w.name, tau, n_after)
        new = select_regrowth(
            w.kept,
            n_grow,
            cfg.regrowth,
            grad=w.grad,
            linkpred_method=cfg.linkpred,
            temperature=cfg.regrow_temperature,
            generator=self.generator,
        )
        # index work only: a few thousand links change, the layer has millions of entries
        removed_idx = (w.before ^ w.kept).reshape(-1).nonzero().squeeze(1)  # kept is a subset of before
        new_idx = new.reshape(-1).nonzero().squeeze(1)
        readded = w.before.reshape(-1)[new_idx]  # new links that existed before: removed and regrown
        w.both = _count(readded)
        if cfg.readded_keep_weight:  # only links that are really gone, or really new, change
            fresh_idx = new_idx[~readded]
            changed = torch.cat([removed_idx[~new.reshape(-1)[removed_idx]], fresh_idx])
        else:
            fresh_idx = new_idx
            changed = torch.cat([removed_idx, new_idx])
        fresh_values = None
        if cfg.regrow_init == "swi" and len(fresh_idx):
            n_out, n_in = self._shapes[w.name]
            fan = n_in if cfg.swi_fan == "in" else n_out
            fresh_values = swi_values(
                (len(fresh_idx),), (n_after + n_grow) / (n_in * n_out), fan, cfg.swi_gain, self.generator
            )
        if self.backend == "sparse":
            self._relink(w.name, removed_idx, new_idx, changed, fresh_idx, fresh_values)
            w.final = (w.kept | new).reshape(w.before.shape)
        else:
            self._apply_dense(w.name, removed_idx, new_idx, changed, fresh_idx, fresh_values)
            w.final = self._oriented(w.name, self._modules[w.name].weight_mask)
        w.removed, w.regrown, w.links = len(removed_idx), len(new_idx), n_after + len(new_idx)
        self.latest[w.name] = {"removed": removed_idx.cpu(), "regrown": new_idx.cpu()}

    def _record(self, w: _LayerWork, tau: int) -> LayerUpdate:
        """Record phase of one layer: its history row, and CHT's early-stop flag from its overlap ratio."""
        row = layer_update(
            tau,
            self.step,
            w.name,
            pruned=w.pruned,
            removed=w.removed,
            percolated=w.percolated,
            regrown=w.regrown,
            both=w.both,
            links=w.links,
            cells=self._cells(w.name),
            active_in=_count(w.final.any(dim=0)),
            active_out=_count(w.final.any(dim=1)),
        )
        if self.config.early_stop and row["overlap"] > self.config.early_stop_threshold:
            self.flags[w.name] = True
        return row

    def _apply_dense(
        self,
        name: str,
        removed_idx: torch.Tensor,
        new_idx: torch.Tensor,
        changed: torch.Tensor,
        fresh_idx: torch.Tensor,
        fresh_values: torch.Tensor | None,
    ) -> None:
        """Dense backend: write one layer's update into its weight, gradient, optimizer state and mask buffer (the
        indices address the ``(n_out, n_in)`` view; a Conv1D stores the transpose)."""
        removed_idx, new_idx, changed, fresh_idx = (
            self._native_index(name, idx) for idx in (removed_idx, new_idx, changed, fresh_idx)
        )
        module = self._modules[name]
        weight = module.weight
        _fill_flat(weight, changed, 0)  # removed links go, new links start from 0
        if fresh_values is not None:
            _fill_flat(weight, fresh_idx, fresh_values.to(device=weight.device, dtype=weight.dtype))
        if weight.grad is not None:
            _fill_flat(weight.grad, removed_idx, 0)
        self._zero_state_at(weight, changed)
        _fill_flat(module.weight_mask, removed_idx, False)
        _fill_flat(module.weight_mask, new_idx, True)

    def _relink(
        self,
        name: str,
        removed_idx: torch.Tensor,
        new_idx: torch.Tensor,
        changed: torch.Tensor,
        fresh_idx: torch.Tensor,
        fresh_values: torch.Tensor | None,
    ) -> None:
        """Sparse backend: the same update as :meth:`_apply_dense`, on the index structure.

        The new link list is ``old - removed + new`` (sorted flat indices, the CSR order); a link that stays and is
        not in ``changed`` carries its value, gradient and optimizer state to its new position, every other one
        starts from 0 (SWI values for ``fresh_idx``). O(links + n_out + n_in), no dense tensor.
        """
        module = self._modules[name]
        old = torch.from_numpy(module.topology.flat_index())
        keep = torch.ones(old.numel(), dtype=torch.bool)
        keep[torch.searchsorted(old, removed_idx)] = False
        new_flat = torch.sort(torch.cat([old[keep], new_idx])).values
        pos, found = link_positions(old, new_flat)
        carry = carrier(pos, found & ~torch.isin(new_flat, changed))  # weights and optimizer state
        carry_grad = carrier(pos, found & ~torch.isin(new_flat, removed_idx))
        old_values = module.values
        values = carry(old_values)
        if fresh_values is not None:
            values[torch.searchsorted(new_flat, fresh_idx)] = fresh_values.to(values.dtype)
        module.set_topology(SparseTopology.from_flat(self._shapes[name], new_flat.numpy()), values, carry)
        if old_values.grad is not None:
            module.values.grad = carry_grad(old_values.grad)

    # ------------------------------------------------------------------------------------------------------------
    # inspection
    # ------------------------------------------------------------------------------------------------------------

    def layer_stats(self) -> dict[str, dict[str, Any]]:
        """Current links, density and active neurons (after percolation) per layer."""
        masks = self.masks
        active = active_neurons(masks, self.structure) if self.layers else {}
        out = {}
        for name, mask in masks.items():
            links = _count(mask)
            out[name] = {
                "links": links,
                "density": links / mask.numel(),
                "active_in": active[name][0],
                "active_out": active[name][1],
            }
        return out

    def last_update_summary(self) -> dict[str, Any]:
        """The latest update over all layers (:func:`~netsci_dst.dst.history.update_totals`): ``update``, ``step``,
        ``removed``, ``regrown``, ``both``, ``overlap`` (of all layers together), ``links``, ``density``; ``{}``
        before the first update."""
        if not self.history:
            return {}
        last = self.history[-1]["update"]
        cells = {name: self._cells(name) for name in self.layers}
        return update_totals((r for r in self.history if r["update"] == last), cells)

    def overall_density(self) -> float:
        """Links of all sparse layers over their total size (1.0 for dense training)."""
        if not self.layers:
            return 1.0
        masks = self.masks
        return sum(_count(m) for m in masks.values()) / sum(m.numel() for m in masks.values())

    def is_chain(self) -> bool:
        """Whether the sparse layers form one plain chain (each feeds the next, nothing coupled): an MLP."""
        s = self.structure
        return bool(self.layers) and not s.coupled and s.chains == tuple(zip(s.layers[:-1], s.layers[1:], strict=True))

    def anp(self) -> float:
        """ANP, the active-neuron post-percolation rate [CHT], pooled over the network (1.0 for dense training).

        On a plain chain it is the papers' rate, the active share of every neuron layer of the chain, inputs
        included (:func:`netsci_dst.analysis.anp.anp`); on any other structure (a Transformer's or a language
        model's projections) the active share of the internal units of its coupled groups and producers
        (:func:`netsci_dst.analysis.anp.anp_structure`).
        """
        from netsci_dst.analysis.anp import anp, anp_structure

        if not self.layers:
            return 1.0
        masks = {name: mask.cpu().numpy() for name, mask in self.masks.items()}
        if self.is_chain():
            return anp([masks[name] for name in self.structure.layers])["overall"]
        return anp_structure(masks, self.structure)["overall"]

    def topology_metrics(self) -> dict[str, Any]:
        """What a trainer logs about the topology: ``density`` (:meth:`overall_density`), ``anp`` (:meth:`anp`),
        ``overlap`` (the share of the last update's regrown links that it had removed; ``None`` before the first
        update or when nothing regrew), ``updates`` and ``frozen``."""
        overlap = self.last_update_summary().get("overlap")
        if overlap is not None and not math.isfinite(overlap):
            overlap = None
        return {
            "density": self.overall_density(),
            "anp": self.anp(),
            "overlap": overlap,
            "updates": self.n_updates,
            "frozen": bool(self.frozen),
        }

    def __repr__(self) -> str:
        return (
            f"DSTEngine(method={self.config.name!r}, layers={len(self.layers)}, density={self.density:g}, "
            f"step={self.step}/{self.total_steps}, n_updates={self.n_updates}, frozen={self.frozen})"
        )

    def export(self, csr: bool = False) -> dict[str, torch.Tensor]:
        """The model's state_dict as a plain one: masks applied, no ``weight_mask`` buffers (either backend), so it
        loads with ``strict=True`` into a fresh copy of the model; ``csr=True`` gives the sparse layers' weights as
        torch sparse CSR tensors. See :mod:`netsci_dst.dst.export` (files: ``save_export``, ``load_export``)."""
        from netsci_dst.dst.export import export_state_dict

        return export_state_dict(self.model.state_dict(), csr=csr)

    # ------------------------------------------------------------------------------------------------------------
    # checkpointing
    # ------------------------------------------------------------------------------------------------------------

    def _structure_dict(self) -> dict[str, Any]:
        s = self.structure
        return {
            "layers": list(s.layers),
            "chains": [list(c) for c in s.chains],
            "coupled": [list(g) for g in s.coupled],
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume bit-exactly, as plain tensors, numbers, strings, lists and dicts.

        Loads with ``torch.load(weights_only=True)``. Save it together with the model's and the optimizer's
        state dicts (the masks are also in the model's, as ``<layer>.weight_mask`` buffers).
        """
        return {
            "format": STATE_FORMAT,
            "method": self.config.name,
            "config": self.config.to_dict(),
            "layers": list(self.layers),
            "structure": self._structure_dict(),
            "density": self.density,
            "final_densities": dict(self.final_densities),
            "total_steps": self.total_steps,
            "seed": self.seed,
            "step": self.step,
            "n_updates": self.n_updates,
            "frozen": self.frozen,
            "flags": dict(self.flags),
            "masks": {name: mask.detach().clone() for name, mask in self.masks.items()},
            "generator": self.generator.get_state(),
            "history": copy.deepcopy(self.history),
            "latest": {name: {key: idx.clone() for key, idx in sets.items()} for name, sets in self.latest.items()},
            "init_topologies": dict(self.init_topologies),
            "ems_sparsity": dict(self.ems_sparsity),
            "backend": self.backend,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the engine must have been built with the same method, layers and steps.

        A mismatch (another method or option, other layers, another ``total_steps``) raises :class:`DstnetError`.
        """
        if not isinstance(state, Mapping) or state.get("format") != STATE_FORMAT:
            raise DstnetError("not a DSTEngine state dict (missing or unknown 'format')")
        try:
            if list(state["layers"]) != self.layers:
                raise DstnetError(f"checkpoint has sparse layers {list(state['layers'])}, this engine {self.layers}")
            mine = self.config.to_dict()
            theirs = MethodConfig.from_dict(dict(state["config"])).to_dict()
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            if diff:
                detail = ", ".join(f"{k}: {theirs.get(k)!r} != {mine.get(k)!r}" for k in diff)
                raise DstnetError(f"checkpoint method config differs from this engine's ({detail})")
            for key in ("total_steps", "density", "seed"):
                if state[key] != getattr(self, key):
                    raise DstnetError(f"checkpoint {key}={state[key]!r}, this engine {key}={getattr(self, key)!r}")
            if state["structure"] != self._structure_dict():
                raise DstnetError("checkpoint percolation structure differs from this engine's")
            masks = state["masks"]
            for name in self.layers:
                mask = masks[name]
                shape = self._shapes[name]
                if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != shape:
                    raise DstnetError(f"checkpoint mask of {name!r} is not a bool tensor of shape {shape}")
            step, updates = int(state["step"]), int(state["n_updates"])
            frozen = bool(state["frozen"])
            flags = {name: bool(state["flags"][name]) for name in self.layers}
            history = read_history(state["history"])
            latest = {
                name: {key: torch.as_tensor(idx, dtype=torch.int64).clone() for key, idx in sets.items()}
                for name, sets in dict(state["latest"]).items()
            }
            generator_state = state["generator"]
            if "ems_sparsity" in state:
                ems_sparsity = {name: float(value) for name, value in dict(state["ems_sparsity"]).items()}
            else:  # written before EM&S kept its state: the nominal sparsity after the last update
                last = history[-1]["step"] if history else None
                ems_sparsity = {
                    name: s.sparsity_after(last) for name, s in self.schedules.items() if name in self.ems_sparsity
                }
            if set(ems_sparsity) != set(self.ems_sparsity):
                raise DstnetError("checkpoint EM&S state does not match this engine's layers")
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DstnetError):
                raise
            raise DstnetError(f"corrupt DSTEngine state dict: {exc!r}") from None
        for name in self.layers:
            self._set_mask(name, masks[name])
        self.generator.set_state(generator_state)
        self.step, self.n_updates, self.frozen = step, updates, frozen
        self.flags, self.history, self.latest = flags, history, latest
        self.init_topologies = dict(state.get("init_topologies", self.init_topologies))
        self.ems_sparsity = ems_sparsity
        self._dense_grad.clear()
        self.apply_masks()
        self.turn_sparse_if_due()
        self._arm_dense_grad()

    def _set_mask(self, name: str, mask: torch.Tensor) -> None:
        """Make ``mask`` the links of layer ``name``; links that go lose weight, gradient and state, new ones start
        at 0."""
        if self.backend == "dense":
            current = self._oriented(name, self._modules[name].weight_mask)
            mask = mask.to(current.device)
            removed = (current & ~mask).reshape(-1).nonzero().squeeze(1)
            added = (mask & ~current).reshape(-1).nonzero().squeeze(1)
            if len(removed) or len(added):
                with torch.no_grad():
                    self._apply_dense(name, removed, added, torch.cat([removed, added]), added[:0], None)
            return
        old = torch.from_numpy(self._modules[name].topology.flat_index())
        new = mask.reshape(-1).nonzero().squeeze(1).cpu()
        if torch.equal(old, new):
            return
        removed = old[~torch.isin(old, new)]
        added = new[~torch.isin(new, old)]
        changed = torch.cat([removed, added])
        self._relink(name, removed, added, changed, added[:0], None)

    # ------------------------------------------------------------------------------------------------------------
    # optimizer state in the dense format
    # ------------------------------------------------------------------------------------------------------------

    def _sparse_params(self) -> dict[int, str]:
        """Sparse backend: ``{position in the optimizer's state_dict: layer}`` of the layers' values Parameters."""
        out: dict[int, str] = {}
        owners = {id(self._modules[n].values): n for n in self.layers} if self.backend == "sparse" else {}
        index = 0
        for group in self.optimizer.param_groups:
            for param in group["params"]:
                if id(param) in owners:
                    out[index] = owners[id(param)]
                index += 1
        return out

    def optimizer_state_dict(self) -> dict[str, Any]:
        """``optimizer.state_dict()`` in the dense format on either backend (per-link state scattered into
        ``(n_out, n_in)`` tensors, zeros off the links), so a checkpoint resumes on either backend."""
        sd = self.optimizer.state_dict()
        positions = self._sparse_params()
        if not positions:
            return sd
        state = dict(sd["state"])
        for index, name in positions.items():
            entry = state.get(index)
            if not entry:
                continue
            flat = torch.from_numpy(self._modules[name].topology.flat_index())
            entry = dict(entry)
            for key, buf in list(entry.items()):
                if isinstance(buf, torch.Tensor) and buf.shape == (flat.numel(),):
                    dense = torch.zeros(self._shapes[name], dtype=buf.dtype)
                    dense.view(-1)[flat] = buf
                    entry[key] = dense
            state[index] = entry
        return {**sd, "state": state}

    def load_optimizer_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """``optimizer.load_state_dict`` for :meth:`optimizer_state_dict`'s format, on either backend (the sparse
        one gathers the dense state at the current links: load the model first).

        The settings of each parameter group (momentum, weight decay, ``nesterov``, ``maximize``, ``fused``, ...)
        stay those this optimizer was built with, from the run's configuration: only the learning rate, which the
        schedules set, and the per-parameter state come from ``state_dict``. A checkpoint cannot switch the run to
        another optimizer, or to settings torch's kernels were never given together."""
        settings = [{k: v for k, v in g.items() if k not in SCHEDULED_GROUP_KEYS} for g in self.optimizer.param_groups]
        self.optimizer.load_state_dict(state_dict)
        for group, own in zip(self.optimizer.param_groups, settings, strict=True):
            for key in set(group) - set(own) - SCHEDULED_GROUP_KEYS:
                del group[key]
            group.update(own)
        for name in self._sparse_params().values():
            param = self._modules[name].values
            entry = self.optimizer.state.get(param)
            if not entry:
                continue
            flat = torch.from_numpy(self._modules[name].topology.flat_index())
            for key, buf in list(entry.items()):
                if isinstance(buf, torch.Tensor) and tuple(buf.shape) == self._shapes[name]:
                    entry[key] = buf.reshape(-1)[flat].clone()
                elif isinstance(buf, torch.Tensor) and buf.dim() >= 1 and buf.shape != param.shape:
                    raise DstnetError(
                        f"optimizer state {key!r} of layer {name!r} has shape {tuple(buf.shape)}, expected "
                        f"{self._shapes[name]}"
                    )
        self._check_optimizer_state()

    def _check_optimizer_state(self) -> None:
        """Every per-parameter optimizer buffer (momentum, Adam's moments; not the scalar ``step``) must have its
        parameter's shape, dtype and device: the fused and foreach kernels index them unchecked, so a tampered
        checkpoint would otherwise crash the process or corrupt memory at the next step."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        for group in self.optimizer.param_groups:
            keys = {frozenset(self.optimizer.state.get(param, {})) for param in group["params"]}
            if group.get("fused") and len(keys) > 1:  # the fused kernels take all buffers of a group or none
                raise DstnetError(
                    f"optimizer state: the parameters of a group hold different buffers ({sorted(map(sorted, keys))})"
                )
            for param in group["params"]:
                for key, buf in self.optimizer.state.get(param, {}).items():
                    if key == "step":
                        continue
                    if not isinstance(buf, torch.Tensor):
                        raise DstnetError(
                            f"optimizer state {key!r} of parameter {names.get(id(param), '?')!r} is a "
                            f"{type(buf).__name__}, not a tensor"
                        )
                    if (buf.shape, buf.dtype, buf.device) != (param.shape, param.dtype, param.device):
                        raise DstnetError(
                            f"optimizer state {key!r} of parameter {names.get(id(param), '?')!r} is "
                            f"{buf.dtype} {tuple(buf.shape)} on {buf.device}, expected {param.dtype} "
                            f"{tuple(param.shape)} on {param.device}"
                        )
