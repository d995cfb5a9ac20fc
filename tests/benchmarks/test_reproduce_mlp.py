"""benchmarks/reproduce_mlp.py end to end on a tiny setting: the table's columns, reuse of complete runs, README."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce_mlp", ROOT / "benchmarks" / "reproduce_mlp.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_reproduction_table_reuse_and_readme(tmp_path, reproduce, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- reproduce_mlp:quick -->\nold table\n<!-- /reproduce_mlp:quick -->\nafter\n")
    argv = [
        "--methods", "fc,chts", "--epochs", "2", "--seeds", "1", "--train-limit", "300", "--test-limit", "100",
        "--out", str(tmp_path / "runs"),
    ]  # fmt: skip
    text = reproduce.main([*argv, "--readme", str(readme)])
    header = next(line for line in text.splitlines() if line.startswith("| method"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns == [
        "method", "origin", "seeds x epochs", "best accuracy %", "final accuracy %", "ANP %", "AAE %",
        "time per run", "paper accuracy % (ANP %)",
    ]  # fmt: skip
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| fc ") or line.startswith("| chts ")}  # fmt: skip
    assert rows["fc"][1:3] == ["code", "1 x 2"] and rows["fc"][5] == "-" and rows["fc"][8] == "98.78"
    summary = json.loads((tmp_path / "runs" / "chts-seed0" / "summary.json").read_text())
    assert rows["chts"][4] == f"{summary['final_acc'] * 100:.2f}" and rows["chts"][8] == "98.81 (20)"
    # two epochs of EM&S: only the last epoch counts for the best (after 0.75 of training)
    assert summary["best_epoch"] == 2 and rows["chts"][3] == f"{summary['best_acc'] * 100:.2f}"
    # the time per run sums the logged epochs; the median epoch is over them (two: their mean)
    epochs = [json.loads(line)["seconds"] for line in (tmp_path / "runs" / "chts-seed0" / "metrics.jsonl").open()]
    assert len(epochs) == 2
    assert rows["chts"][7] == f"{sum(epochs):.0f} s (median epoch {(epochs[0] + epochs[1]) / 2:.1f} s)"
    content = readme.read_text()
    assert "old table" not in content and content.startswith("intro\n") and content.endswith("after\n")
    assert "python benchmarks/reproduce_mlp.py --methods fc,chts --epochs 2" in content and header in content
    assert "--readme" not in content and "--out" not in content

    # a rerun reuses the complete runs: nothing is trained again
    def no_training(*args, **kwargs):
        raise AssertionError("a complete run was trained again")

    monkeypatch.setattr(reproduce.MLPTrainer, "__init__", no_training)
    again = reproduce.main(argv)
    assert [line for line in again.splitlines() if line.startswith("| ")] == [
        line for line in text.splitlines() if line.startswith("| ")
    ]

    # the figures come from the same runs, with nothing trained either
    figures = tmp_path / "img"
    reproduce.main([*argv, "--figures", str(figures)])
    assert sorted(p.name for p in figures.iterdir()) == ["quick-chts-evolution.png", "quick-methods.png"]
    assert all(p.stat().st_size > 10_000 for p in figures.iterdir())


def test_complete_runs_are_archived_and_reused_from_the_archive(tmp_path, reproduce, monkeypatch):
    """--archive keeps each complete run's config, summary and metrics; a fresh run folder (a new clone) reuses
    them: the same table, nothing trained, and the comparison figure drawn from the archived files."""
    archive = tmp_path / "archive"
    argv = [
        "--methods", "set", "--epochs", "1", "--seeds", "1", "--train-limit", "200", "--test-limit", "100",
        "--archive", str(archive),
    ]  # fmt: skip
    text = reproduce.main([*argv, "--out", str(tmp_path / "runs")])
    kept = ["config.json", "evolution.json", "metrics.jsonl", "summary.json"]
    assert sorted(p.name for p in (archive / "set-seed0").iterdir()) == kept
    assert (archive / "set-seed0" / "metrics.jsonl").read_bytes() == (
        tmp_path / "runs" / "set-seed0" / "metrics.jsonl"
    ).read_bytes()

    def no_training(*args, **kwargs):
        raise AssertionError("an archived run was trained again")

    monkeypatch.setattr(reproduce.MLPTrainer, "__init__", no_training)
    figures = tmp_path / "img"
    again = reproduce.main([*argv, "--out", str(tmp_path / "fresh-clone-runs"), "--figures", str(figures)])
    assert [line for line in again.splitlines() if line.startswith("| set")] == [
        line for line in text.splitlines() if line.startswith("| set")
    ]
    assert [p.name for p in figures.iterdir()] == ["quick-methods.png"]  # no checkpoint: no evolution figure
    assert not (tmp_path / "fresh-clone-runs").exists()


def test_unknown_method_fails_before_training(tmp_path, reproduce):
    with pytest.raises(Exception, match="unknown method"):
        reproduce.main(["--methods", "fc,nope", "--out", str(tmp_path)])
    assert not any(tmp_path.iterdir())


def test_paper_numbers_only_for_the_papers_setting(reproduce):
    import argparse

    at = {s: argparse.Namespace(dataset="mnist", sparsity=s) for s in (0.99, 0.999)}
    assert reproduce.has_paper_numbers(at[0.99]) and not reproduce.has_paper_numbers(at[0.999])
    assert reproduce.paper_source(at[0.999]).startswith("none here")
    assert not reproduce.has_paper_numbers(argparse.Namespace(dataset="fashion-mnist", sparsity=0.99))


def test_an_ablation_gets_its_own_runs_and_row(tmp_path, reproduce):
    argv = [
        "--methods", "set", "--epochs", "1", "--seeds", "1", "--train-limit", "200", "--test-limit", "100",
        "--out", str(tmp_path), "--set", "init_topology=bsw",
    ]  # fmt: skip
    text = reproduce.main(argv)
    assert (tmp_path / "set+init_topology=bsw-seed0" / "summary.json").exists()
    row = next(line for line in text.splitlines() if line.startswith("| set"))
    assert row.startswith("| set +init_topology=bsw | ablation | 1 x 1 |")
    config = json.loads((tmp_path / "set+init_topology=bsw-seed0" / "config.json").read_text())
    assert config["method"]["init_topology"] == "bsw"
    with pytest.raises(Exception, match="nope"):
        reproduce.main([*argv[:-2], "--set", "nope=1"])


def test_a_run_another_process_trains_is_skipped_not_fought_over(tmp_path, reproduce, monkeypatch):
    """Copies of one reproduction started side by side share the runs: a run whose directory another process has
    locked is left to it (no table row yet, no error), the others are trained."""
    import subprocess
    import sys

    busy = tmp_path / "set-seed0"
    busy.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from netsci_dst.train.rundir import RunDir; r = RunDir({str(busy)!r}); r.lock(); "
         "print('locked', flush=True); import time; time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        argv = ["--methods", "set", "--epochs", "1", "--seeds", "2", "--train-limit", "200", "--test-limit", "100",
                "--out", str(tmp_path)]  # fmt: skip
        text = reproduce.main(argv)
    finally:
        holder.kill()
        holder.wait()
    assert not (busy / "summary.json").exists() and (tmp_path / "set-seed1" / "summary.json").exists()
    assert next(line for line in text.splitlines() if line.startswith("| set ")).startswith("| set | code | 1 x 1 |")


def test_an_archived_run_with_other_settings_is_refused_not_reused(tmp_path, reproduce):
    archive = tmp_path / "archive"
    quick = ["--methods", "set", "--seeds", "1", "--train-limit", "200", "--test-limit", "100", "--archive",
             str(archive)]  # fmt: skip
    reproduce.main([*quick, "--epochs", "1", "--out", str(tmp_path / "a")])
    with pytest.raises(Exception, match=r"other settings \(epochs 1 \(asked: 2\)\)"):
        reproduce.main([*quick, "--epochs", "2", "--out", str(tmp_path / "b")])
    assert not (tmp_path / "b").exists()


def test_table_only_says_how_far_each_incomplete_run_got(tmp_path, reproduce, capsys):
    """A long plan's state at a glance: an interrupted run's last logged epoch, the runs not started, no row."""
    partial = tmp_path / "runs" / "chts-seed0"
    partial.mkdir(parents=True)
    (partial / "metrics.jsonl").write_text('{"epoch": 1, "test_acc": 0.9}\n{"epoch": 2, "test_acc": 0.95}\n')
    argv = ["--methods", "chts", "--epochs", "5", "--seeds", "2", "--out", str(tmp_path / "runs"), "--table-only"]
    text = reproduce.main(argv)
    err = capsys.readouterr().err
    assert "chts seed 0: epoch 2 of 5 logged (resumes from its checkpoint" in err
    assert "chts seed 1: not started" in err and text == "No run complete yet."


def test_an_unreadable_progress_record_does_not_stop_the_table(tmp_path, reproduce, capsys):
    partial = tmp_path / "runs" / "set-seed0"
    partial.mkdir(parents=True)
    (partial / "metrics.jsonl").write_text("{garbage\n")
    argv = ["--methods", "set", "--epochs", "5", "--seeds", "1", "--out", str(tmp_path / "runs"), "--table-only"]
    assert reproduce.main(argv) == "No run complete yet."
    assert "set seed 0: metrics unreadable" in capsys.readouterr().err
