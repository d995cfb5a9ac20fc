"""`dstnet generate`: success paths, files, plots, and one-line errors with exit code 2."""

import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.graph import load
from netsci_dst.topology._common import link_count


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bsw_single_layer_writes_exact_mask(tmp_path):
    out = tmp_path / "topo.npz"
    r = run(
        "generate",
        "bsw",
        "--beta",
        "0.25",
        "--n-in",
        "784",
        "--n-out",
        "1568",
        "--density",
        "0.01",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    stack = load(out)
    assert len(stack) == 1 and stack[0].shape == (1568, 784)
    assert stack[0].sum() == link_count(784, 1568, 0.01) == 12293
    assert stack.meta["model"] == "bsw" and stack.meta["params"]["beta"] == 0.25
    assert "12,293" in r.output and "wrote" in r.output  # the per-layer summary and the file


def test_bsf_stack_with_network_steps(tmp_path):
    out = tmp_path / "bsf.graphml"
    r = run(
        "generate",
        "bsf",
        "--layers",
        "60,120,120,120",
        "--sparsity",
        "0.9",
        "--equal-partition",
        "--resort",
        "rigid",
        "-o",
        str(out),
    )
    assert r.exit_code == 0, r.output
    stack = load(out)
    assert [m.shape for m in stack] == [(120, 60), (120, 120), (120, 120)]
    assert [int(m.sum()) for m in stack] == [720, 1440, 1440]
    assert stack.is_chain
    assert r.output.count("layer") >= 3


def test_csti_uses_bundled_data_and_plot(tmp_path):
    out, png = tmp_path / "c.edges", tmp_path / "c.png"
    r = run("generate", "csti", "--layers", "784,1568", "--density", "0.01", "-o", str(out), "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert load(out)[0].sum() == link_count(784, 1568, 0.01)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_same_seed_same_file_other_seed_differs(tmp_path):
    masks = []
    for seed, name in ((3, "a"), (3, "b"), (4, "c")):
        p = tmp_path / f"{name}.npz"
        assert (
            run(
                "generate",
                "er",
                "--n-in",
                "50",
                "--n-out",
                "40",
                "--density",
                "0.1",
                "--seed",
                str(seed),
                "-o",
                str(p),
            ).exit_code
            == 0
        )
        masks.append(load(p)[0])
    assert np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[0], masks[2])


@pytest.mark.parametrize(
    "args, message",
    [
        (["bsw", "--n-in", "10", "--n-out", "10", "--density", "0"], "density must be in (0, 1]"),
        (["bsw", "--n-in", "10", "--n-out", "10", "--density", "1.5"], "density must be in (0, 1]"),
        (["bsw", "--n-in", "10", "--n-out", "10", "--beta", "1.2"], "beta"),
        (["nosuch", "--n-in", "10", "--n-out", "10"], "unknown topology model"),
        (["csti", "--layers", "784,1568", "--data", "/nonexistent/dir"], "no such data folder"),
        (["er", "--n-in", "3", "--n-out", "3", "--density", "0.01"], "rounds to 0"),
        (["er", "--n-in", "10", "--n-out", "10", "--beta", "0.5"], "does not apply to er"),
        (["er", "--layers", "10,x"], "--layers"),
        (["er", "--n-in", "10"], "layer sizes"),
        (["er", "--n-in", "10", "--n-out", "10", "-o", "t.bin"], "unknown file type"),
        (["er", "--n-in", "10", "--n-out", "10", "--density", "abc"], "abc"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["generate", *args])
    assert r.exit_code == 2, r.output
    err = r.stderr.strip()
    assert err.startswith("Error:") and "\n" not in err and message in err
    assert "Traceback" not in r.output


def test_unreadable_data_file_is_exit_2(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"garbage")
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"garbage")
    r = CliRunner().invoke(main, ["generate", "csti", "--layers", "784,784", "--data", str(tmp_path)])
    assert r.exit_code == 2 and "not an IDX file" in r.stderr


@pytest.mark.skipif(shutil.which("dstnet") is None, reason="the dstnet console script is not installed")
def test_console_script_reports_errors_without_traceback():
    p = subprocess.run(
        ["dstnet", "generate", "bsw", "--n-in", "5", "--n-out", "5", "--density", "2"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "netsci_dst.cli", "--help"], capture_output=True, text=True, check=False)
    assert p.returncode == 0 and "generate" in p.stdout


def test_an_empty_layer_size_is_refused():
    from click.testing import CliRunner
    from netsci_dst.cli import main

    r = CliRunner().invoke(main, ["generate", "er", "--layers", "10,,5", "--density", "0.5"])
    assert r.exit_code == 2 and "comma-separated integers" in r.output


def test_a_full_disk_is_one_line_and_leaves_no_file_behind(tmp_path, monkeypatch):
    import errno

    from click.testing import CliRunner
    from netsci_dst.cli import main

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr("os.replace", full)
    out = tmp_path / "topo.npz"
    r = CliRunner().invoke(
        main, ["generate", "er", "--n-in", "20", "--n-out", "10", "--density", "0.2", "-o", str(out)]
    )
    assert r.exit_code == 2 and "No space left on device" in r.output and "Traceback" not in r.output
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temporary file


def test_a_long_file_name_is_written(tmp_path):
    from click.testing import CliRunner
    from netsci_dst.cli import main

    out = tmp_path / ("t" * 240 + ".npz")  # near the 255-byte limit: the temporary name must not grow with it
    r = CliRunner().invoke(
        main, ["generate", "er", "--n-in", "20", "--n-out", "10", "--density", "0.2", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_a_format_that_contradicts_the_file_name_is_refused(tmp_path):
    from click.testing import CliRunner
    from netsci_dst.cli import main

    out = tmp_path / "x.npz"
    args = [
        "generate",
        "er",
        "--n-in",
        "20",
        "--n-out",
        "10",
        "--density",
        "0.2",
        "--format",
        "edgelist",
        "-o",
        str(out),
    ]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "read back as npz" in r.output and not out.exists()
