"""The DST engine: invariants after every step and update, overlap and early stop, exact resume, set-up errors."""

import io
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from netsci_dst.dst.engine import DSTEngine, select_sparse_layers
from netsci_dst.dst.methods import METHODS
from netsci_dst.dst.percolation import Structure
from netsci_dst.errors import DstnetError

SPARSE_METHODS = [name for name, cfg in METHODS.items() if cfg.sparse]


def mlp(sizes=(12, 24, 20, 4), seed=0):
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def make_optimizer(kind, model):
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    if kind == "nesterov":
        return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    if kind == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=1e-2, amsgrad=True)
    if kind == "rmsprop":
        return torch.optim.RMSprop(model.parameters(), lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-4)
    if kind == "nadam":
        return torch.optim.NAdam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    if kind == "radam":
        return torch.optim.RAdam(model.parameters(), lr=1e-2)
    if kind == "adagrad":
        return torch.optim.Adagrad(model.parameters(), lr=1e-2)
    if kind == "adadelta":
        return torch.optim.Adadelta(model.parameters(), weight_decay=1e-4)
    if kind == "adamax":  # not zero-preserving (its infinity norm starts at eps): re-zeroed after every step
        return torch.optim.Adamax(model.parameters(), lr=1e-2)
    if kind == "adam-subclass":
        return MyAdam(model.parameters(), lr=1e-2)
    raise AssertionError(kind)


class MyAdam(torch.optim.Adam):
    """Somebody's own Adam: a subclass is still Adam."""


STATE_KEYS = ("momentum_buffer", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def batch(step, n_in=12, n_out=4, size=16):
    g = torch.Generator().manual_seed(1000 + step)
    x = torch.randn(size, n_in, generator=g)
    y = (x[:, :n_out] * 2 + x[:, n_out : 2 * n_out]).argmax(1)
    return x, y


def train_step(model, opt, step):
    x, y = batch(step, model[0].in_features, model[-1].out_features)
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()


def states(opt, param):
    st_ = opt.state.get(param, {})
    return {k: v for k, v in st_.items() if k in STATE_KEYS and isinstance(v, torch.Tensor)}


def layer_tensors(engine, name):
    """(weight, grad or None, {state key: tensor}) of a sparse layer as dense (n_out, n_in) tensors, either backend.

    On the sparse backend also checks that values, gradient and state exist for the links only."""
    if engine.backend == "dense":
        weight = engine._modules[name].weight
        return weight, weight.grad, states(engine.optimizer, weight)
    module = engine._modules[name]
    nnz = module.topology.nnz
    flat = torch.from_numpy(module.topology.flat_index())

    def dense(t):
        assert t.shape == (nnz,), (name, tuple(t.shape), nnz)
        out = torch.zeros(module.topology.shape, dtype=t.dtype)
        out.view(-1)[flat] = t.detach()
        return out

    grad = None if module.values.grad is None else dense(module.values.grad)
    return dense(module.values), grad, {k: dense(v) for k, v in states(engine.optimizer, module.values).items()}


def assert_inactive_zero(engine):
    for name, mask in engine.masks.items():
        weight, grad, bufs = layer_tensors(engine, name)
        inactive = ~mask
        assert torch.all(weight[inactive] == 0), name
        if grad is not None:
            assert torch.all(grad[inactive] == 0), name
        for key, buf in bufs.items():
            assert torch.all(buf[inactive] == 0), (name, key)


# ---------------------------------------------------------------------------------------------------------------
# Invariants
# ---------------------------------------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=st.sampled_from(SPARSE_METHODS),
    opt_kind=st.sampled_from(
        [
            "sgd",
            "nesterov",
            "adam",
            "adamw",
            "rmsprop",
            "nadam",
            "radam",
            "adagrad",
            "adadelta",
            "adamax",
            "adam-subclass",
        ]
    ),
    density=st.sampled_from([0.1, 0.25, 0.5]),
    interval=st.integers(2, 5),
    seed=st.integers(0, 2**16),
    backend=st.sampled_from(["dense", "sparse"]),
)
def test_invariants_after_every_step_and_update(method, opt_kind, density, interval, seed, backend):
    model = mlp(seed=seed)
    opt = make_optimizer(opt_kind, model)
    n_steps = 4 * interval + 1
    engine = DSTEngine(
        model, opt, method, density=density, total_steps=n_steps, update_interval=interval, seed=seed, backend=backend
    )
    assert_inactive_zero(engine)
    for step in range(n_steps):
        before = {n: m.clone() for n, m in engine.masks.items()}
        n_before = engine.n_updates
        train_step(model, opt, step)
        assert_inactive_zero(engine)
        if engine.n_updates == n_before:
            for name, mask in engine.masks.items():
                assert torch.equal(mask, before[name])
            continue
        for name, mask in engine.masks.items():
            weight, _, bufs = layer_tensors(engine, name)
            row = [r for r in engine.history if r["layer"] == name][-1]
            assert int(mask.sum()) == row["links"], (method, name)
            if engine.config.density_schedule == "ems":  # a fixed share regrows, not back to a target
                assert row["regrown"] == engine.schedules[name].grow_count(engine.step, mask.numel())
            else:
                assert int(mask.sum()) == engine.target_links(name), (method, name)
            removed = engine.latest[name]["removed"]
            regrown = engine.latest[name]["regrown"]
            flat_before, flat_after = before[name].reshape(-1), mask.reshape(-1)
            removed_mask = _scatter(removed, flat_after)
            assert flat_before[removed].all() and not (flat_before & ~removed_mask)[regrown].any()
            # no link is both removed and kept: a removed link is present afterwards only if it was regrown
            kept_removed = set(removed[flat_after[removed]].tolist())
            assert kept_removed <= set(regrown.tolist())
            assert torch.equal(flat_after, (flat_before & ~removed_mask) | _scatter(regrown, flat_after))
            # regrown links start at weight 0 with zero optimizer state (the authors' recipes: unless the same
            # update removed them, then they keep their weight)
            if engine.config.readded_keep_weight:
                regrown = regrown[~flat_before[regrown]]
            assert torch.all(weight.reshape(-1)[regrown] == 0)
            for buf in bufs.values():
                assert torch.all(buf.reshape(-1)[regrown] == 0)


