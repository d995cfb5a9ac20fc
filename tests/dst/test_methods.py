"""Method recipes: the authors' code's settings, overrides, and every method training a tiny MLP above chance."""

import math
import re

import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.methods import FAMILIES, METHODS, RECIPES, MethodConfig, get_method, method_names
from netsci_dst.errors import DstnetError


def test_registry_names():
    assert method_names() == ["fc", "set", "rigl", "mest", "cht", "chts", "chts-paper", "chtss"]
    assert method_names("transformer") == ["fc", "set", "rigl", "mest", "cht", "chts", "chtss"]
    for family in FAMILIES:
        for name, recipe in RECIPES[family].items():
            assert recipe.name == name and recipe.family == family and recipe.config.name == name
            # every recipe names its source: a repository at a commit, or a paper section
            assert re.search(r"@ [0-9a-f]{40}", recipe.source) or "paper" in recipe.source, (family, name)
    assert METHODS == {name: r.config for name, r in RECIPES["mlp"].items()}


def test_mlp_recipes_are_the_authors_commands():
    fc, set_, rigl, mest = METHODS["fc"], METHODS["set"], METHODS["rigl"], METHODS["mest"]
    cht, chts, chtss, paper = METHODS["cht"], METHODS["chts"], METHODS["chtss"], METHODS["chts-paper"]
    assert not fc.sparse and all(METHODS[n].sparse for n in METHODS if n != "fc")
    # SET command: --regrow_method random --init_mode kaiming --remove_method weight_magnitude, no --adaptive_zeta
    assert (set_.init_topology, set_.weight_init, set_.removal, set_.regrowth, set_.zeta) == (
        "er",
        "kaiming",
        "wm",
        "random",
        0.3,
    )
    assert (set_.zeta_schedule, set_.topology_end_fraction) == ("constant", 1.0)
    assert (rigl.removal, rigl.regrowth, rigl.zeta_schedule, rigl.topology_end_fraction) == (
        "wm",
        "gradient",
        "cosine",
        0.75,
    )
    assert rigl.needs_grad and mest.needs_grad and not set_.needs_grad and not chts.needs_grad
    assert (mest.prune_removal, mest.mest_lambda, mest.density_schedule, mest.zeta) == ("mest", 0.01, "ems", 0.0)
    # CHT command: CH3_L3p, chain removal, adaptive zeta, early stop, CSTI, SWI
    assert (cht.removal, cht.regrowth, cht.linkpred, cht.zeta_schedule) == ("wm", "ch_rigid", "CH3-L3", "cosine")
    assert cht.early_stop and cht.early_stop_threshold == 0.9 and cht.percolation and cht.init_topology == "auto"
    # CHTs command: EM&S from density + 5 %, hard magnitude pruning, chain removal, soft CH3-L3, CSTI, SWI fan-out
    assert (chts.density_schedule, chts.ems_extra, chts.prune_removal, chts.zeta) == ("ems", 0.05, "wm", 0.0)
    assert (chts.regrowth, chts.linkpred, chts.init_topology, chts.percolation) == ("ch_soft", "CH3-L3", "auto", True)
    assert (chts.weight_init, chts.swi_fan, chts.topology_end_fraction, chts.best_after_fraction) == (
        "swi",
        "out",
        0.75,
        0.75,
    )
    # the paper's fixed-density CHTs is the separate variant
    assert (paper.density_schedule, paper.removal, paper.temperature_schedule) == ("constant", "soft", "delta")
    assert (paper.delta_start, paper.delta_end, paper.swi_fan, paper.topology_end_fraction) == (0.5, 0.75, "in", 1.0)
    assert (chtss.density_schedule, chtss.initial_density, chtss.schedule_k, chtss.prune_removal) == (
        "sigmoid",
        0.5,
        6.0,
        "ri",
    )
    assert (chtss.ri_epsilon, chtss.temperature_start, chtss.temperature_end) == (1e-5, 1.0, 3.0)
    for name, cfg in METHODS.items():
        assert cfg.regrow_init == "zero" and cfg.swi_gain == math.sqrt(2)
        # every MLP recipe the authors' loop runs skips the optimizer step of an update step
        assert cfg.skip_step_on_update == (name not in ("fc", "chts-paper"))
        # every recipe from the authors' code but SET stops evolving at 0.75 of training
        assert cfg.topology_end_fraction == (1.0 if name in ("fc", "set", "chts-paper") else 0.75)


def test_transformer_recipes_are_the_authors_scripts():
    tf = {name: get_method(name, family="transformer") for name in method_names("transformer")}
    for cfg in tf.values():
        if not cfg.sparse:
            continue
        assert cfg.weight_init == "keep" and not cfg.skip_step_on_update  # Xavier kept; the step always runs
        assert cfg.update_interval == 100 or not cfg.sparse
        assert cfg.init_topology in ("er", "bsw")  # never CSTI: no Transformer layer sees the input data
    assert (tf["set"].zeta_schedule, tf["set"].topology_end_fraction) == ("constant", 1.0)
    chts = tf["chts"]
    assert (chts.init_topology, chts.init_params, chts.removal, chts.temperature_schedule) == (
        "bsw",
        {"beta": 0.25},
        "soft",
        "linear",
    )
    assert (chts.temperature_start, chts.temperature_end, chts.linkpred, chts.zeta_schedule) == (
        1.0,
        3.0,
        "CH2-L3n",
        "cosine",
    )


