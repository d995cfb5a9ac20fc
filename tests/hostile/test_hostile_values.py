"""Odd values and sizes (issue 17 items 1, 2, 4 and 6): requests that cannot fit in memory are refused up front with
the bytes they would need, wrong-but-quiet values are refused, run directories are not mixed, and outputs follow
the conventions (one line, data on stdout, no progress frames when redirected)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TINY_TRAIN, dstnet, file_hashes, leftovers, one_line_error

import netsci_dst.memory
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, save


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-in", 100_000, "--n-out", 10_000_000], "would need"),
        (["--layers", "784,99999999999"], "would need"),
        (["--n-in", 0, "--n-out", 5], "a layer has 1 to"),
        (["--layers", "10,,5"], "--layers takes comma-separated integers"),
        (["--n-in", 9, "--n-out", 9, "--format", "edgelist", "-o", "OUT/x.npz"], "that name is read back as npz"),
        (["--n-in", 9, "--n-out", 9, "--density", "nan"], "density"),
    ],
)
def test_generate_refuses_sizes_and_values_up_front(tmp_path, args, message):
    args = [str(a).replace("OUT/", f"{tmp_path}/") for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "g.npz")]
    one_line_error(dstnet("generate", "er", *args), match=message)
    assert not any(tmp_path.iterdir())


def test_memory_budgets_follow_the_memory_available(tmp_path, monkeypatch):
    """With 1 MiB free, a 200x300 layer (60,000 possible links: 3.8 MiB with the dense work on it) is refused by
    every reader and by linkpred -o, naming the bytes it would need; with memory back it is read."""
    path = save(LayerStack([np.random.default_rng(0).random((200, 300)) < 0.05]), tmp_path / "s.npz")
    monkeypatch.setattr(netsci_dst.memory, "available_memory", lambda: 1 << 20)
    for args in (["analyze", path], ["linkpred", path], ["plot", path, "--kind", "degree", "-o", tmp_path / "d.png"]):
        one_line_error(dstnet(*args), match="layers of 200x300 neurons would need 3.8 MiB of memory; 1.0 MiB are")
    monkeypatch.setattr(
        netsci_dst.memory, "available_memory", lambda: 4 << 20
    )  # the masks and their work fit, the kept scores (8 B a link) do not
    assert dstnet("analyze", path).exit_code == 0
    one_line_error(dstnet("linkpred", path, "-o", tmp_path / "scores.npz"), match="keeping their scores for -o")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]


def test_a_beam_that_cannot_fit_is_refused_with_the_bytes_it_would_need(monkeypatch):
    from netsci_dst.train.translation_eval import check_beam

    config = SimpleNamespace(vocab_size=10_000, d_model=512, n_decoder_layers=6, max_len=256)
    tokenizer = SimpleNamespace(encode_batch=lambda texts: [[5] * 9 for _ in texts])
    model = SimpleNamespace(config=config)
    check_beam(model, tokenizer, ["a dog runs."], 5, "cpu")
    with pytest.raises(DstnetError, match=r"--beam 10000000 would need 1\d\.\d TiB of memory"):
        check_beam(model, tokenizer, ["a dog runs."], 10**7, "cpu")
    with pytest.raises(DstnetError, match="--beam must be at least 1"):
        check_beam(model, tokenizer, ["a dog runs."], 0, "cpu")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--train-limit", 0], "train-limit must be a positive number"),
        (["--test-limit", -5], "test-limit must be a positive number"),
        (["--sizes", "784,,10"], "--sizes takes comma-separated integers"),
        (["--seed", -1], "seed must be an integer in [0, 2**32)"),
        (["--seed", 2**64], "seed must be an integer in [0, 2**32)"),
        (["--epochs", 0], "epochs must be >= 1"),
        (["--epochs", 10**20], "epochs must be at most 1,000,000"),
        (["--sparsity", "nan"], "sparsity"),
        (["--set", "zeta=x"], "zeta"),
    ],
)
def test_training_values_are_refused_before_the_run_directory_exists(tmp_path, args, message):
    one_line_error(dstnet("train", "mlp", *TINY_TRAIN, *args, "--out", tmp_path / "run"), match=message)
    assert not (tmp_path / "run").exists()


def test_run_directories_are_never_mixed(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    before = file_hashes(run)
    one_line_error(dstnet("train", "mlp", *TINY_TRAIN, "--out", run), match="use --resume")  # a finished run
    for name in ("latest.pt", "best.pt"):
        (run / "checkpoints" / name).unlink()
    before = {k: v for k, v in before.items() if not k.startswith("checkpoints/")}
    one_line_error(dstnet("train", "mlp", *TINY_TRAIN, "--out", run), match="already holds ")
    one_line_error(dstnet("train", "mlp", "--resume", ""), match="--resume needs the run directory")
    assert file_hashes(run) == before and not leftovers(run)


def test_metrics_are_strict_json_and_data_goes_to_stdout(tiny_run):
    def refuse(constant):
        raise AssertionError(f"bare {constant} in metrics.jsonl")

    for line in (tiny_run / "metrics.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=refuse)
    r = dstnet("analyze", tiny_run, "--json", "-")
    assert r.exit_code == 0 and json.loads(r.stdout)["target"] == str(tiny_run)
    assert "run directory" in r.stderr  # the text report, beside the data


def test_conventions_help_without_a_command_and_no_progress_frames_when_redirected(tmp_path):
    r = dstnet("train")
    assert r.exit_code == 0 and "Commands:" in r.stdout and "mlp" in r.stdout
    args = [a for a in TINY_TRAIN if a != "--quiet"]
    r = dstnet("train", "mlp", *args, "--epochs", 1, "--out", tmp_path / "run")  # stderr is not a terminal here
    assert r.exit_code == 0 and "\r" not in r.stderr + r.stdout
    r = dstnet("analyze", tmp_path / "run")
    assert r.exit_code == 0 and "\r" not in r.stderr + r.stdout


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_test_images_of_another_size_than_the_training_images_are_one_line(tmp_path, backend):
    """Red-team finding: the dense backend crashed after the first epoch and left a run behind; the sparse one
    multiplied the wrong width and reported an accuracy."""
    from netsci_dst.data.idx import write_idx

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    for prefix, n, side in (("train", 64, 28), ("t10k", 32, 20)):
        write_idx(rng.integers(0, 256, (n, side, side), dtype=np.uint8), data / f"{prefix}-images-idx3-ubyte.gz")
        write_idx(rng.integers(0, 10, n).astype(np.uint8), data / f"{prefix}-labels-idx1-ubyte.gz")
    out = tmp_path / "run"
    r = dstnet("train", "mlp", *TINY_TRAIN, "--epochs", 1, "--data-dir", data, "--backend", backend, "--out", out)
    one_line_error(r, match="test images are 20x20 but the training images are 28x28")
    assert not out.exists()


def test_the_sparse_kernel_refuses_an_input_of_the_wrong_width():
    import torch

    from netsci_dst.dst.sparse_linear import SparseLinear

    layer = SparseLinear(torch.ones(3, 5, dtype=torch.bool), bias=None)
    assert layer(torch.ones(2, 5)).shape == (2, 3)
    with pytest.raises(DstnetError, match="4 features per sample but the layer takes 5 inputs"):
        layer(torch.ones(2, 4))


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "{mask}", "--kind", "hyperbolic", "-o", "{tmp}/h.png"],
        ["analyze", "{mask}", "--hyperbolic"],
        ["generate", "bsw", "--layers", "40,30", "-o", "{tmp}/g.npz"],
    ],
    ids=["plot", "analyze", "generate"],
)
def test_a_negative_seed_is_one_line_from_every_command(tmp_path, args):
    """Red-team finding: plot --kind hyperbolic and analyze --hyperbolic raised numpy's ValueError traceback."""
    mask = tmp_path / "mask.npz"
    save(LayerStack([np.eye(6, dtype=bool)]), mask)
    filled = [a.format(mask=mask, tmp=tmp_path) for a in args]
    one_line_error(dstnet(*filled, "--seed", "-1"), match="'--seed': -1 is not in the range x>=0")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.npz"]