def _scatter(idx, like):
    out = torch.zeros_like(like)
    out[idx] = True
    return out


def test_nan_gradients_on_missing_links_never_leak():
    model = mlp()
    opt = make_optimizer("adam", model)
    engine = DSTEngine(model, opt, "set", density=0.2, total_steps=50, update_interval=5)
    for step in range(12):
        x, y = batch(step)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        for name, mask in engine.masks.items():
            grad = model.get_submodule(name).weight.grad
            grad[~mask] = float("nan")
        opt.step()
        for name in engine.layers:
            assert torch.isfinite(model.get_submodule(name).weight).all()
        assert_inactive_zero(engine)


def test_strict_mode_rezeroes_after_external_writes():
    model = mlp()
    opt = make_optimizer("sgd", model)
    engine = DSTEngine(model, opt, "set", density=0.2, total_steps=50, update_interval=100, strict=True)
    train_step(model, opt, 0)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))
        model[0].weight[engine.masks["0"]] = 1.0
    train_step(model, opt, 1)
    assert_inactive_zero(engine)


def test_dense_gradient_gathered_only_before_an_update(monkeypatch):
    model = mlp()
    opt = make_optimizer("sgd", model)
    engine = DSTEngine(model, opt, "rigl", density=0.2, total_steps=40, update_interval=4)
    seen = []
    original = engine.update

    def spy():
        seen.append((engine.step, sorted(engine._dense_grad)))
        return original()

    monkeypatch.setattr(engine, "update", spy)
    stashes = []
    pre = engine._pre_step

    def pre_spy(*a):
        pre(*a)
        stashes.append(bool(engine._dense_grad))

    engine._hooks[0].remove()
    engine._hooks[0] = opt.register_step_pre_hook(pre_spy)
    # keep the pre hook first: re-register the post hook after it
    engine._hooks[1].remove()
    engine._hooks[1] = opt.register_step_post_hook(engine._post_step)
    for step in range(12):
        train_step(model, opt, step)
    assert [s for s, _ in seen] == [4, 8, 12]
    assert all(names == engine.layers for _, names in seen)
    assert stashes == [(i + 1) % 4 == 0 for i in range(12)]
    assert not engine._dense_grad


