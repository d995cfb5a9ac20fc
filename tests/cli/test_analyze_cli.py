"""`dstnet analyze` on a mask file, a checkpoint and a run directory; JSON/CSV output; one-line errors."""

import csv
import json
import re

import numpy as np
import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.graph import LayerStack, save
from netsci_dst.train.checkpoint import load_checkpoint


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny fixed-density CHTs run: 2 epochs, one topology update, snapshots 0 and 1."""
    out = tmp_path_factory.mktemp("analyze") / "run"
    r = run(
        "train", "mlp", "--method", "chts-paper", "--epochs", 2, "--sizes", "784,64,64,10", "--sparsity", 0.9,
        "--train-limit", 300, "--test-limit", 100, "--quiet", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture
def stack_file(tmp_path):
    rng = np.random.default_rng(1)
    stack = LayerStack([rng.random((40, 30)) < 0.2, rng.random((20, 40)) < 0.2], ["a", "b"])
    return save(stack, tmp_path / "stack.npz"), stack


def test_default_on_stack_file_prints_summary_and_anp(stack_file):
    path, stack = stack_file
    r = run("analyze", path)
    assert r.exit_code == 0, r.output
    assert "== summary ==" in r.output and "== anp ==" in r.output
    assert "== powerlaw ==" not in r.output and "== ELM" not in r.output
    links = [int(m.sum()) for m in stack.masks]
    assert f"{links[0]:,}" in r.output and f"{links[1]:,}" in r.output  # format_summary's link counts
    anp_all = next(line for line in r.output.splitlines() if line.startswith("all "))
    active = sum(int((d > 0).sum()) for d in _neuron_degrees(stack))
    assert anp_all.split()[1:3] == [str(active), str(30 + 40 + 20)]


def _neuron_degrees(stack):
    a, b = stack.masks
    return [a.sum(0), a.sum(1) + b.sum(0), b.sum(1)]


def test_elm_on_checkpoint_shows_history_numbers(trained):
    ckpt = trained / "checkpoints" / "latest.pt"
    history = load_checkpoint(ckpt)["engine"]["history"]
    assert history, "the run made no topology update"
    r = run("analyze", ckpt, "--elm")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    for h in history:
        row = [
            line.split()
            for line in lines
            if re.match(rf"^{h['update']}\s+{h['step']}\s+{re.escape(h['layer'])}\s", line)
        ]
        assert len(row) == 1, r.output
        assert row[0][3:5] == [str(h["removed"]), str(h["regrown"])]
        assert row[0][5] == f"{h['overlap']:.4g}"
        assert row[0][6] == ("yes" if h["overlap"] > 0.9 else "no")
    assert "not in an epitopological local minimum" in r.output
    assert "== summary ==" not in r.output  # --elm alone asks for nothing else


def test_theta_changes_the_verdict(trained):
    ckpt = trained / "checkpoints" / "latest.pt"
    history = load_checkpoint(ckpt)["engine"]["history"]
    low = min(h["overlap"] for h in history) / 2
    r = run("analyze", ckpt, "--elm", "--theta", low)
    assert r.exit_code == 0, r.output
    assert ": in an epitopological local minimum" in r.output and " no\n" not in r.output


def test_json_holds_requested_measures(trained, tmp_path):
    ckpt = trained / "checkpoints" / "latest.pt"
    out = tmp_path / "a.json"
    r = run("analyze", ckpt, "--powerlaw", "--cap", "--elm", "--json", out)
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert data["kind"] == "checkpoint" and data["method"] == "chts-paper"
    measures = data["measures"]
    assert measures["measures"] == ["powerlaw", "cap"] and "summary" not in measures and "anp" not in measures
    assert [p["layer"] for p in measures["powerlaw"]] == ["layers.0", "layers.1"]
    assert isinstance(measures["cap"]["count"], int) and measures["cap"]["count"] > 0
    history = load_checkpoint(ckpt)["engine"]["history"]
    assert [(e["layer"], e["removed"], e["regrown"]) for e in data["elm"]["rows"]] == [
        (h["layer"], h["removed"], h["regrown"]) for h in history
    ]
    assert data["elm"]["theta"] == 0.9 and len(data["elm"]["latest"]) == 2


def test_run_directory_tracks_measures_with_csv(trained, tmp_path):
    out_csv, out_json = tmp_path / "evo.csv", tmp_path / "evo.json"
    r = run("analyze", trained, "--anp", "--cap", "--csv", out_csv, "--json", out_json)
    assert r.exit_code == 0, r.output
    assert "over training: 2 mask snapshot(s)" in r.output
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    assert [int(r_["update"]) for r_ in rows] == [0, 1]
    assert {"anp", "cap", "cap_hub_share", "overlap.layers.0"} <= set(rows[0])
    assert rows[0]["overlap.layers.0"] == ""  # the initial masks: no update yet
    history = load_checkpoint(trained / "checkpoints" / "latest.pt")["engine"]["history"]
    assert float(rows[1]["overlap.layers.0"]) == pytest.approx(history[0]["overlap"])
    metrics = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert float(rows[1]["anp"]) == pytest.approx(metrics[-1]["anp"])
    data = json.loads(out_json.read_text())
    assert [e["update"] for e in data["evolution"]] == [0, 1]
    assert data["evolution"][1]["cap"]["count"] == int(rows[1]["cap"])


def test_run_directory_elm_and_all(trained, tmp_path):
    r = run("analyze", trained, "--elm", "--csv", tmp_path / "elm.csv")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "elm.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r_["layer"] for r_ in rows] == ["layers.0", "layers.1"] and set(rows[0]) >= {"removed", "regrown", "elm"}


def test_all_on_stack_file(stack_file, tmp_path):
    path, _ = stack_file
    r = run("analyze", path, "--all", "--json", tmp_path / "all.json")
    assert r.exit_code == 0, r.output
    data = json.loads((tmp_path / "all.json").read_text())
    for m in ("summary", "anp", "powerlaw", "cap", "clustering", "community", "paths", "hyperbolic"):
        assert m in data["measures"] and f"== {m} ==" in r.output
    assert "elm" not in data  # a mask file has no history: --all leaves ELM out


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.npz"], "no such file or directory"),
        (["empty_dir"], "not a run directory"),
        (["junk.pt"], "junk.pt"),
        (["junk.npz"], "unreadable"),
        (["stack.npz", "--elm"], "needs a checkpoint or a run directory"),
        (["stack.npz", "--theta", "1.5"], "--theta must be in [0, 1]"),
        (["stack.npz", "--csv", "x.csv"], "--csv writes a table"),
        (["stack.npz", "--json", "nofolder/x.json"], "does not exist"),
    ],
)
def test_bad_targets_exit_2_with_one_line(tmp_path, monkeypatch, stack_file, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    r = CliRunner().invoke(main, ["analyze", *args])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("Error: ") and "\n" not in err and message in err, r.output
    assert r.stdout == "" and "Traceback" not in r.output


def test_every_report_measure_has_a_flag():
    from netsci_dst.cli.analyze import MEASURES as FLAGS

    from netsci_dst.analysis.report import MEASURES

    assert tuple(FLAGS) == tuple(MEASURES)


def test_independent_layers_default_skips_anp(tmp_path):
    rng = np.random.default_rng(3)
    path = save(LayerStack([rng.random((20, 30)) < 0.2] * 2, ["q", "k"], chain=False), tmp_path / "qk.edges")
    r = run("analyze", path)
    assert r.exit_code == 0, r.output
    assert "== summary ==" in r.output and "== anp ==" not in r.output
    r = run("analyze", path, "--anp")
    assert r.exit_code == 0 and "skipped: anp needs a chain" in r.output


def test_run_directory_every_nth_snapshot(tmp_path):
    import torch

    from netsci_dst.train.rundir import RunDir

    rundir = RunDir(tmp_path / "run").create()
    rng = np.random.default_rng(4)
    for u in range(6):
        masks = {
            "fc1": torch.from_numpy(rng.random((16, 12)) < 0.3),
            "fc2": torch.from_numpy(rng.random((8, 16)) < 0.3),
        }
        rundir.save_masks(u, masks, {"step": 10 * u, "epoch": u})
    r = run("analyze", tmp_path / "run", "--summary", "--every", 2, "--csv", tmp_path / "evo.csv")
    assert r.exit_code == 0, r.output
    with open(tmp_path / "evo.csv") as f:
        assert [int(row["update"]) for row in csv.DictReader(f)] == [0, 2, 4, 5]  # every 2nd, and the last
    r = run("analyze", tmp_path / "run", "--every", 0)
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1] == "Error: --every must be a positive integer, got 0"


def test_json_dash_writes_only_json_to_stdout(stack_file):
    path, stack = stack_file
    r = run("analyze", path, "--cap", "--json", "-")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)  # nothing but the JSON on stdout
    assert data["measures"]["measures"] == ["cap"] and data["measures"]["links"] == stack.n_links
    assert "== cap ==" in r.stderr and "wrote" not in r.output
    assert not (path.parent / "-").exists()


def test_csv_dash_writes_the_table_to_stdout(tmp_path):
    import torch

    from netsci_dst.train.rundir import RunDir

    rundir = RunDir(tmp_path / "run").create()
    rng = np.random.default_rng(5)
    for u in range(3):
        masks = {
            "fc1": torch.from_numpy(rng.random((16, 12)) < 0.3),
            "fc2": torch.from_numpy(rng.random((8, 16)) < 0.3),
        }
        rundir.save_masks(u, masks, {"step": 10 * u, "epoch": u})
    r = run("analyze", rundir.root, "--anp", "--csv", "-", "--json", tmp_path / "a.json")
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(r.stdout.splitlines()))
    assert [int(row["update"]) for row in rows] == [0, 1, 2] and "anp" in rows[0]
    assert f"wrote {tmp_path / 'a.json'}" in r.stderr and json.loads((tmp_path / "a.json").read_text())["evolution"]
    r = run("analyze", rundir.root, "--json", "-", "--csv", "-")
    assert (
        r.exit_code == 2
        and r.stderr.strip() == "Error: --json - and --csv - both ask for stdout: send one of them to a file"
    )


def test_a_registered_measure_gets_a_flag(stack_file):
    from netsci_dst.analysis.measures import REGISTRY, register

    path, stack = stack_file
    assert "--toy_free" not in run("analyze", "--help").output

    @register("toy_free", help="Links of the whole stack (a test measure).")
    def _toy(stack, options):
        return {"links": stack.n_links}

    try:
        help_text = run("analyze", "--help").output
        assert re.search(r"--toy_free\s+Links of the whole stack \(a test measure\)\.", help_text)
        options = [line.split()[0] for line in help_text.split("Options:")[1].splitlines() if line.startswith("  -")]
        assert options[options.index("--hyperbolic") + 1 : options.index("--elm")] == ["--toy_free"]
        r = run("analyze", path, "--toy_free")
        assert r.exit_code == 0, r.output
        assert "== toy_free ==" in r.output and f"links  {stack.n_links}" in r.output
        assert "== summary ==" not in r.output
    finally:
        REGISTRY.pop("toy_free")
    r = run("analyze", path, "--toy_free")
    assert r.exit_code == 2 and "No such option '--toy_free'" in r.stderr


def test_the_anp_table_names_the_last_sparse_layer_of_a_run_hidden_when_a_dense_layer_follows(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main, ["train", "mlp", "--method", "set", "--sizes", "784,16,16,16,10", "--train-limit", "64",
               "--test-limit", "32", "--epochs", "1", "--quiet", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    for target in (out, out / "checkpoints" / "latest.pt"):
        r = CliRunner().invoke(main, ["analyze", str(target), "--anp"])
        assert r.exit_code == 0, r.output
        names = [line.split()[0] + (" " + line.split()[1] if line.startswith("hidden") else "")
                 for line in r.output.split("== anp ==")[1].strip().splitlines()[1:5]]  # fmt: skip
        assert names == ["input", "hidden 1", "hidden 2", "hidden 3"], r.output