@pytest.mark.parametrize("seed", [-1, 1.5, True, "3"])
def test_the_embedding_functions_refuse_a_seed_that_is_not_a_non_negative_integer(seed):
    from netsci_dst.analysis.hyperbolic import angular_separation, coalescent_embedding

    with pytest.raises(DstnetError, match="seed must be a non-negative integer"):
        coalescent_embedding(np.eye(6, dtype=bool), seed=seed)
    with pytest.raises(DstnetError, match="seed must be a non-negative integer"):
        angular_separation(np.zeros(4), [0, 0, 1, 1], seed=seed)


def test_a_library_warning_is_one_line_on_stderr(tmp_path):
    """Python shows a warning with its source file, line and code (two lines); the CLI shows the message alone."""
    args = ["--method", "chts", "--sizes", "784,100,10", "--train-limit", "64", "--test-limit", "32", "--quiet"]
    r = dstnet("train", "mlp", *args, "--epochs", 1, "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: chts: CSTI needs layer sizes that are multiples"), lines


@pytest.mark.parametrize(("n", "side", "expected"), [(0, 28, "0x28x28"), (8, 0, "8x0x0")])
@pytest.mark.parametrize("split", ["train", "t10k"])
def test_an_idx_split_without_images_is_one_line(tmp_path, n, side, split, expected):
    from netsci_dst.data.idx import write_idx

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        count, size = (n, side) if prefix == split else (16, 28)
        write_idx(np.zeros((count, size, size), dtype=np.uint8), data / f"{prefix}-images-idx3-ubyte.gz")
        write_idx(rng.integers(0, 10, count).astype(np.uint8), data / f"{prefix}-labels-idx1-ubyte.gz")
    out = tmp_path / "run"
    r = dstnet("train", "mlp", *TINY_TRAIN, "--epochs", 1, "--data-dir", data, "--out", out)
    one_line_error(r, match=f"'{split}' holds no images ({expected})")
    assert not out.exists()