def test_overrides_and_errors():
    cfg = get_method("chts", linkpred="CH2-L3n", update_interval=1875)
    assert cfg.linkpred == "CH2-L3n" and cfg.update_interval == 1875 and cfg.density_schedule == "ems"
    assert METHODS["chts"].linkpred == "CH3-L3" and METHODS["chts"].update_interval == 100  # presets unchanged
    assert get_method(cfg) is cfg
    assert get_method("RigL").name == "rigl"
    assert get_method("chts", family="transformer").linkpred == "CH2-L3n"
    with pytest.raises(DstnetError, match="unknown method"):
        get_method("nope")
    with pytest.raises(DstnetError, match="unknown method"):
        get_method("chts-paper", family="transformer")
    with pytest.raises(DstnetError, match="unknown model family"):
        get_method("chts", family="cnn")
    with pytest.raises(DstnetError, match="unknown method option"):
        get_method("set", zetta=0.1)
    for bad in (
        dict(zeta=1.5),
        dict(removal="x"),
        dict(linkpred="CH4"),
        dict(update_interval=0),
        dict(delta_end=1.0),
        dict(density_schedule="sigmoid", initial_density=None),
        dict(topology_end_fraction=0.0),
        dict(swi_fan="both"),
        dict(temperature_schedule="cubic"),
        dict(temperature_end=-1.0),
        dict(ri_epsilon=float("nan")),
        dict(skip_step_on_update="False"),
        dict(best_after_fraction=1.5),
    ):
        with pytest.raises(DstnetError):
            get_method("chts", **bad)


#: The fields added when the recipes began to follow the authors' code: a config saved before has none of them.
NEW_FIELDS = (
    "topology_end_fraction",
    "temperature_schedule",
    "temperature_start",
    "temperature_end",
    "ri_epsilon",
    "skip_step_on_update",
    "best_after_fraction",
    "swi_fan",
    "readded_keep_weight",
)


def legacy_dict(name):
    return {k: v for k, v in get_method(name).to_dict().items() if k not in NEW_FIELDS}


def test_legacy_configs_keep_their_meaning():
    """A config saved before the recipes followed the authors' code (zeta_end_fraction, delta temperature)."""
    old = legacy_dict("chts-paper")
    old["zeta_end_fraction"] = 0.75
    cfg = MethodConfig.from_dict(old)
    assert (cfg.topology_end_fraction, cfg.temperature_schedule, cfg.swi_fan) == (1.0, "delta", "in")
    old.update(zeta_schedule="cosine")
    assert MethodConfig.from_dict(old).topology_end_fraction == 0.75


def test_to_dict_round_trip():
    for cfg in METHODS.values():
        values = cfg.to_dict()
        assert all(isinstance(v, (str, int, float, bool, dict, type(None))) for v in values.values())
        assert MethodConfig.from_dict(values) == cfg


def blobs(n, seed):
    """Four Gaussian classes in 16 dimensions (linearly separable up to noise)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(4, 16, generator=torch.Generator().manual_seed(99)) * 1.5
    y = torch.randint(0, 4, (n,), generator=g)
    x = centres[y] + torch.randn(n, 16, generator=g)
    return x, y


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_trains_a_tiny_mlp_above_chance(method):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    steps = 300
    engine = DSTEngine(model, opt, method, density=0.1, total_steps=steps, update_interval=30, seed=0)
    x, y = blobs(2048, seed=1)
    for step in range(steps):
        idx = torch.arange(step * 32, step * 32 + 32) % len(x)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    x_test, y_test = blobs(1000, seed=2)
    with torch.no_grad():
        acc = float((model(x_test).argmax(1) == y_test).float().mean())
    assert acc > 0.7, (method, acc)  # chance is 0.25
    if method != "fc":
        cfg = engine.config
        # updates at the multiples of 30 below T_end: 9 until the end, 7 until 0.75 of the 300 steps
        assert engine.n_updates == (9 if cfg.topology_end_fraction == 1.0 else 7) or (engine.frozen and cfg.early_stop)
        for name, mask in engine.masks.items():
            if cfg.density_schedule == "ems":  # the last update prunes to the target; percolation may take more
                assert 0 < int(mask.sum()) <= 0.1 * mask.numel() + 1  # int() truncates the pruned share
            else:
                assert int(mask.sum()) == engine.target_links(name)


def test_legacy_ems_config_ends_where_its_schedule_ended():
    old = legacy_dict("mest")
    old.update(zeta_end_fraction=0.75, schedule_end_fraction=0.6)
    assert MethodConfig.from_dict(old).topology_end_fraction == 0.6
