"""The methods-over-seeds comparison figure: run loading, grouping, bands and the CLI."""

import json

import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.errors import DstnetError
from netsci_dst.plot.comparison import band, comparison_figure, group_runs, load_run_curves


def make_run(root, name, method, seed, accs, anps=None, sparsity=0.99, epochs=None, summary=None):
    run = root / name
    run.mkdir()
    train = {"method": method, "seed": seed, "sparsity": 0.0 if method == "fc" else sparsity}
    train["epochs"] = epochs or len(accs)
    (run / "config.json").write_text(json.dumps({"train": train, "method": {"name": method}}))
    anps = anps or [1.0] * len(accs)
    lines = [
        json.dumps({"epoch": i + 1, "test_acc": a, "anp": p}) for i, (a, p) in enumerate(zip(accs, anps, strict=True))
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if summary is not None:
        (run / "summary.json").write_text(json.dumps(summary))
    return run


def test_one_run_is_read_from_its_files(tmp_path):
    run = make_run(tmp_path, "chts-seed1", "chts", 1, [0.5, 0.7, 0.6], anps=[1.0, 0.8, 0.75], epochs=10)
    r = load_run_curves(run)
    assert (r.method, r.seed, r.sparsity) == ("chts", 1, 0.99)
    assert r.epochs == [1, 2, 3] and r.best_acc == 0.7 and r.aae == pytest.approx(0.6) and r.anp == 0.75
    assert r.planned_epochs == 10 and not r.complete
    done = make_run(tmp_path, "done", "chts", 2, [0.5, 0.7], summary={"best_acc": 0.5})
    assert load_run_curves(done).best_acc == 0.5 and load_run_curves(done).complete  # the recipe's convention


def test_groups_and_bands_over_seeds(tmp_path):
    runs = [
        load_run_curves(make_run(tmp_path, "a", "set", 0, [0.2, 0.4, 0.6])),
        load_run_curves(make_run(tmp_path, "b", "set", 1, [0.4, 0.8])),  # one epoch fewer: the band stops at 2
        load_run_curves(make_run(tmp_path, "c", "fc", 0, [0.9, 0.9])),
    ]
    groups = group_runs(runs)
    assert list(groups) == ["set", "fc"] and len(groups["set"]) == 2
    epochs, mean, low, high = band([(r.epochs, r.test_acc) for r in groups["set"]])
    assert epochs == [1, 2] and mean == pytest.approx([0.3, 0.6]) and low == [0.2, 0.4] and high == [0.4, 0.8]
    fig = comparison_figure(groups)
    plane = fig.axes[2]
    ((x, y),) = plane.collections[0].get_offsets() if plane.collections else [(None, None)]  # noqa: F841
    assert "fc" in plane.get_title() or "dense" in plane.get_title()


def test_two_sparsities_get_their_own_groups(tmp_path):
    runs = [
        load_run_curves(make_run(tmp_path, "a", "set", 0, [0.5], sparsity=0.99)),
        load_run_curves(make_run(tmp_path, "b", "set", 0, [0.4], sparsity=0.999)),
    ]
    assert list(group_runs(runs)) == ["set 99.0%", "set 99.9%"]


def test_the_cli_draws_it_and_refuses_folders_that_are_not_runs(tmp_path):
    a = make_run(tmp_path, "set-seed0", "set", 0, [0.5, 0.6])
    b = make_run(tmp_path, "fc-seed0", "fc", 0, [0.7, 0.8])
    out = tmp_path / "methods.png"
    r = CliRunner().invoke(main, ["plot", str(a), str(b), "--kind", "comparison", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.stat().st_size > 10_000
    empty = tmp_path / "empty"
    empty.mkdir()
    r = CliRunner().invoke(main, ["plot", str(a), str(empty), "--kind", "comparison", "-o", str(out)])
    assert r.exit_code == 2 and "not a training run directory" in r.output and "Traceback" not in r.output
    with pytest.raises(DstnetError, match="no completed epoch"):
        load_run_curves(make_run(tmp_path, "new", "set", 0, []))
