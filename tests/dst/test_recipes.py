"""The recipes as the authors' code runs them: schedules at chosen steps, the EM&S trajectory, the end of evolution.

The oracles below restate the authors' formulas (biomedical-cybernetics/Cannistraci-Hebb-training at d1677b5,
mlp_and_cnn/dst_scheduler.py and run.py) independently of dstnet's schedule code.
"""

import math

import numpy as np
import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.methods import get_method


def mlp(sizes, seed=0):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def engine_for(method, sizes=(20, 40, 40, 40, 4), density=0.1, total=600, interval=20, family="mlp", **kw):
    model = mlp(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    cfg = get_method(method, family=family, update_interval=interval, **kw)
    data = np.random.default_rng(0).random((64, sizes[0]))
    engine = DSTEngine(model, opt, cfg, density=density, total_steps=total, data=data, seed=1)
    return model, opt, engine


def train_steps(model, opt, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    n_in = model[0].in_features
    for _ in range(n):
        x = torch.randn(16, n_in, generator=g)
        y = torch.randint(0, model[-1].out_features, (16,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


# ---------------------------------------------------------------------------------------------------------------
# schedules at chosen steps
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [20, 140, 220, 440])
def test_cosine_zeta_of_cht_and_rigl(step):
    # adaptive zeta: alpha / 2 (1 + cos(step pi / T_end)), T_end = epochs * 0.75 * len(loader) (run.py 195-196)
    for method in ("cht", "rigl"):
        _, _, engine = engine_for(method)
        t_end = 600 * 0.75
        expected = 0.3 / 2 * (1 + np.cos(step * np.pi / t_end))
        assert engine.schedule_at(step)["zeta"] == pytest.approx(expected, abs=1e-15)
    _, _, engine = engine_for("set")
    assert engine.schedule_at(step)["zeta"] == 0.3  # no --adaptive_zeta in the SET command


@pytest.mark.parametrize("step", [100, 200, 300, 440])
def test_soft_temperature_of_the_transformer_chts(step):
    # T = 1 + self.step * (2 / self.T_end) (Transformer/dst_scheduler.py line 383), T_end = 0.75 of the steps
    _, _, engine = engine_for("chts", family="transformer", interval=100)
    assert engine.schedule_at(step)["temperature"] == pytest.approx(1 + step * (2 / 450.0), abs=1e-15)
    # the paper variant: T = delta / (1 - delta), delta 0.5 -> 0.75 over training
    _, _, paper = engine_for("chts-paper")
    delta = 0.5 + 0.25 * step / 600
    assert paper.schedule_at(step)["temperature"] == pytest.approx(delta / (1 - delta), rel=1e-12)


@pytest.mark.parametrize("update", [1, 5, 11, 22])
def test_sigmoid_density_of_chtss(update):
    # s_t = s0 + (s1 - s0) ((sigmoid(k (t - mid)) - 1/2) / (sigmoid(k mid) - sigmoid(-k mid)) + 1/2), k = 6 / mid
    # (llm/dst_scheduler.py lines 604-627); dstnet reaches the target at the last update before T_end
    _, _, engine = engine_for("chtss")
    n = engine.planned_updates
    assert n == 22  # steps 20, 40, ..., 440 < 450
    mid = n / 2
    k = 6 / mid

    def sig(x):
        return 1 / (1 + math.exp(-x))

    shaped = (sig(k * (update - mid)) - 0.5) / (sig(k * mid) - sig(-k * mid)) + 0.5
    expected_sparsity = 0.5 + (0.9 - 0.5) * min(1.0, shaped)
    for density in engine.schedule_at(update * 20)["density"].values():
        assert density == pytest.approx(1 - expected_sparsity, abs=1e-12)


def test_ems_density_steps_of_chts():
    _, _, engine = engine_for("chts")  # T_end = 450, 0.6 T_end = 270, last update 440
    densities = {step: next(iter(engine.schedule_at(step)["density"].values())) for step in (20, 260, 280, 420, 440)}
    assert densities[20] == densities[260] == pytest.approx(0.15, abs=1e-15)
    assert densities[280] == densities[420] == pytest.approx(0.125, abs=1e-15)
    assert densities[440] == pytest.approx(0.1, abs=1e-15)
    assert [engine.schedule_at(s)["evolves"] for s in (440, 450, 460, 599)] == [True, False, False, False]


# ---------------------------------------------------------------------------------------------------------------
# the EM&S trajectory of the paper MLP against the authors' scheduler
# ---------------------------------------------------------------------------------------------------------------


def authors_chain_removal(masks):
    """The authors' chain removal over the sparse layers (remove_unactive_links_backward/forward): one backward
    sweep zeroing the rows of neurons without outgoing links, then one forward sweep zeroing the columns of
    neurons without incoming links."""
    masks = [m.clone() for m in masks]
    for i in reversed(range(len(masks) - 1)):
        has_out = masks[i + 1].sum(dim=0) > 0
        masks[i] = masks[i] & has_out.reshape(-1, 1)
    for i in range(1, len(masks)):
        has_in = masks[i - 1].sum(dim=1) > 0
        masks[i] = masks[i] & has_in.reshape(1, -1)
    return masks


def test_ems_trajectory_of_the_paper_mlp_equals_the_authors_scheduler():
    """784-1568-1568-1568 at 99 %, 30 epochs of 188 steps (the quick table): every update's links before and after
    removal (pruning + chain removal) and after regrowth, and the removed links themselves, equal what the authors'
    scheduler computes from the same weights: S = 1 - d - 0.05, drop_fraction = (1 - S - d) / (1 - S),
    n_prune = int(n_ones drop_fraction), top-|w| kept, chain removal, regrow int(0.05 N) while step <= 0.6 T_end,
    int(0.025 N) while step < T_end - delta_T, nothing at the last update (dst_scheduler.py 120-121, 405-516)."""
    from netsci_dst.data.bundled import calibration_data

    sizes, epochs, per_epoch = (784, 1568, 1568, 1568, 10), 30, 188
    model = mlp(sizes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    # regrowth does not change the counts: random regrowth keeps the test fast (CHTs regrows by soft CH3-L3)
    cfg = get_method("chts", update_interval=per_epoch, regrowth="random")
    total = epochs * per_epoch
    engine = DSTEngine(model, opt, cfg, density=1 - 0.99, total_steps=total, data=calibration_data(), seed=0)
    d = 1 - 0.99  # dense_allocation
    t_end = epochs * 0.75 * per_epoch
    names = engine.layers
    n_cells = [engine.masks[n].numel() for n in names]
    sparsity = [1 - d - 0.05] * 3
    assert [int(engine.masks[n].sum()) for n in names] == [
        int((1 - s) * c) for s, c in zip(sparsity, n_cells, strict=True)
    ]
    g = torch.Generator().manual_seed(0)
    updates = 0
    for step in range(per_epoch, total, per_epoch):
        if not step < t_end:
            break
        with torch.no_grad():  # "training": distinct magnitudes on the links, zeros elsewhere
            for n in names:
                w = model.get_submodule(n).weight
                w.copy_(torch.where(engine.masks[n], torch.randn(w.shape, generator=g), torch.zeros(())))
        before = [engine.masks[n].clone() for n in names]
        weights = [model.get_submodule(n).weight.detach().clone() for n in names]
        # the authors' removal, from the same weights
        kept, pruned = [], []
        for i in range(3):
            n_ones = int(before[i].sum())
            drop_fraction = (1 - sparsity[i] - d) / (1 - sparsity[i])
            n_prune = int(n_ones * drop_fraction)
            order = torch.argsort(weights[i].abs().reshape(-1), descending=True)
            keep = torch.zeros(n_cells[i], dtype=torch.bool)
            keep[order[: n_ones - n_prune]] = True
            kept.append(keep.reshape(before[i].shape))
            pruned.append(n_prune)
        kept = authors_chain_removal(kept)
        if step <= t_end * 0.6:
            extra = 0.05
        elif step < t_end - per_epoch:
            extra = 0.025
        else:
            extra = 0.0
        sparsity = [1 - d - extra] * 3
        engine.step = step
        rows = engine.update()
        updates += 1
        for i, row in enumerate(rows):
            n_kept = int(kept[i].sum())
            assert row["pruned"] == pruned[i], (step, i)
            assert row["links"] - row["regrown"] == n_kept, (step, i)
            assert row["regrown"] == int(extra * n_cells[i]), (step, i)
            assert int(engine.masks[names[i]].sum()) == n_kept + int(extra * n_cells[i])
            removed = torch.zeros(n_cells[i], dtype=torch.bool)
            removed[engine.latest[names[i]]["removed"]] = True
            assert torch.equal(removed.reshape(before[i].shape), before[i] & ~kept[i]), (step, i)
    assert updates == 22 and rows[0]["regrown"] == 0  # the last update (step 4136) prunes to the target
    for i, n in enumerate(names):  # at the end: the target density, less what chain removal took
        assert int(engine.masks[n].sum()) <= int(d * n_cells[i]) + 1


# ---------------------------------------------------------------------------------------------------------------
# evolution ends at T_end; the authors' loop skips the optimizer step of an update step
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["rigl", "cht", "chts", "chtss", "mest"])
def test_no_link_changes_after_the_topology_end(method):
    model, opt, engine = engine_for(method, total=200, interval=10)
    train_steps(model, opt, 150)  # T_end = 150: the last update is at step 140
    assert engine.n_updates == 14 or (engine.frozen and engine.config.early_stop)
    assert all(r["step"] < 150 for r in engine.history)
    masks = {n: m.clone() for n, m in engine.masks.items()}
    n_history = len(engine.history)
    train_steps(model, opt, 50, seed=1)
    assert len(engine.history) == n_history
    assert not any(engine.schedule_at(s)["evolves"] for s in range(150, 200))
    assert all(torch.equal(masks[n], m) for n, m in engine.masks.items())


def test_set_evolves_until_the_end_of_training():
    model, opt, engine = engine_for("set", total=200, interval=10)
    train_steps(model, opt, 200)
    assert engine.n_updates == 19 and engine.history[-1]["step"] == 190


@pytest.mark.parametrize("skip", [True, False])
def test_the_optimizer_step_of_an_update_step_is_skipped(skip):
    model, opt, engine = engine_for("chts", total=100, interval=10, skip_step_on_update=skip)
    train_steps(model, opt, 9)
    weights = {name: p.detach().clone() for name, p in model.named_parameters()}
    momentum = {name: opt.state[p]["momentum_buffer"].clone() for name, p in model.named_parameters()}
    masks = {n: m.clone() for n, m in engine.masks.items()}
    train_steps(model, opt, 1, seed=5)  # step 10: an update step
    assert engine.n_updates == 1
    for name, p in model.named_parameters():
        layer = name.rsplit(".", 1)[0]
        untouched = torch.ones_like(p, dtype=torch.bool)
        if layer in masks and name.endswith("weight"):  # links the update did not touch
            untouched = masks[layer] & engine.masks[layer]
        same = torch.equal(p.detach()[untouched], weights[name][untouched])
        same_state = torch.equal(opt.state[p]["momentum_buffer"][untouched], momentum[name][untouched])
        assert same == skip and same_state == skip, name
    assert all(p.grad is not None for p in model.parameters())  # the gradients are given back


def test_removal_count_is_truncated_as_in_the_authors_code():
    """n_prune = int(n_ones * drop_fraction): 86 links at zeta 0.3 lose int(25.8) = 25, not round(25.8) = 26."""
    model = nn.Sequential(nn.Linear(20, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    engine = DSTEngine(model, opt, "set", density=86 / 800, total_steps=100, update_interval=10)
    assert int(engine.masks["0"].sum()) == 86
    rows = engine.update()
    assert rows[0]["removed"] == 25 and rows[0]["regrown"] == 25


def test_step_with_a_closure_is_refused():
    from netsci_dst.errors import DstnetError

    model, opt, engine = engine_for("set")

    def closure():
        opt.zero_grad()
        loss = model(torch.randn(4, 20)).sum()
        loss.backward()
        return loss

    with pytest.raises(DstnetError, match="closure"):
        opt.step(closure)
    assert engine.step == 0
