"""`dstnet linkpred`: the click command on small mask files (success paths and the user errors it raises)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack, load, save_npz, write_edgelist
from netsci_dst.linkpred import score

try:  # installed layout (cli/ mapped to netsci_dst.cli) or a source checkout
    from netsci_dst.cli.linkpred import linkpred
except ImportError:  # pragma: no cover
    from cli.linkpred import linkpred

# the hand-computed graph of tests/linkpred/test_exact.py: inputs a b c, outputs x y z w
HAND = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 0], [0, 0, 1]], dtype=bool)


def _rows(output: str) -> list[list[str]]:
    """Table rows of the command's output (header and '#' summary lines skipped)."""
    lines = [ln for ln in output.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0].split() == ["layer", "input", "output", "score"]
    return [ln.split() for ln in lines[1:]]


@pytest.fixture
def stack_file(tmp_path):
    rng = np.random.default_rng(0)
    other = rng.random((20, 30)) < 0.15
    return save_npz(LayerStack([HAND, other], ["fc1", "fc2"]), tmp_path / "net.npz")


def test_prints_top_links_of_every_layer(stack_file):
    result = CliRunner().invoke(linkpred, [str(stack_file), "--top", "3"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    fc1 = [r for r in rows if r[0] == "fc1"]
    # best links of the hand graph: c->x and a->z, both 1 + 1/sqrt(2); ties go to the smaller row-major index
    # (x is output 0, z output 2), then a->w at 1/sqrt(2)
    assert [(int(r[1]), int(r[2])) for r in fc1] == [(2, 0), (0, 2), (0, 3)]
    assert math.isclose(float(fc1[0][3]), 1 + 1 / math.sqrt(2), rel_tol=1e-5)
    assert len([r for r in rows if r[0] == "fc2"]) == 3
    assert "# fc1 (4 outputs x 3 inputs, 7 links): 5 missing links with a positive CH3-L3 score" in result.output


@pytest.mark.parametrize("method", ["CH3-L3", "ch2-l3", "CH3-L3n", "ch2-L3N"])
def test_methods_layer_and_scores_file(stack_file, tmp_path, method):
    out = tmp_path / "scores.npz"
    result = CliRunner().invoke(linkpred, [str(stack_file), "-m", method, "--layer", "1", "-k", "5", "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert 0 < len(rows) <= 5 and all(r[0] == "fc2" for r in rows)
    with np.load(out) as z:
        assert json.loads(str(z["names"])) == ["fc2"]
        assert z["layers"].tolist() == [1]
        canonical = {"ch2-l3": "CH2-L3", "ch2-L3N": "CH2-L3n"}.get(method, method)
        assert str(z["method"]) == canonical
        mask = load(stack_file)[1]
        np.testing.assert_allclose(z["scores_1"], score(mask, canonical), rtol=1e-6, atol=1e-6)
    # printed scores are the top of the saved ones
    best = float(rows[0][3])
    with np.load(out) as z:
        assert math.isclose(best, float(z["scores_1"].max()), rel_tol=1e-5)


def test_layer_by_name_and_edge_list(tmp_path, stack_file):
    result = CliRunner().invoke(linkpred, [str(stack_file), "--layer", "fc1", "--top", "10"])
    assert result.exit_code == 0, result.output
    assert len(_rows(result.output)) == 5  # only links with a positive score are listed
    # an edge list of a plain bipartite network (input output per line)
    edges = tmp_path / "net.txt"
    write_edgelist(HAND, edges)
    result = CliRunner().invoke(linkpred, [str(edges), "--method", "CH2-L3n", "--backend", "SPARSE"])
    assert result.exit_code == 0, result.output
    rows = _rows(result.output)
    assert [float(r[3]) for r in rows] == [6.0, 6.0, 3.0, 3.0, 2.0]
    raw = tmp_path / "raw.edges"
    raw.write_text("0 0\n0 1\n1 0\n1 1\n1 2\n2 1\n2 3\n")  # input output, no header
    result = CliRunner().invoke(linkpred, [str(raw)])
    assert result.exit_code == 0, result.output
    assert len(_rows(result.output)) > 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--method", "CH9"], "unknown link prediction method"),
        (["--layer", "7"], "out of range"),
        (["--layer", "nope"], "no layer"),
        (["--top", "0"], "--top must be at least 1"),
    ],
)
def test_user_errors_raise_dstnet_error(stack_file, args, message):
    result = CliRunner().invoke(linkpred, [str(stack_file), *args])
    assert isinstance(result.exception, DstnetError), result.output
    assert message in str(result.exception)


def test_missing_file_raises_dstnet_error(tmp_path):
    result = CliRunner().invoke(linkpred, [str(tmp_path / "absent.npz")])
    assert isinstance(result.exception, DstnetError)


@pytest.mark.parametrize("args", [["--method", "CH9"], ["--layer", "7"], ["--top", "0"]])
def test_errors_through_dstnet_main_exit_2(stack_file, args):
    try:
        from netsci_dst.cli import main
    except ImportError:  # pragma: no cover
        pytest.skip("the dstnet main command is not importable")
    if "linkpred" not in main.commands:  # pragma: no cover
        pytest.skip("linkpred is not registered with dstnet main")
    result = CliRunner().invoke(main, ["linkpred", str(stack_file), *args], standalone_mode=True)
    assert result.exit_code == 2
    assert "Error:" in result.output and "Traceback" not in result.output


def test_output_dash_writes_the_scores_to_stdout(stack_file, tmp_path, monkeypatch):
    import io

    import click

    result = CliRunner().invoke(linkpred, [str(stack_file), "--layer", "fc1", "-o", "-"])
    assert result.exit_code == 0, result.output
    with np.load(io.BytesIO(result.stdout_bytes)) as z:  # nothing but the .npz on stdout
        assert json.loads(str(z["names"])) == ["fc1"]
        np.testing.assert_allclose(z["scores_0"], score(HAND, "CH3-L3"), rtol=1e-6, atol=1e-6)
    assert _rows(result.stderr) and "written" not in result.stderr
    assert not (tmp_path / "-").exists()

    class Terminal(io.BytesIO):
        def isatty(self):
            return True

    monkeypatch.setattr(click, "open_file", lambda name, mode: Terminal())
    result = CliRunner().invoke(linkpred, [str(stack_file), "-o", "-"])
    assert isinstance(result.exception, DstnetError) and "redirect stdout" in str(result.exception)