ALL_OPTIMIZERS = [
    "sgd", "nesterov", "adam", "adamw", "rmsprop", "nadam", "radam", "adagrad", "adadelta", "adamax", "adam-subclass",
]  # fmt: skip


@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize("opt_kind", ALL_OPTIMIZERS)
def test_every_accepted_optimizer_keeps_missing_links_at_zero(opt_kind, backend):
    model = mlp(seed=4)
    opt = make_optimizer(opt_kind, model)
    engine = DSTEngine(model, opt, "rigl", density=0.25, total_steps=13, update_interval=3, seed=4, backend=backend)
    for step in range(13):
        before = {n: m.clone() for n, m in engine.masks.items()}
        n = engine.n_updates
        train_step(model, opt, step)
        assert_inactive_zero(engine)
        if engine.n_updates != n:  # new links start from zero state
            for name, mask in engine.masks.items():
                _, _, bufs = layer_tensors(engine, name)
                new = mask & ~before[name]
                assert all(torch.all(buf[new] == 0) for buf in bufs.values()), (opt_kind, name)
    assert engine.n_updates == 3  # steps 3, 6, 9 (below T_end = 0.75 * 13)
    assert any(bool(torch.any(layer_tensors(engine, n)[0] != 0)) for n in engine.layers)  # it did train


def test_optimizers_that_cannot_keep_a_topology_are_refused_with_the_reason():
    model = mlp()
    with pytest.raises(DstnetError, match="unsupported optimizer torch.optim.rprop.Rprop: its per-entry step sizes"):
        DSTEngine(model, torch.optim.Rprop(model.parameters()), "set", density=0.2, total_steps=10)
    with pytest.raises(DstnetError, match="LBFGS: it recomputes the loss through a closure"):
        DSTEngine(model, torch.optim.LBFGS(model.parameters()), "set", density=0.2, total_steps=10)
    with pytest.raises(DstnetError, match="must be a torch.optim.Optimizer"):
        DSTEngine(model, object(), "set", density=0.2, total_steps=10)


def test_zero_preserving_optimizers_need_no_per_step_rezeroing():
    for kind, preserving in [("rmsprop", True), ("adam-subclass", True), ("adagrad", True), ("adamax", False)]:
        model = mlp()
        engine = DSTEngine(model, make_optimizer(kind, model), "set", density=0.2, total_steps=10)
        assert engine.zero_preserving is preserving and engine.strict is not preserving, kind
    model = mlp()
    opt = torch.optim.Adagrad(model.parameters(), initial_accumulator_value=0.1)
    assert not DSTEngine(model, opt, "set", density=0.2, total_steps=10).zero_preserving


def test_a_second_engine_on_one_optimizer_is_refused_until_the_first_closes():
    model = mlp()
    opt = make_optimizer("sgd", model)
    first = DSTEngine(model, opt, "set", density=0.2, total_steps=10)
    with pytest.raises(DstnetError, match="already drives a DSTEngine"):
        DSTEngine(model, opt, "set", density=0.2, total_steps=10)
    first.close()
    DSTEngine(model, opt, "set", density=0.2, total_steps=10)


def test_sparse_weight_not_in_optimizer():
    model = mlp()
    with pytest.raises(DstnetError, match="not in the optimizer"):
        DSTEngine(model, torch.optim.SGD(model[4].parameters(), lr=0.1), "set", density=0.2, total_steps=10)


# ---------------------------------------------------------------------------------------------------------------
# Overlap and early stop on constructed cases
# ---------------------------------------------------------------------------------------------------------------


def constructed(early_stop=False, zeta=0.5, readded_keep_weight=True):
    """One sparse 4x4 layer with 8 links and hand-set weights and gradients (RigL-style: WM removal, gradient
    regrowth, no percolation)."""
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    engine = DSTEngine(
        model,
        opt,
        "rigl",
        density=0.5,
        total_steps=1000,
        zeta=zeta,
        zeta_schedule="constant",
        early_stop=early_stop,
        update_interval=10,
        readded_keep_weight=readded_keep_weight,
    )
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask.view(-1)[[0, 1, 2, 3, 4, 5, 6, 7]] = True
    with torch.no_grad():
        model[0].weight_mask.copy_(mask)
        w = torch.zeros(16)
        w[:8] = torch.tensor([0.1, 0.2, 0.3, 0.4, 5.0, 6.0, 7.0, 8.0])  # links 0-3 are the weakest
        model[0].weight.copy_(w.view(4, 4))
    return model, opt, engine


