"""The evolution figure: neuron layers named from the run's configuration, Transformer runs against steps, legends
beside the panels."""

import json

import numpy as np
import pytest

from netsci_dst.analysis.anp import ends_at_output, layer_labels
from netsci_dst.graph import LayerStack, save
from netsci_dst.plot.evolution import MAX_NAMED, evolution_figure, snapshot_series


def write_snapshots(run, masks_per_update, names, steps):
    (run / "masks").mkdir(parents=True)
    paths = []
    for update, (masks, step) in enumerate(zip(masks_per_update, steps, strict=True)):
        path = run / "masks" / f"update_{update:05d}.npz"
        save(LayerStack(masks, names, {"step": step, "epoch": update}), path)
        paths.append(path)
    return paths


def mlp_run(tmp_path, sizes):
    """An MLP run's snapshots: the package's MLP keeps its last layer dense, so sizes[:-1] are sparse."""
    rng = np.random.default_rng(0)
    run = tmp_path / "mlp"
    sparse = sizes[:-1]
    names = [f"layers.{k}" for k in range(len(sparse) - 1)]
    updates = [[rng.random((b, a)) < 0.3 for a, b in zip(sparse[:-1], sparse[1:], strict=True)] for _ in range(3)]
    paths = write_snapshots(run, updates, names, [0, 10, 20])
    (run / "config.json").write_text(json.dumps({"train": {"method": "chts", "sizes": sizes}, "sizes": sizes}))
    return paths, names


def mlp_history(names):
    return [{"update": u, "step": 10 * u, "layer": n, "overlap": 0.1 * u + 0.05 * k} for u in (1, 2)
            for k, n in enumerate(names)]  # fmt: skip


def mlp_metrics():
    return [{"epoch": e, "step": 10 * e, "test_acc": 0.5 + e / 10, "train_acc": 0.6 + e / 10} for e in (1, 2)]


def legend_labels(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def test_the_last_sparse_layer_of_an_mlp_feeds_hidden_neurons(tmp_path):
    paths, names = mlp_run(tmp_path, [20, 16, 16, 16, 4])  # like 784-1568-1568-1568-10: three sparse layers
    series = snapshot_series(paths)  # the sizes come from the run's config.json
    assert list(series[0]["anp_parts"]) == ["input", "hidden 1", "hidden 2", "hidden 3"]
    fig = evolution_figure(series, mlp_history(names), mlp_metrics(), title="mlp")
    ax_d, ax_a, ax_o, ax_acc = fig.axes[:4]
    assert legend_labels(ax_a) == ["input", "hidden 1", "hidden 2", "hidden 3", "all"]
    assert legend_labels(ax_d) == [*names, "all layers"] and legend_labels(ax_o)[:3] == names
    assert ax_d.get_xlabel() == "topology update" and ax_acc.get_xlabel() == "epoch"
    # without a configuration (a bare stack) the chain's last neuron layer is the output, as before
    assert list(snapshot_series(paths, config={})[0]["anp_parts"])[-1] == "output"


def test_layer_names_from_the_configuration():
    assert layer_labels(4, last_is_output=False) == ["input", "hidden 1", "hidden 2", "hidden 3"]
    assert layer_labels(3) == ["input", "hidden 1", "output"]
    assert not ends_at_output({"sizes": [784, 1568, 1568, 1568, 10]}, 3)
    assert not ends_at_output({"train": {"sizes": [784, 100, 10]}}, 1)
    assert ends_at_output({"sizes": [784, 100, 10]}, 2) and ends_at_output({}, 3)


def transformer_run(tmp_path, n_blocks=2):
    """Snapshots of a Transformer with ``n_blocks`` encoder blocks (6 sparse layers each)."""
    rng = np.random.default_rng(1)
    names, shapes = [], []
    for b in range(n_blocks):
        names += [f"encoder.layers.{b}.self_attn.{p}_proj" for p in ("q", "k", "v", "out")]
        names += [f"encoder.layers.{b}.ffn.w_1", f"encoder.layers.{b}.ffn.w_2"]
        shapes += [(8, 8)] * 4 + [(16, 8), (8, 16)]
    updates = [[rng.random(s) < d for s in shapes] for d in (0.5, 0.3, 0.2)]
    paths = write_snapshots(tmp_path / "tr", updates, names, [0, 100, 200])
    history = [{"update": u, "step": 100 * u, "layer": n, "overlap": 0.2 * u} for u in (1, 2) for n in names]
    metrics = [{"step": s, "epoch": s // 50, "val_bleu": b, "val_loss": 5.0, "train_loss": 5.5}
               for s, b in ((100, 1.5), (200, 2.5), (300, 4.0))]  # fmt: skip
    return paths, names, history, metrics


def test_a_transformer_run_is_drawn_against_steps_with_bleu(tmp_path):
    paths, names, history, metrics = transformer_run(tmp_path)
    series = snapshot_series(paths)
    assert "hidden 1" not in series[0]["anp_parts"]  # unit groups, not a chain of its square shapes
    assert 0 < series[-1]["anp"] <= 1
    fig = evolution_figure(series, history, metrics)
    ax_d, ax_a, ax_o, ax_acc = fig.axes[:4]
    for ax in (ax_d, ax_a, ax_o, ax_acc):
        assert ax.get_xlabel() == "optimizer step"
        assert any(len(ln.get_xdata()) for ln in ax.get_lines()), f"empty panel: {ax.get_title()}"
    assert ax_acc.get_xlim() == ax_d.get_xlim()  # one step axis: evaluations after the last update stay in view
    assert ax_acc.get_xlim()[1] >= 300
    (bleu,) = ax_acc.get_lines()
    assert list(bleu.get_xdata()) == [100, 200, 300] and list(bleu.get_ydata()) == [1.5, 2.5, 4.0]
    assert "BLEU" in ax_acc.get_title() and "BLEU" in ax_acc.get_ylabel()
    assert len(names) > MAX_NAMED
    assert legend_labels(ax_d) == [f"each layer ({len(names)})", "all layers"]
    assert legend_labels(ax_o)[:2] == [f"each layer ({len(names)})", "mean over layers"]
    mean = next(ln for ln in ax_o.get_lines() if ln.get_label() == "mean over layers")
    assert list(mean.get_ydata()) == pytest.approx([0.2, 0.4])


def test_legends_sit_beside_the_panels(tmp_path):
    paths, names = mlp_run(tmp_path, [20, 16, 16, 16, 4])
    fig = evolution_figure(snapshot_series(paths), mlp_history(names), mlp_metrics())
    fig.draw_without_rendering()  # runs the constrained layout
    for ax in fig.axes[:4]:
        box, panel = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert box.x0 >= panel.x1 - 1, f"the legend of {ax.get_title()} covers the panel"
