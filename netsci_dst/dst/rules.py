"""Registries of the topology-update rules: a removal or regrowth rule is one decorated function.

    @removal_rule("my_rule", params=("lam",), needs_grad=True, summary="the smallest |W| + lam |grad|")
    def remove_mine(weight, mask, n_remove, *, grad, generator, lam):
        ...  # return a bool mask: n_remove of the existing links (mask) to remove

    @regrowth_rule("my_growth", summary="...")
    def grow_mine(mask, n_grow, *, grad, generator):
        ...  # return a bool mask: n_grow of the missing links (~mask) to add

Once the module defining it is imported, ``MethodConfig(removal="my_rule")`` validates, ``config.needs_grad`` knows
whether the engine must keep the dense gradient of the step before an update, and the engine passes the rule exactly
the values it declares in ``params`` from its context:

==================  ==============================================================================================
``alpha``           the soft rule's interpolation ``soft_alpha``
``temperature``     the soft removal exponent at this update (the recipe's temperature schedule)
``lam``             MEST's ``mest_lambda``
``ri_epsilon``      the epsilon of relative importance
``linkpred_method`` the Cannistraci-Hebb rule for regrowth scores (``linkpred``, e.g. ``"CH3-L3"``)
``regrow_temperature``  the exponent of soft regrowth sampling
==================  ==============================================================================================

The built-in rules are registered in :mod:`netsci_dst.dst.removal` and :mod:`netsci_dst.dst.regrowth` (imported here,
so the registries are complete once this module is). The same decorator style as the topology generators'
registry (:mod:`netsci_dst.topology.registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from netsci_dst.errors import DstnetError

__all__ = ["CONTEXT", "REGROWTH_RULES", "REMOVAL_RULES", "Rule", "regrowth_rule", "removal_rule"]

#: The values the engine can pass to a rule (see the module docstring).
CONTEXT = ("alpha", "temperature", "lam", "ri_epsilon", "linkpred_method", "regrow_temperature")


@dataclass(frozen=True)
class Rule:
    """One removal or regrowth rule: its function, the context values it reads, whether it needs the dense gradient
    of the step before the update, and a one-line summary (with its paper)."""

    name: str
    kind: str
    function: Callable
    params: tuple[str, ...] = ()
    needs_grad: bool = False
    summary: str = ""


REMOVAL_RULES: dict[str, Rule] = {}
REGROWTH_RULES: dict[str, Rule] = {}


def _register(table: dict[str, Rule], kind: str, name: str, params, needs_grad: bool, summary: str):
    params = tuple(params)
    unknown = [p for p in params if p not in CONTEXT]
    if unknown:
        raise DstnetError(f"{kind} rule {name!r} asks for {unknown}; the engine provides {', '.join(CONTEXT)}")

    def decorate(function: Callable) -> Callable:
        if name in table and table[name].function is not function:
            raise DstnetError(f"a {kind} rule named {name!r} is already registered")
        table[name] = Rule(name, kind, function, params, bool(needs_grad), summary)
        return function

    return decorate


def removal_rule(name: str, *, params=(), needs_grad: bool = False, summary: str = ""):
    """Register ``function(weight, mask, n_remove, *, grad, generator, **params) -> bool mask`` as removal ``name``."""
    return _register(REMOVAL_RULES, "removal", name, params, needs_grad, summary)


def regrowth_rule(name: str, *, params=(), needs_grad: bool = False, summary: str = ""):
    """Register ``function(mask, n_grow, *, grad, generator, **params) -> bool mask`` as regrowth ``name``."""
    return _register(REGROWTH_RULES, "regrowth", name, params, needs_grad, summary)


def _load_builtin_rules() -> None:
    import netsci_dst.dst.regrowth  # noqa: F401  (registers random, gradient, ch_rigid, ch_soft)
    import netsci_dst.dst.removal  # noqa: F401  (registers wm, set, ri, mest, soft)
