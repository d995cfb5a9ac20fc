"""The sparse execution backend against the dense one: same topology decisions, same weights to round-off,
checkpoints that move between them, the dense gradient only before an update, and no dense tensor for a sparse
layer."""

import io
import warnings

import numpy as np
import pytest
import torch
from test_engine import SPARSE_METHODS, make_optimizer, mlp, train_step
from torch import nn

from netsci_dst.dst.engine import AUTO_SPARSE_DENSITY, DSTEngine
from netsci_dst.dst.sparse_linear import SparseLinear
from netsci_dst.errors import DstnetError

TOTAL = 30
INTERVAL = 4


def build(method, backend, opt_kind="sgd", seed=1, density=0.25, **overrides):
    model = mlp(seed=seed)
    opt = make_optimizer(opt_kind, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CSTI -> BSW fallback without data, the same on both backends
        engine = DSTEngine(
            model, opt, method, density=density, total_steps=TOTAL, update_interval=INTERVAL, seed=seed,
            backend=backend, **overrides,
        )  # fmt: skip
    return model, opt, engine


def run(method, backend, opt_kind="sgd", steps=range(TOTAL), built=None, **overrides):
    """Train; return the engine and the masks after every update."""
    model, opt, engine = built or build(method, backend, opt_kind, **overrides)
    after_updates = []
    for step in steps:
        n = engine.n_updates
        train_step(model, opt, step)
        if engine.n_updates != n:
            after_updates.append({k: v.clone() for k, v in engine.masks.items()})
    return engine, after_updates


def roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
@pytest.mark.parametrize("method", SPARSE_METHODS)
def test_same_masks_at_every_update_and_weights_to_round_off(method, opt_kind):
    dense, dense_masks = run(method, "dense", opt_kind)
    sparse, sparse_masks = run(method, "sparse", opt_kind)
    assert sparse.backend == "sparse" and dense.backend == "dense"
    assert len(dense_masks) == len(sparse_masks) == dense.n_updates >= 5
    for a, b in zip(dense_masks, sparse_masks, strict=True):
        for name in a:
            assert torch.equal(a[name], b[name]), (method, name)
    for name in dense.layers:
        torch.testing.assert_close(sparse.weight(name), dense.weight(name).detach(), rtol=0, atol=1e-5)
    assert dense.history == sparse.history or all(
        {k: v for k, v in r.items() if k != "overlap"} == {k: v for k, v in s.items() if k != "overlap"}
        for r, s in zip(dense.history, sparse.history, strict=True)
    )


@pytest.mark.parametrize(
    "method,overrides",
    [
        ("set", {"regrow_init": "swi", "readded_keep_weight": False}),  # SWI values for new links, readded reset
        ("chts", {"density_distribution": "erk", "skip_step_on_update": False}),
        ("rigl", {"zeta_schedule": "constant", "readded_keep_weight": False}),
    ],
)
def test_same_decisions_with_the_other_options(method, overrides):
    dense, dense_masks = run(method, "dense", "adam", **overrides)
    sparse, sparse_masks = run(method, "sparse", "adam", **overrides)
    assert len(dense_masks) == len(sparse_masks) >= 5
    for a, b in zip(dense_masks, sparse_masks, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    for name in dense.layers:
        torch.testing.assert_close(sparse.weight(name), dense.weight(name).detach(), rtol=0, atol=1e-5)


def test_the_sparse_backend_holds_no_dense_tensor_for_a_sparse_layer():
    model, opt, engine = build("rigl", "sparse", "adam")
    run("rigl", "sparse", "adam", range(10), built=(model, opt, engine))
    for name in engine.layers:
        module = model.get_submodule(name)
        assert isinstance(module, SparseLinear)
        n_links = int(engine.masks[name].sum())
        assert module.values.shape == (n_links,)
        held = [p for group in opt.param_groups for p in group["params"]]
        assert any(p is module.values for p in held) and not any(p.shape == engine._shapes[name] for p in held)
        assert all(t.shape == (n_links,) for k, t in opt.state[module.values].items() if k != "step")
        assert module.dense_grad is None and not module.capture_dense_grad  # step 10: no update at step 11
    assert not any(isinstance(m, nn.Linear) for n, m in model.named_modules() if n in engine.layers)


def test_the_dense_gradient_is_computed_only_for_the_step_before_an_update(monkeypatch):
    model, opt, engine = build("rigl", "sparse")
    armed = []
    for step in range(TOTAL):
        armed.append([model.get_submodule(n).capture_dense_grad for n in engine.layers])
        train_step(model, opt, step)
    due = [all(a) for a in armed]
    assert all(a == [a[0]] * len(a) for a in armed)
    # update steps are multiples of 4 below T_end = 0.75 * 30 = 22.5: steps 4, 8, ..., 20 (the 4th, 8th... steps)
    assert [i + 1 for i, d in enumerate(due) if d] == [4, 8, 12, 16, 20]
    _, _, set_engine = build("set", "sparse")
    assert not any(set_engine._modules[n].capture_dense_grad for n in set_engine.layers)  # SET needs none


@pytest.mark.parametrize("first,second", [("sparse", "dense"), ("dense", "sparse")])
def test_a_checkpoint_resumes_on_the_other_backend(first, second):
    method, opt_kind, half = "chts", "adam", TOTAL // 2 + 1
    straight, _ = run(method, second, opt_kind)

    model_a, opt_a, eng_a = build(method, first, opt_kind)
    run(method, first, opt_kind, range(half), built=(model_a, opt_a, eng_a))
    ckpt = roundtrip({"model": model_a.state_dict(), "opt": eng_a.optimizer_state_dict(), "engine": eng_a.state_dict()})
    assert {k for k in ckpt["model"] if k.startswith("0.")} == {"0.weight", "0.bias", "0.weight_mask"}
    assert ckpt["engine"]["backend"] == first

    model_b, opt_b, eng_b = build(method, second, opt_kind)
    model_b.load_state_dict(ckpt["model"])
    eng_b.load_optimizer_state_dict(ckpt["opt"])
    eng_b.load_state_dict(ckpt["engine"])
    for name in eng_b.layers:
        torch.testing.assert_close(eng_b.weight(name).detach(), eng_a.weight(name).detach(), rtol=0, atol=0)
    run(method, second, opt_kind, range(half, TOTAL), built=(model_b, opt_b, eng_b))
    assert eng_b.n_updates == straight.n_updates
    for name in straight.layers:
        assert torch.equal(eng_b.masks[name], straight.masks[name])
        torch.testing.assert_close(eng_b.weight(name).detach(), straight.weight(name).detach(), rtol=0, atol=1e-5)


DECAY = {"density_schedule": "sigmoid", "initial_density": 0.5, "schedule_end_fraction": 1.0}


def test_auto_turns_sparse_at_the_update_that_brings_the_density_down():
    """A decaying schedule (CHTss: 0.5 down to the target) starts dense under "auto" (CSR at density 0.5 is several
    times slower than dense) and turns sparse after the first update at density <= AUTO_SPARSE_DENSITY, with the
    same topology decisions as a run on the dense backend throughout."""
    auto_model, auto_opt, auto = build("chtss", "auto", "adam", density=0.02, **DECAY)
    assert auto.backend == "dense" and auto.overall_density() > 0.4
    backends, densities = [], []
    for step in range(TOTAL):
        n = auto.n_updates
        train_step(auto_model, auto_opt, step)
        if auto.n_updates != n:
            backends.append(auto.backend)
            densities.append(auto.overall_density())
    turned = backends.index("sparse")
    assert all(b == "dense" for b in backends[:turned]) and all(b == "sparse" for b in backends[turned:])
    assert densities[turned] <= AUTO_SPARSE_DENSITY < densities[turned - 1]
    assert all(isinstance(auto_model.get_submodule(n), SparseLinear) for n in auto.layers)
    dense, _ = run("chtss", "dense", "adam", density=0.02, **DECAY)
    for name in dense.layers:
        assert torch.equal(auto.masks[name], dense.masks[name])
        torch.testing.assert_close(auto.weight(name).detach(), dense.weight(name).detach(), rtol=0, atol=1e-5)
    assert auto.history == dense.history or [{k: v for k, v in r.items() if k != "overlap"} for r in auto.history] == [
        {k: v for k, v in r.items() if k != "overlap"} for r in dense.history
    ]


@pytest.mark.parametrize("stop", [6, 26])  # before the turn (resumed dense, turns later) and after it (at load)
def test_auto_resumes_bit_identically_across_the_turn(stop):
    straight, _ = run("chtss", "auto", "adam", density=0.02, **DECAY)
    model_a, opt_a, eng_a = build("chtss", "auto", "adam", density=0.02, **DECAY)
    run("chtss", "auto", "adam", range(stop), built=(model_a, opt_a, eng_a))
    ckpt = roundtrip({"model": model_a.state_dict(), "opt": eng_a.optimizer_state_dict(), "engine": eng_a.state_dict()})
    model_b, opt_b, eng_b = build("chtss", "auto", "adam", density=0.02, **DECAY)
    model_b.load_state_dict(ckpt["model"])
    eng_b.load_optimizer_state_dict(ckpt["opt"])
    eng_b.load_state_dict(ckpt["engine"])
    assert eng_b.backend == eng_a.backend
    run("chtss", "auto", "adam", range(stop, TOTAL), built=(model_b, opt_b, eng_b))
    assert eng_b.backend == straight.backend == "sparse"
    for name in straight.layers:
        assert torch.equal(eng_b.masks[name], straight.masks[name])
        assert torch.equal(eng_b.weight(name), straight.weight(name)), name


def test_loading_another_topology_into_the_model_moves_the_optimizer_along():
    """model.load_state_dict with other masks (a checkpoint of another step) swaps the values Parameter: the
    optimizer must follow, with per-link state of the links in both kept."""
    model, opt, engine = build("set", "sparse")
    run("set", "sparse", steps=range(6), built=(model, opt, engine))  # one update at step 4
    other, _, other_engine = build("set", "sparse", seed=7)
    name = engine.layers[0]
    old_state = opt.state[engine.parameter(name)]["momentum_buffer"].clone()
    old_flat = model.get_submodule(name).topology.flat_index()
    model.load_state_dict(other.state_dict())
    param = engine.parameter(name)
    assert torch.equal(engine.masks[name], other_engine.masks[name])
    assert any(p is param for p in opt.param_groups[0]["params"])
    new_flat = model.get_submodule(name).topology.flat_index()
    common, i_old, i_new = np.intersect1d(old_flat, new_flat, return_indices=True)
    buf = opt.state[param]["momentum_buffer"]
    assert buf.shape == (len(new_flat),) and len(common) > 0
    assert torch.equal(buf[torch.from_numpy(i_new)], old_state[torch.from_numpy(i_old)])
    gone = np.setdiff1d(np.arange(len(new_flat)), i_new)
    assert torch.all(buf[torch.from_numpy(gone)] == 0)
    train_step(model, opt, 0)  # and training goes on


def test_backend_choice_and_errors():
    assert build("set", "auto", density=AUTO_SPARSE_DENSITY)[2].backend == "sparse"
    assert build("chts", "auto", density=0.5)[2].backend == "dense"
    # EM&S starts 0.05 denser than the target: dense until an update brings it to AUTO_SPARSE_DENSITY
    assert build("chts", "auto", density=AUTO_SPARSE_DENSITY)[2].backend == "dense"
    model = mlp()
    fc = DSTEngine(model, make_optimizer("sgd", model), "fc", total_steps=5, backend="sparse")
    assert fc.backend == "dense" and fc.layers == []  # nothing is sparse
    with pytest.raises(DstnetError, match="backend must be one of"):
        build("chts", "csr")
    meta = mlp().to("meta")
    with pytest.raises(DstnetError, match="runs on the CPU"):
        DSTEngine(meta, make_optimizer("sgd", meta), "set", density=0.2, total_steps=5, backend="sparse")


@pytest.mark.parametrize("method", ["chtss", "rigl"])
def test_the_transformer_gets_the_same_masks_on_both_backends(method):
    """Coupled q/k, chained v -> o and FFN percolation, Adam, 3-D activations: the same decisions."""
    from netsci_dst.models.transformer import Transformer, TransformerConfig

    results = {}
    for backend in ("dense", "sparse"):
        torch.manual_seed(0)
        model = Transformer(
            TransformerConfig(
                vocab_size=20,
                d_model=16,
                n_heads=2,
                d_ff=32,
                n_encoder_layers=1,
                n_decoder_layers=1,
                dropout=0.0,
                attention_dropout=0.0,
            )  # fmt: skip
        )
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        engine = DSTEngine(
            model, opt, method, density=0.3, total_steps=16, update_interval=3, seed=2, backend=backend,
            sparse_layers=model.sparse_layer_names(), structure=model.percolation_structure(),
        )  # fmt: skip
        g = torch.Generator().manual_seed(3)
        masks = []
        for _ in range(16):
            src = torch.randint(1, 20, (4, 7), generator=g)
            tgt = torch.randint(1, 20, (4, 6), generator=g)
            opt.zero_grad()
            logits = model(src, tgt[:, :-1])
            nn.functional.cross_entropy(logits.reshape(-1, 20), tgt[:, 1:].reshape(-1)).backward()
            n = engine.n_updates
            opt.step()
            if engine.n_updates != n:
                masks.append({k: v.clone() for k, v in engine.masks.items()})
        results[backend] = (engine, masks)
    (dense, dmasks), (sparse, smasks) = results["dense"], results["sparse"]
    assert len(dmasks) == len(smasks) == 3 and sparse.backend == "sparse"
    for a, b in zip(dmasks, smasks, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    for name in dense.layers:
        torch.testing.assert_close(sparse.weight(name), dense.weight(name).detach(), rtol=0, atol=1e-5)


def test_a_copy_of_a_sparse_model_is_independent_of_the_engine():
    import copy
    import pickle

    model, opt, engine = build("set", "sparse")
    run("set", "sparse", steps=range(5), built=(model, opt, engine))
    twin = copy.deepcopy(model)
    layer = twin.get_submodule(engine.layers[0])
    assert layer._values_hooks == [] and model.get_submodule(engine.layers[0])._values_hooks
    x = torch.randn(3, 12)
    torch.testing.assert_close(twin(x), model(x))
    twin.load_state_dict(build("set", "sparse", seed=5)[0].state_dict())  # a new topology in the copy...
    held = [p for g in opt.param_groups for p in g["params"]]
    assert all(any(p is q for q in held) for p in (engine.parameter(n) for n in engine.layers))  # ...not in the run
    assert pickle.loads(pickle.dumps(twin)).get_submodule(engine.layers[0]).topology.nnz == layer.topology.nnz


def test_a_shared_layer_is_sparse_under_every_name_and_half_precision_stays_dense():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(8, 8)
            self.b = self.a  # the same layer, twice
            self.c = nn.Linear(8, 3)

        def forward(self, x):
            return self.c(torch.relu(self.b(torch.relu(self.a(x)))))

    model = Shared()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    engine = DSTEngine(model, opt, "set", density=0.3, total_steps=10, sparse_layers=["a"], backend="sparse")
    assert model.a is model.b and isinstance(model.b, SparseLinear)
    model(torch.randn(4, 8)).sum().backward()
    assert engine.parameter("a").grad is not None
    half = mlp().half()
    with pytest.raises(DstnetError, match="float32 or float64"):
        DSTEngine(half, torch.optim.SGD(half.parameters(), lr=0.1), "set", density=0.3, total_steps=5, backend="sparse")
    half = mlp().to(torch.bfloat16)
    auto = DSTEngine(
        half, torch.optim.SGD(half.parameters(), lr=0.1), "set", density=0.05, total_steps=5, backend="auto"
    )
    assert auto.backend == "dense"


def test_in_place_activations_after_sparse_layers():
    model = nn.Sequential(
        nn.Linear(8, 16, bias=False), nn.ReLU(inplace=True), nn.Linear(16, 16, bias=False), nn.ReLU(inplace=True),
        nn.Linear(16, 2),
    )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    engine = DSTEngine(model, opt, "set", density=0.3, total_steps=10, backend="sparse")
    assert model[0].feeds_sparse  # its output is stored transposed for the next sparse layer
    model(torch.randn(4, 8)).sum().backward()
    assert all(engine.parameter(n).grad is not None for n in engine.layers)


@pytest.mark.parametrize("method", ["set", "rigl"])
def test_mask_gradients_gives_both_backends_the_same_gradient_norm_and_keeps_the_dense_one(method):
    """Clipping needs the sparse network's gradient norm: mask_gradients before clip_grad_norm_ makes the dense
    backend's norm the sparse one's (the missing links' gradients are not part of it); an update due next still
    gets the dense gradient (RigL), and a second call changes nothing."""
    from test_engine import batch

    norms, stashed = {}, {}
    for backend in ("dense", "sparse"):
        model, opt, engine = build(method, backend)
        for step in range(INTERVAL - 1):  # the next step is an update step
            train_step(model, opt, step)
        x, y = batch(INTERVAL - 1, model[0].in_features, model[-1].out_features)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        engine.mask_gradients()
        engine.mask_gradients()
        norms[backend] = float(nn.utils.clip_grad_norm_(model.parameters(), 1e9))
        stashed[backend] = {k: v.clone() for k, v in engine._dense_grad.items()}
    assert norms["dense"] == pytest.approx(norms["sparse"], rel=1e-5)
    if method == "rigl":
        assert stashed["dense"].keys() == stashed["sparse"].keys() and stashed["dense"]
        for name in stashed["dense"]:
            torch.testing.assert_close(stashed["dense"][name], stashed["sparse"][name], rtol=1e-5, atol=1e-6)
            assert bool((stashed["dense"][name] != 0).float().mean() > 0.5)  # dense: not masked


def test_the_dense_parameter_count_and_the_backend_text_do_not_depend_on_the_backend():
    dense = build("set", "dense", density=0.05)[2]
    sparse = build("set", "sparse", density=0.05)[2]
    plain = sum(p.numel() for p in mlp().parameters())
    assert dense.dense_parameter_count() == sparse.dense_parameter_count() == plain
    assert sum(p.numel() for p in sparse.model.parameters()) < plain  # the sparse backend holds only the links
    assert sparse.describe_backend() == "sparse backend" and dense.describe_backend() == "dense backend"
    decaying = build("chtss", "auto", density=0.02, **DECAY)[2]
    assert decaying.describe_backend() == f"dense backend, sparse once the density is <= {AUTO_SPARSE_DENSITY:g}"
    assert build("chtss", "auto", density=0.3, **DECAY)[2].describe_backend() == "dense backend"  # never gets there