def set_grad(model, hot):
    grad = torch.zeros(16)
    grad[hot] = torch.tensor([10.0, 9.0, 8.0, 7.0])
    model[0].weight.grad = grad.view(4, 4).clone()


@pytest.mark.parametrize("keep", [True, False])
def test_overlap_ratio_on_a_constructed_case(keep):
    model, _, engine = constructed(readded_keep_weight=keep)
    set_grad(model, [0, 1, 8, 9])  # two removed links (0, 1) and two new ones (8, 9) get the largest gradients
    rows = engine.update()
    row = next(r for r in rows if r["layer"] == "0")
    assert sorted(engine.latest["0"]["removed"].tolist()) == [0, 1, 2, 3]
    assert sorted(engine.latest["0"]["regrown"].tolist()) == [0, 1, 8, 9]
    assert row["removed"] == 4 and row["regrown"] == 4
    assert row["overlap"] == 0.5
    removed, regrown = set(engine.latest["0"]["removed"].tolist()), set(engine.latest["0"]["regrown"].tolist())
    assert row["overlap"] == len(removed & regrown) / len(regrown)
    expected = torch.zeros(16, dtype=torch.bool)
    expected[[0, 1, 4, 5, 6, 7, 8, 9]] = True
    assert torch.equal(model[0].weight_mask.view(-1), expected)
    w = model[0].weight.detach().view(-1)
    assert torch.all(w[[8, 9]] == 0) and torch.equal(w[4:8], torch.tensor([5.0, 6.0, 7.0, 8.0]))
    # removed and regrown by the same update: the authors' code keeps the weight, the papers' text restarts at 0
    assert torch.equal(w[[0, 1]], torch.tensor([0.1, 0.2]) if keep else torch.zeros(2))
    assert engine.last_update_summary()["overlap"] == 0.5


def test_early_stop_freezes_the_topology():
    model, opt, engine = constructed(early_stop=True)
    set_grad(model, [0, 1, 2, 3])  # regrow exactly what was removed: overlap 1 > 0.9
    rows = engine.update()
    assert rows[0]["overlap"] == 1.0
    assert engine.flags == {"0": True} and engine.frozen
    frozen_mask = model[0].weight_mask.clone()
    set_grad(model, [8, 9, 10, 11])
    assert engine.update() == []
    opt.param_groups[0]["lr"] = 0.1
    for _ in range(25):  # updates would be due at steps 10 and 20
        x = torch.randn(8, 4)
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    assert torch.equal(model[0].weight_mask, frozen_mask)
    assert engine.n_updates == 1 and len(engine.history) == 1


def test_no_early_stop_below_threshold():
    model, _, engine = constructed(early_stop=True)
    set_grad(model, [0, 1, 8, 9])
    engine.update()
    assert engine.flags == {"0": False} and not engine.frozen


# ---------------------------------------------------------------------------------------------------------------
# Resume
# ---------------------------------------------------------------------------------------------------------------


def build(method, opt_kind="sgd", seed=3, total=24, **kw):
    kw.setdefault("backend", "dense")
    model = mlp(seed=seed)
    opt = make_optimizer(opt_kind, model)
    engine = DSTEngine(model, opt, method, density=0.25, total_steps=total, update_interval=4, seed=seed, **kw)
    return model, opt, engine


def roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("backend", ["dense", "sparse"])
@pytest.mark.parametrize(
    "method,opt_kind", [("chts", "sgd"), ("rigl", "adam"), ("chtss", "adamw"), ("mest", "sgd"), ("cht", "sgd")]
)
def test_interrupted_and_resumed_run_matches_a_straight_run(method, opt_kind, backend):
    total = 24
    model_a, opt_a, eng_a = build(method, opt_kind, total=total, backend=backend)
    for step in range(total):
        train_step(model_a, opt_a, step)

    model_b, opt_b, eng_b = build(method, opt_kind, total=total, backend=backend)
    for step in range(total // 2 + 1):  # stop just after an update (steps 4, 8, 12)
        train_step(model_b, opt_b, step)
    ckpt = roundtrip({"model": model_b.state_dict(), "opt": eng_b.optimizer_state_dict(), "engine": eng_b.state_dict()})
    assert any(k.endswith("weight_mask") for k in ckpt["model"])

    torch.manual_seed(12345)  # a different global RNG state must not matter
    model_c, opt_c, eng_c = build(method, opt_kind, seed=3, total=total, backend=backend)
    model_c.load_state_dict(ckpt["model"])
    eng_c.load_optimizer_state_dict(ckpt["opt"])
    eng_c.load_state_dict(ckpt["engine"])
    for step in range(total // 2 + 1, total):
        train_step(model_c, opt_c, step)

    assert eng_a.n_updates == eng_c.n_updates > 0
    for name in eng_a.layers:
        assert torch.equal(eng_a.masks[name], eng_c.masks[name])
    for (ka, pa), (kc, pc) in zip(model_a.state_dict().items(), model_c.state_dict().items(), strict=True):
        assert ka == kc and torch.equal(pa, pc), ka
    assert _same_history(eng_a.history, eng_c.history)
    for name in eng_a.layers:
        for key in ("removed", "regrown"):
            assert torch.equal(eng_a.latest[name][key], eng_c.latest[name][key])


def _same_history(a, b):
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for key in ra:
            x, y = ra[key], rb[key]
            if isinstance(x, float) and math.isnan(x):
                if not (isinstance(y, float) and math.isnan(y)):
                    return False
            elif x != y:
                return False
    return True


def test_load_state_dict_rejects_other_configs():
    _, _, eng = build("chts")
    state = eng.state_dict()
    _, _, other = build("chts", zeta=0.2)
    with pytest.raises(DstnetError, match="zeta"):
        other.load_state_dict(state)
    _, _, other = build("set")
    with pytest.raises(DstnetError):
        other.load_state_dict(state)
    with pytest.raises(DstnetError, match="state dict"):
        eng.load_state_dict({"step": 3})


def test_state_dict_is_plain_data():
    model, opt, eng = build("chts")
    for step in range(9):
        train_step(model, opt, step)
    state = roundtrip(eng.state_dict())
    assert state["n_updates"] == 2 and len(state["history"]) == 2 * len(eng.layers)
    assert state["config"]["name"] == "chts"


# ---------------------------------------------------------------------------------------------------------------
# Set-up: layer choice, structure, densities, initial topologies, schedules, fc
# ---------------------------------------------------------------------------------------------------------------


def test_layer_selection():
    model = mlp((6, 8, 8, 8, 3))
    assert select_sparse_layers(model) == ["0", "2", "4"]
    assert select_sparse_layers(model, "^[02]$") == ["0", "2"]
    assert select_sparse_layers(model, lambda name, mod: mod.out_features == 8) == ["0", "2", "4"]
    assert select_sparse_layers(model, ["2", "4"]) == ["2", "4"]
    with pytest.raises(DstnetError, match="not Linear \\(or Conv1D\\) modules"):
        select_sparse_layers(model, ["1"])


def test_masks_are_buffers_and_weights_follow_swi():
    model = mlp((40, 60, 60, 4))
    opt = make_optimizer("sgd", model)
    with pytest.warns(UserWarning, match="no calibration data"):
        engine = DSTEngine(model, opt, "chts-paper", density=0.1, total_steps=100)
    keys = model.state_dict().keys()
    assert "0.weight_mask" in keys and "2.weight_mask" in keys and "4.weight_mask" not in keys
    assert engine.init_topologies == {"0": "bsw", "2": "bsw"}
    for name, mask in engine.masks.items():
        assert mask.dtype == torch.bool and int(mask.sum()) == engine.target_links(name, 0)
        w = model.get_submodule(name).weight.detach()
        std = float(w[mask].std())
        expected = math.sqrt(2.0) / math.sqrt(0.1 * w.shape[1])
        assert 0.8 * expected < std < 1.2 * expected


@pytest.mark.parametrize(
    "method,sigma",
    [
        # the authors' code: sqrt(2 / ((1 - S) N / n_in)) = sqrt(2 / (D n_out)), at EM&S's starting density 0.15
        ("chts", lambda w: math.sqrt(2.0 / (0.15 * w.shape[0]))),
        # --init_mode kaiming: dense Kaiming normal sqrt(2 / n_in), then masked
        ("set", lambda w: math.sqrt(2.0 / w.shape[1])),
    ],
)
def test_weight_init_of_the_authors_code(method, sigma):
    model = mlp((200, 400, 400, 4))  # n_out != n_in, so fan-in and fan-out differ by 2x
    engine = DSTEngine(model, make_optimizer("sgd", model), method, density=0.1, total_steps=100, data=None)
    for name, mask in engine.masks.items():
        w = model.get_submodule(name).weight.detach()
        assert torch.all(w[~mask] == 0)
        assert float(w[mask].std()) == pytest.approx(sigma(w), rel=0.08), name


def test_structure_required_when_layers_do_not_chain():
    model = nn.Sequential(nn.Linear(8, 6), nn.Linear(8, 6), nn.Linear(6, 2))
    opt = make_optimizer("sgd", model)
    with pytest.raises(DstnetError, match="structure"):
        DSTEngine(model, opt, "chts", density=0.3, total_steps=10)
    engine = DSTEngine(model, opt, "set", density=0.3, total_steps=10)  # no percolation: independent layers
    assert engine.structure.chains == ()
    coupled = Structure(layers=("0", "1"), coupled=(("0", "1"),))
    model2 = nn.Sequential(nn.Linear(8, 6), nn.Linear(8, 6), nn.Linear(6, 2))
    engine = DSTEngine(model2, make_optimizer("sgd", model2), "chts", density=0.3, total_steps=10, structure=coupled)
    assert engine.layers == ["0", "1"]


def test_erk_densities_and_density_errors():
    model = mlp((10, 40, 40, 4))
    opt = make_optimizer("sgd", model)
    engine = DSTEngine(model, opt, "set", density=0.2, total_steps=10, density_distribution="erk")
    assert engine.final_densities["0"] > engine.final_densities["2"]
    total = sum(m.numel() for m in engine.masks.values())
    assert abs(engine.overall_density() - 0.2) < 2 / total
    for bad in (None, 0.0, 1.5):
        with pytest.raises(DstnetError):
            model = mlp()
            DSTEngine(model, make_optimizer("sgd", model), "set", density=bad, total_steps=10)


def test_csti_with_data_and_fallback():
    rng = np.random.default_rng(0)
    data = rng.random((200, 12))
    model = mlp((12, 24, 20, 4))
    opt = make_optimizer("sgd", model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        engine = DSTEngine(model, opt, "cht", density=0.2, total_steps=10, data=data)
    # 12 -> 24 tiles the 12-feature correlation; 24 -> 20 does not, and falls back to BSW
    assert engine.init_topologies == {"0": "csti", "2": "bsw"}
    model2 = mlp((12, 24, 20, 4))
    engine2 = DSTEngine(model2, make_optimizer("sgd", model2), "cht", density=0.2, total_steps=10)
    assert engine2.init_topologies == {"0": "bsw", "2": "bsw"}


def test_chtss_follows_the_sigmoid_density_schedule():
    model, opt, engine = build("chtss", total=41)
    assert engine.topology_end == 0.75 * 41 and engine.planned_updates == 7  # steps 4, 8, ..., 28 < 30.75
    assert abs(engine.overall_density() - 0.5) < 0.01  # s_i = 0.5
    links = []
    for step in range(41):
        train_step(model, opt, step)
        if engine.history and engine.history[-1]["step"] == engine.step:
            links.append(sum(int(m.sum()) for m in engine.masks.values()))
            for name, mask in engine.masks.items():
                assert int(mask.sum()) == engine.target_links(name)
    assert len(links) == 7 and all(a >= b for a, b in zip(links, links[1:], strict=False))
    assert abs(engine.overall_density() - 0.25) < 0.01
    assert any(r["pruned"] > 0 for r in engine.history)


def test_mest_ems_prunes_its_share_and_regrows_the_overshoot():
    model, opt, engine = build("mest", total=41)  # density 0.25: start at 0.30, T_end = 30.75, updates 4..28
    for name, mask in engine.masks.items():
        assert int(mask.sum()) == engine.target_links(name, 0) == int((1 - (1 - 0.25 - 0.05)) * mask.numel())
    for step in range(41):
        train_step(model, opt, step)
    assert engine.n_updates == 7
    first = [r for r in engine.history if r["update"] == 1]
    for r in first:
        n_cells = engine.masks[r["layer"]].numel()
        s0 = 1 - 0.25 - 0.05
        nnz = engine.target_links(r["layer"], 0)
        assert r["pruned"] == int(nnz * ((1 - s0 - 0.25) / (1 - s0))) and r["regrown"] == int(0.05 * n_cells)
    assert all(r["regrown"] == 0 for r in engine.history if r["update"] == 7)  # step 28 >= T_end - 4


def test_fc_is_a_no_op():
    model = mlp()
    opt = make_optimizer("sgd", model)
    before = [p.detach().clone() for p in model.parameters()]
    engine = DSTEngine(model, opt, "fc", total_steps=10)
    assert engine.masks == {} and engine.layers == []
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    for step in range(5):
        train_step(model, opt, step)
    assert engine.step == 5 and engine.history == [] and engine.overall_density() == 1.0
    assert engine.update() == []
    state = roundtrip(engine.state_dict())
    model2 = mlp()
    fresh = DSTEngine(model2, make_optimizer("sgd", model2), "fc", total_steps=10)
    fresh.load_state_dict(state)
    assert fresh.step == 5


def test_close_removes_the_hooks():
    model = mlp()
    opt = make_optimizer("sgd", model)
    engine = DSTEngine(model, opt, "set", density=0.2, total_steps=10)
    engine.close()
    train_step(model, opt, 0)
    assert engine.step == 0


def test_topology_metrics_use_the_chain_anp_on_an_mlp_and_the_structure_anp_elsewhere():
    from netsci_dst.analysis.anp import anp, anp_structure

    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(12, 10), nn.ReLU(), nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = torch.optim.SGD(mlp.parameters(), lr=0.1)
    engine = DSTEngine(mlp, opt, "set", density=0.2, total_steps=10, sparse_layers=["0", "2"], backend="dense")
    masks = {n: m.numpy() for n, m in engine.masks.items()}
    assert engine.is_chain()
    chain = anp([masks["0"], masks["2"]])
    assert engine.anp() == chain["overall"] and chain["sizes"] == [12, 10, 8]  # inputs counted, as in [CHT]
    metrics = engine.topology_metrics()
    assert metrics == {
        "density": engine.overall_density(),
        "anp": chain["overall"],
        "overlap": None,  # no update yet
        "updates": 0,
        "frozen": False,
    }

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(8, 8) for _ in range(4))

    att = Attention()
    structure = Structure(["q", "k", "v", "o"], chains=[("v", "o")], coupled=[("q", "k")])
    opt = torch.optim.SGD(att.parameters(), lr=0.1)
    engine = DSTEngine(
        att, opt, "set", density=0.2, total_steps=10, sparse_layers=["q", "k", "v", "o"], structure=structure
    )
    masks = {n: m.numpy() for n, m in engine.masks.items()}
    assert not engine.is_chain()
    assert engine.anp() == anp_structure(masks, structure)["overall"]


def test_setting_a_mask_on_the_dense_backend_zeroes_the_links_that_go_and_come():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    engine = DSTEngine(model, opt, "set", density=0.5, total_steps=100, sparse_layers=["0", "2"], backend="dense")
    model(torch.randn(3, 6)).sum().backward()
    opt.step()
    old = engine.masks["0"].clone()
    new = old.clone()
    gone, come = old.nonzero()[0].tolist(), (~old).nonzero()[0].tolist()
    new[gone[0], gone[1]], new[come[0], come[1]] = False, True
    engine._set_mask("0", new)
    weight, momentum = model[0].weight, opt.state[model[0].weight]["momentum_buffer"]
    assert torch.equal(engine.masks["0"], new)
    for r, c in (gone, come):
        assert weight[r, c] == 0 and momentum[r, c] == 0
