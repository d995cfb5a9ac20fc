"""A kept run's evolution.json: the evolution figure's data without the masks or the checkpoint. Kept and original
give the same record and the same figure; a hostile file is refused on one line."""

import json
import shutil

import matplotlib.image as mpimg
import numpy as np
import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.analysis.evolution_record import EVOLUTION_FILE, read_evolution
from netsci_dst.errors import DstnetError
from netsci_dst.plot.evolution import plot_evolution
from netsci_dst.train.archive import ARCHIVED_FILES, keep


@pytest.fixture(scope="module")
def run_and_kept(tmp_path_factory):
    """A tiny CHTs run (3 epochs, 2 topology updates: none after 0.75 of training) and its kept copy."""
    root = tmp_path_factory.mktemp("evolution")
    r = CliRunner().invoke(main, [
        "train", "mlp", "--method", "chts", "--epochs", "3", "--sizes", "784,64,64,10", "--init", "bsw",
        "--sparsity", "0.9", "--train-limit", "300", "--test-limit", "100", "--quiet",
        "--out", str(root / "chts-seed0"),
    ])  # fmt: skip
    assert r.exit_code == 0, r.output
    kept = keep(root / "chts-seed0", root / "kept")
    return root / "chts-seed0", kept


def test_the_kept_record_is_the_runs_record(run_and_kept):
    run, kept = run_and_kept
    assert sorted(p.name for p in kept.iterdir()) == sorted([*ARCHIVED_FILES, EVOLUTION_FILE])
    assert not (kept / "masks").exists() and not (kept / "checkpoints").exists()
    original, copy = read_evolution(run), read_evolution(kept)
    assert len(original.series) == 3  # the initial masks and one snapshot per update
    assert {r["update"] for r in original.history} == {1, 2} and len(original.history) == 2 * 2  # 2 sparse layers
    assert copy.series == original.series
    # an update that regrew nothing has no overlap: NaN in the checkpoint, null in the JSON
    assert any(r["regrown"] == 0 and np.isnan(r["overlap"]) for r in original.history)
    assert copy.history == [{k: None if v != v else v for k, v in r.items()} for r in original.history]
    assert copy.metrics == original.metrics and [m["epoch"] for m in copy.metrics] == [1, 2, 3]
    assert copy.label == original.label == "chts-seed0" and copy.has_checkpoint


def test_the_figure_from_the_kept_run_is_the_same(run_and_kept, tmp_path):
    run, kept = run_and_kept
    plot_evolution(run, tmp_path / "run.png")
    plot_evolution(kept, tmp_path / "kept.png")
    a, b = mpimg.imread(tmp_path / "run.png"), mpimg.imread(tmp_path / "kept.png")
    assert a.shape == b.shape == (960, 1400, 4) and np.array_equal(a, b)


def test_keeping_again_leaves_the_kept_files_alone(run_and_kept):
    run, kept = run_and_kept
    before = {p.name: p.stat().st_mtime_ns for p in kept.iterdir()}
    assert keep(run, kept.parent) == kept
    assert {p.name: p.stat().st_mtime_ns for p in kept.iterdir()} == before


def test_dstnet_plot_draws_a_kept_run_and_refuses_one_without_the_record(run_and_kept, tmp_path):
    _, kept = run_and_kept
    r = CliRunner().invoke(main, ["plot", str(kept), "--kind", "evolution", "-o", str(tmp_path / "e.png")])
    assert r.exit_code == 0, r.output
    assert mpimg.imread(tmp_path / "e.png").shape[:2] == (960, 1400)
    older = tmp_path / "older"  # kept before evolution.json existed
    shutil.copytree(kept, older)
    (older / EVOLUTION_FILE).unlink()
    r = CliRunner().invoke(main, ["plot", str(older), "--kind", "evolution", "-o", str(tmp_path / "f.png")])
    err = r.stderr.strip()
    assert r.exit_code == 2 and err.startswith("Error: ") and "\n" not in err
    assert "no mask snapshots" in err and EVOLUTION_FILE in err and not (tmp_path / "f.png").exists()


