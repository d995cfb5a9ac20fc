"""`dstnet plot`: every kind writes a non-empty figure of the expected pixel size; bad targets exit 2 on one line."""

import struct

import matplotlib.image as mpimg
import numpy as np
import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.graph import LayerStack, save

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _train(out, method):
    r = run(
        "train", "mlp", "--method", method, "--epochs", 2, "--sizes", "784,64,64,10", "--sparsity", 0.9,
        "--train-limit", 300, "--test-limit", 100, "--quiet", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two tiny runs (CHTs and SET), 2 epochs each, one topology update."""
    root = tmp_path_factory.mktemp("plot")
    return _train(root / "chts", "chts"), _train(root / "set", "set")


@pytest.fixture
def stack_file(tmp_path):
    rng = np.random.default_rng(2)
    stack = LayerStack([rng.random((60, 50)) < 0.1, rng.random((30, 60)) < 0.1, rng.random((30, 30)) < 0.2])
    return save(stack, tmp_path / "stack.npz")


def _png_size(path):
    """(width, height) from the IHDR chunk, after checking the PNG signature."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _check_png(path, width, height):
    assert path.stat().st_size > 5000
    assert _png_size(path) == (width, height)
    img = mpimg.imread(path)
    assert img.shape[:2] == (height, width)
    assert img[..., :3].std() > 0.05  # not a blank canvas


@pytest.mark.parametrize(
    "kind, size",
    [
        ("adjacency", (990, 792)),  # plot/topology.py: 9 x 3.6 in per layer at 110 dpi
        ("degree", (940, 460)),  # two panels, 4.7 x 2.3 in at 200 dpi
        ("evolution", (1400, 960)),  # 7 x 4.8 in
        ("hyperbolic", (680, 750)),  # one column: 3.4 x 3.75 in
        ("training", (1400, 500)),  # 7 x 2.5 in: 2.3 in of panels and one row of legend
    ],
)
def test_every_kind_on_a_run_directory(runs, tmp_path, kind, size):
    out = tmp_path / f"{kind}.png"
    r = run("plot", runs[0], "--kind", kind, "-o", out)
    assert r.exit_code == 0, r.output
    assert f"wrote {out}" in r.output
    _check_png(out, *size)


def test_training_side_by_side_and_checkpoint_targets(runs, tmp_path):
    out = tmp_path / "two.png"
    ckpt = runs[1] / "checkpoints" / "latest.pt"
    r = run("plot", runs[0], ckpt, "--kind", "training", "-o", out)
    assert r.exit_code == 0, r.output
    _check_png(out, 1400, 540)  # two runs and two line styles: a legend of two rows
    out = tmp_path / "ckpt-degree.png"
    r = run("plot", ckpt, "--kind", "degree", "-o", out, "--dpi", 100)
    assert r.exit_code == 0, r.output
    _check_png(out, 470, 230)


def test_stack_file_kinds_and_vector_formats(stack_file, tmp_path):
    out = tmp_path / "deg.png"
    assert run("plot", stack_file, "--kind", "degree", "-o", out).exit_code == 0
    _check_png(out, 1410, 460)  # three panels in a row: 7.05 x 2.3 in
    svg, pdf = tmp_path / "disk.svg", tmp_path / "adj.pdf"
    r = run("plot", stack_file, "--kind", "hyperbolic", "-o", svg, "--embedding", "LE")
    assert r.exit_code == 0, r.output
    assert b"<svg" in svg.read_bytes()[:2000] and svg.stat().st_size > 10_000
    r = run("plot", stack_file, "--kind", "adjacency", "-o", pdf)
    assert r.exit_code == 0, r.output
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000


def test_update_selects_a_snapshot(runs, tmp_path):
    out = tmp_path / "u0.png"
    r = run("plot", runs[0], "--kind", "hyperbolic", "--update", 0, "-o", out)
    assert r.exit_code == 0, r.output
    _check_png(out, 680, 750)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing", "--kind", "degree"], "no such file or directory"),
        (["junk.pt", "--kind", "degree"], "junk.pt"),
        (["junk.npz", "--kind", "adjacency"], "unreadable"),
        (["empty_dir", "--kind", "degree"], "not a run directory"),
        (["STACK", "--kind", "evolution"], "needs a run directory"),
        (["CKPT", "--kind", "evolution"], "needs a run directory"),
        (["NOSNAP", "--kind", "evolution"], "no mask snapshots"),
        (["STACK", "--kind", "training"], "no training metrics"),
        (["STACK", "STACK", "--kind", "degree"], "only --kind training and comparison take several"),
        (["RUN", "--kind", "degree", "--update", "7"], "--update 7"),
        (["STACK", "--kind", "degree", "-o", "fig.jpg"], "use a .png, .svg or .pdf"),
        (["STACK", "--kind", "degree", "-o", "nofolder/fig.png"], "does not exist"),
        (["STACK", "--kind", "circles"], "Invalid value for '--kind'"),
    ],
)
def test_bad_targets_exit_2_with_one_line(runs, stack_file, tmp_path, monkeypatch, args, message):
    import shutil

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04garbage")
    nosnap = tmp_path / "nosnap"
    shutil.copytree(runs[0], nosnap)
    shutil.rmtree(nosnap / "masks")
    subst = {"STACK": str(stack_file), "CKPT": str(runs[0] / "checkpoints" / "latest.pt"), "NOSNAP": str(nosnap)}
    subst["RUN"] = str(runs[0])
    r = CliRunner().invoke(main, ["plot", *[subst.get(a, a) for a in args]])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("Error: ") and "\n" not in err and message in err, r.output
    assert r.stdout == "" and not list(tmp_path.glob("*.png"))


def test_hyperbolic_refuses_independent_layers(tmp_path):
    rng = np.random.default_rng(0)
    path = save(LayerStack([rng.random((20, 30)) < 0.2] * 2, ["q", "k"], chain=False), tmp_path / "qk.npz")
    r = run("plot", path, "--kind", "hyperbolic", "-o", tmp_path / "disk.png")
    assert r.exit_code == 2 and not (tmp_path / "disk.png").exists()
    assert r.output.strip().splitlines()[-1] == (
        "Error: the hyperbolic disk embeds a chain of layers; the 2 layers (q, ...) are independent, "
        "so there is no whole network to embed"
    )
