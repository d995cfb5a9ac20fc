"""The training-curves figure: MLP runs against epochs, Transformer runs against steps, seeds pooled into a band."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import PolyCollection
from netsci_dst.cli import main

from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, save
from netsci_dst.plot.training import TrainingRun, run_kind, training_figure, training_run

STEPS = [100, 200, 300, 400]


def transformer_records(bleu, val_loss=(5.0, 4.6, 4.4, 4.3), train_loss=(6.0, 5.0, 4.2, 3.9)):
    """One record per evaluation, with the keys TransformerTrainer writes."""
    return [
        {
            "step": s, "epoch": i + 1, "train_loss": tl, "val_loss": vl, "val_bleu": b, "density": 0.1,
            "anp": 0.97, "overlap": 0.4, "updates": i + 1, "lr": 0.01, "seconds": 1.0,
        }
        for i, (s, b, vl, tl) in enumerate(zip(STEPS, bleu, val_loss, train_loss, strict=True))
    ]  # fmt: skip


def mlp_records(accs):
    """One record per epoch, with the keys MLPTrainer writes."""
    return [
        {
            "epoch": i + 1, "step": 32 * (i + 1), "train_loss": 1.0 / (i + 1), "train_acc": a - 0.02,
            "test_loss": 1.2 / (i + 1), "test_acc": a, "density": 0.01, "anp": 0.8, "overlap": 0.3, "updates": i + 1,
            "frozen": False, "lr": 0.01, "seconds": 1.0,
        }
        for i, a in enumerate(accs)
    ]  # fmt: skip


def config(method="chtss", seed=0, sparsity=0.9):
    return {"train": {"method": method, "seed": seed, "sparsity": sparsity, "method_overrides": {}}}


def data_lines(ax):
    """The axes' lines that hold data (not the legend's proxies)."""
    return [ln for ln in ax.get_lines() if len(ln.get_xdata())]


def legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_a_transformer_run_is_drawn_against_steps_with_bleu_and_validation_loss():
    bleu = [1.0, 4.5, 7.25, 8.0]
    fig = training_figure([training_run("tr", transformer_records(bleu), config())])
    ax_score, ax_loss = fig.axes[:2]
    for ax in (ax_score, ax_loss):
        assert ax.get_xlabel() == "optimizer step"
        assert data_lines(ax), f"empty panel: {ax.get_title()}"
    assert "BLEU" in ax_score.get_ylabel() and "BLEU" in ax_score.get_title()
    (line,) = data_lines(ax_score)
    assert list(line.get_xdata()) == STEPS and list(line.get_ydata()) == bleu
    solid, dashed = data_lines(ax_loss)
    assert list(solid.get_ydata()) == [5.0, 4.6, 4.4, 4.3] and solid.get_linestyle() == "-"
    assert list(dashed.get_ydata()) == [6.0, 5.0, 4.2, 3.9] and dashed.get_linestyle() == "--"
    assert "validation loss" in ax_loss.get_title()
    texts = legend_texts(fig)
    assert "tr: best BLEU 8.00" in texts and not any("nan" in t for t in texts)


def test_seeds_of_one_method_become_a_mean_with_a_min_max_band():
    runs = [
        training_run("s0", transformer_records([1.0, 2.0, 3.0, 4.0]), config(seed=0)),
        training_run("s1", transformer_records([3.0, 4.0, 5.0, 8.0]), config(seed=1)),
    ]
    fig = training_figure(runs)
    ax_score, ax_loss = fig.axes[:2]
    bands = [c for c in ax_score.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1 and any(isinstance(c, PolyCollection) for c in ax_loss.collections)
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx(1.0) and ys.max() == pytest.approx(8.0)  # lowest and highest seed
    (mean,) = data_lines(ax_score)
    assert list(mean.get_ydata()) == [2.0, 3.0, 4.0, 6.0]
    texts = legend_texts(fig)
    assert "chtss, 2 seeds: best BLEU 6.00 ± 2.83 (mean ± sd)" in texts
    assert "validation: min-max over seeds" in texts


def test_runs_of_other_methods_or_the_same_seed_are_not_pooled():
    same_seed = [
        training_run("run", mlp_records([0.5, 0.6]), config("chts", seed=0)),
        training_run("ckpt", mlp_records([0.5, 0.6]), config("chts", seed=0)),  # a run and its own checkpoint
        training_run("set", mlp_records([0.4, 0.7]), config("set", seed=0)),
        TrainingRun("unknown", mlp_records([0.3, 0.5])),
    ]
    fig = training_figure(same_seed)
    ax_acc = fig.axes[0]
    assert ax_acc.get_xlabel() == "epoch" and not ax_acc.collections
    assert len([ln for ln in data_lines(ax_acc) if ln.get_linestyle() == "-"]) == 4
    texts = legend_texts(fig)
    assert "run: best 0.6000, AAE 0.5500" in texts and "unknown: best 0.5000, AAE 0.4000" in texts


def test_mixed_kinds_and_unknown_records_are_refused():
    with pytest.raises(DstnetError, match="plot them separately"):
        training_figure([("mlp", mlp_records([0.5])), ("tr", transformer_records([1, 2, 3, 4]))])
    with pytest.raises(DstnetError, match="neither a test accuracy"):
        run_kind([{"epoch": 1, "train_loss": 1.0}])
    assert run_kind(mlp_records([0.5])) == "mlp"


def test_the_legend_sits_below_the_panels():
    runs = [training_run(f"s{i}", mlp_records([0.5 + i / 10, 0.7]), config("chts", seed=i)) for i in range(3)]
    runs.append(training_run("set", mlp_records([0.4, 0.6]), config("set")))
    fig = training_figure(runs)
    fig.draw_without_rendering()  # runs the constrained layout
    (legend,) = fig.legends
    box = legend.get_window_extent()
    for ax in fig.axes[:2]:
        assert box.y1 <= ax.get_window_extent().y0 + 1  # under the axes, labels included: covers no curve


def write_transformer_run(root, name, seed, bleu):
    """A run directory as TransformerTrainer leaves it, without the checkpoint: config, metrics, mask snapshots."""
    run = root / name
    (run / "masks").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(config(seed=seed)))
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in transformer_records(bleu)))
    rng = np.random.default_rng(seed)
    names = [f"encoder.layers.0.self_attn.{p}_proj" for p in ("q", "k", "v", "out")]
    names += ["encoder.layers.0.ffn.w_1", "encoder.layers.0.ffn.w_2"]
    shapes = [(8, 8)] * 4 + [(16, 8), (8, 16)]
    for update, step in enumerate((0, 100, 200)):
        masks = [rng.random(s) < 0.5 for s in shapes]
        save(LayerStack(masks, names, {"step": step, "epoch": update}), run / "masks" / f"update_{update:05d}.npz")
    return run


def test_the_cli_draws_transformer_runs(tmp_path):
    a = write_transformer_run(tmp_path, "tr-s0", 0, [1.0, 2.0, 3.0, 4.0])
    b = write_transformer_run(tmp_path, "tr-s1", 1, [2.0, 2.5, 3.0, 5.0])
    for kind, targets in (("training", [a, b]), ("evolution", [a])):
        out = tmp_path / f"{kind}.png"
        r = CliRunner().invoke(main, ["plot", *map(str, targets), "--kind", kind, "-o", str(out)])
        assert r.exit_code == 0, r.output
        assert out.stat().st_size > 10_000
    mlp = tmp_path / "mlp"
    (mlp / "masks").mkdir(parents=True)
    (mlp / "metrics.jsonl").write_text(json.dumps(mlp_records([0.5])[0]) + "\n")
    save(LayerStack([np.ones((4, 4), bool)], ["layers.0"]), mlp / "masks" / "update_00000.npz")
    r = CliRunner().invoke(main, ["plot", str(a), str(mlp), "--kind", "training", "-o", str(tmp_path / "x.png")])
    assert r.exit_code == 2 and "plot them separately" in r.output and "Traceback" not in r.output
