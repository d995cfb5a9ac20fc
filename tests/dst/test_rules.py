"""Removal and regrowth rules are registries: a new rule is one decorated function, usable by the whole engine."""

import pytest
import torch
from test_engine import make_optimizer, mlp, train_step

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.methods import MethodConfig, get_method
from netsci_dst.dst.rules import REGROWTH_RULES, REMOVAL_RULES, regrowth_rule, removal_rule
from netsci_dst.errors import DstnetError


@pytest.fixture
def oldest_first():
    """A removal rule that drops the links with the lowest flat index and needs the gradient (to check the flag),
    and a regrowth rule that fills the highest missing flat indices."""
    calls = []

    @removal_rule("lowest_index", params=("lam",), needs_grad=True, summary="test rule")
    def remove_lowest(weight, mask, n_remove, *, grad, generator, lam):
        calls.append(("remove", lam, grad is not None))
        idx = mask.reshape(-1).nonzero().squeeze(1)[:n_remove]
        out = torch.zeros_like(mask).reshape(-1)
        out[idx] = True
        return out.view(mask.shape)

    @regrowth_rule("highest_missing", summary="test rule")
    def grow_highest(mask, n_grow, *, grad, generator):
        calls.append(("grow",))
        idx = (~mask).reshape(-1).nonzero().squeeze(1)
        out = torch.zeros_like(mask).reshape(-1)
        out[idx[len(idx) - n_grow :]] = True
        return out.view(mask.shape)

    yield calls
    del REMOVAL_RULES["lowest_index"], REGROWTH_RULES["highest_missing"]


def test_a_registered_rule_runs_in_the_engine_with_its_declared_values(oldest_first):
    config = get_method("set").replace(removal="lowest_index", regrowth="highest_missing", mest_lambda=0.5)
    assert config.needs_grad  # declared by the removal rule
    model = mlp(seed=0)
    opt = make_optimizer("sgd", model)
    engine = DSTEngine(model, opt, config, density=0.25, total_steps=9, update_interval=3, seed=0)
    before = {n: m.clone() for n, m in engine.masks.items()}
    for step in range(3):
        train_step(model, opt, step)
    assert engine.n_updates == 1
    assert ("remove", 0.5, True) in oldest_first and ("grow",) in oldest_first  # lam from mest_lambda, the gradient
    for name, mask in engine.masks.items():
        removed = engine.latest[name]["removed"]
        first = before[name].reshape(-1).nonzero().squeeze(1)[: len(removed)]
        assert torch.equal(torch.sort(removed).values, first)  # the lowest flat indices went
        assert int(mask.sum()) == int(before[name].sum())


def test_rule_registration_is_checked():
    with pytest.raises(DstnetError, match="the engine provides"):
        removal_rule("bad", params=("no_such_value",))
    with pytest.raises(DstnetError, match="already registered"):
        removal_rule("wm")(lambda *a, **k: None)
    with pytest.raises(DstnetError, match="removal"):
        MethodConfig(name="x", removal="not_registered")
    assert {"wm", "set", "ri", "mest", "soft"} <= set(REMOVAL_RULES)
    assert REMOVAL_RULES["mest"].needs_grad and REGROWTH_RULES["gradient"].needs_grad
    assert not REMOVAL_RULES["soft"].needs_grad and REMOVAL_RULES["soft"].params == ("alpha", "temperature")