def _good():
    return {
        "format": 1,
        "label": "x",
        "has_checkpoint": True,
        "series": [
            {
                "update": 0,
                "step": 0,
                "density": 0.1,
                "layer_density": {"a": 0.1},
                "anp": 1.0,
                "anp_parts": {"input": 1.0},
            }
        ],  # fmt: skip
        "history": [{"update": 1, "step": 5, "layer": "a", "overlap": 0.5}],
    }


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: "{not json", "not a readable evolution record"),
        (lambda d: [1, 2], "not an evolution record of format 1"),
        (lambda d: {**d, "format": 2}, "not an evolution record of format 1"),
        (lambda d: {**d, "series": {"update": 0}}, "'series' must be a list"),
        (lambda d: {**d, "series": [{"update": 0, "layer_density": {"a": 0.1}}]}, "'series' must be a list"),
        (lambda d: {**d, "series": [{**d["series"][0], "density": True}]}, "'series' must be a list"),
        (lambda d: {**d, "series": [{**d["series"][0], "layer_density": {"a": "x"}}]}, "'series' must be a list"),
        (lambda d: {**d, "series": [{**d["series"][0], "anp_parts": None}]}, "'series' must be a list"),
        (lambda d: {**d, "history": [{"update": 1, "layer": 3}]}, "'history' must be a list"),
        (lambda d: {**d, "history": None}, "'history' must be a list"),
        (lambda d: {**d, "format": True}, "not an evolution record of format 1"),
        (lambda d: json.dumps(d).replace("0.1,", "Infinity,", 1), "not a readable evolution record"),
        (lambda d: json.dumps(d).replace("0.1,", "NaN,", 1), "not a readable evolution record"),
        (lambda d: json.dumps(d).replace('"update": 0', '"update": ' + "9" * 5000), "not a readable"),
        (lambda d: "[" * 100_000 + "]" * 100_000, "not a readable evolution record"),
        (lambda d: {**d, "series": [{**d["series"][0], "layer_density": {"a": 1.7e308}}]}, "in [0, 1]"),
        (lambda d: {**d, "series": [{**d["series"][0], "anp": -0.5}]}, "in [0, 1]"),
        (lambda d: {**d, "series": [d["series"][0], {**d["series"][0], "layer_density": {"b": 0.1}}]}, "same layers"),
        (lambda d: {**d, "series": [d["series"][0], {**d["series"][0], "anp_parts": {"x": 1.0}}]}, "same layers"),
        (
            lambda d: {**d, "series": [d["series"][0], {k: v for k, v in d["series"][0].items() if k != "anp"}]},
            "'series' must be a list",
        ),  # fmt: skip
    ],
)
def test_a_hostile_record_is_refused_on_one_line(tmp_path, mutate, message):
    data = mutate(_good())
    (tmp_path / EVOLUTION_FILE).write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(DstnetError) as e:
        read_evolution(tmp_path)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_a_valid_hand_made_record_reads_back(tmp_path):
    (tmp_path / EVOLUTION_FILE).write_text(json.dumps(_good()))
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "step": 5, "test_acc": 0.5}\n')
    record = read_evolution(tmp_path)
    assert record.series == _good()["series"] and record.history == _good()["history"]
    assert record.metrics == [{"epoch": 1, "step": 5, "test_acc": 0.5}] and record.label == "x"


def test_a_hostile_record_never_reaches_the_figure(tmp_path):
    """Each refused record is refused by ``dstnet plot`` too: exit 2, one line, no figure."""
    data = _good()
    data["series"].append({**data["series"][0], "update": 1, "layer_density": {"b": 0.2}})
    (tmp_path / EVOLUTION_FILE).write_text(json.dumps(data))
    r = CliRunner().invoke(main, ["plot", str(tmp_path), "--kind", "evolution", "-o", str(tmp_path / "e.png")])
    assert r.exit_code == 2 and "same layers" in r.stderr and "\n" not in r.stderr.strip()
    assert not (tmp_path / "e.png").exists()


def test_plot_evolution_takes_a_target_a_record_or_a_path(run_and_kept, tmp_path):
    from netsci_dst.analysis.targets import load_target

    run, _ = run_and_kept
    images = []
    for k, source in enumerate((run, load_target(run), read_evolution(run))):
        plot_evolution(source, tmp_path / f"{k}.png")
        images.append(mpimg.imread(tmp_path / f"{k}.png"))
    assert all(np.array_equal(images[0], im) for im in images[1:])


def test_a_rekept_run_without_snapshots_loses_its_stale_record(run_and_kept, tmp_path):
    run, _ = run_and_kept
    other = tmp_path / "chts-seed0"
    shutil.copytree(run, other)
    kept = keep(other, tmp_path / "kept")
    assert (kept / EVOLUTION_FILE).is_file()
    shutil.rmtree(other / "masks")  # the same run name, rerun without snapshots, with another result
    summary = json.loads((other / "summary.json").read_text())
    (other / "summary.json").write_text(json.dumps({**summary, "final_acc": 0.5}))
    keep(other, tmp_path / "kept")
    assert not (kept / EVOLUTION_FILE).exists()
    assert json.loads((kept / "summary.json").read_text())["final_acc"] == 0.5


def test_a_run_whose_evolution_cannot_be_read_is_kept_without_it(run_and_kept, tmp_path, capsys):
    run, _ = run_and_kept
    broken = tmp_path / "chts-seed0"
    shutil.copytree(run, broken)
    snapshot = sorted((broken / "masks").iterdir())[-1]
    snapshot.write_bytes(b"PK\x03\x04garbage")
    kept = keep(broken, tmp_path / "kept")
    assert sorted(p.name for p in kept.iterdir()) == sorted(ARCHIVED_FILES)
    assert f"kept without its {EVOLUTION_FILE}" in capsys.readouterr().err


def test_metrics_with_a_huge_integer_are_refused_on_one_line(tmp_path):
    from netsci_dst.train.rundir import read_jsonl

    (tmp_path / "metrics.jsonl").write_text('{"epoch": ' + "9" * 5000 + "}\n")
    with pytest.raises(DstnetError) as e:
        read_jsonl(tmp_path / "metrics.jsonl")
    assert "metrics.jsonl:1" in str(e.value) and "\n" not in str(e.value)
