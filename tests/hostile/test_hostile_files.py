"""Hostile files of every format dstnet reads (issue 17 item 2), through every command that reads them.

Each file must give exit code 2, one ``Error:`` line and no traceback, within the case's wall-clock bound (a
13-byte edge list must not allocate gigabytes or loop for minutes), leave no output or temporary file behind, and
get the same answer from every command (one validating loader per format).
"""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import dstnet, file_hashes, leftovers, one_line_error

MASK_COMMANDS = [
    ["analyze", "{f}"],
    ["linkpred", "{f}"],
    ["plot", "{f}", "--kind", "degree", "-o", "{out}/figure.png"],
]
CHECKPOINT_COMMANDS = [
    *MASK_COMMANDS,
    ["plot", "{f}", "--kind", "training", "-o", "{out}/curves.png"],
    ["export", "{f}", "-o", "{out}/export.pt"],
    ["translate", "{f}", "a dog runs."],
]


def _message(line: str) -> str:
    """The error without ``Error:`` and the path it starts with (commands read a run's best.pt or latest.pt)."""
    return line.removeprefix("Error: ").split(": ", 1)[-1]


def _answers(commands: list[list[str]], target: Path, out: Path) -> set[str]:
    """Run every command on ``target``: each must fail with one line and leave nothing in ``out``; their answers."""
    answers = set()
    for command in commands:
        r = dstnet(*(a.format(f=target, out=out) for a in command))
        answers.add(_message(one_line_error(r)))
        assert not any(out.iterdir()), (command, sorted(out.iterdir()))
    return answers


# ---------------------------------------------------------------------------------------------- mask files
def _text(content: str | bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(content.encode() if isinstance(content, str) else content)


def _npz(**arrays) -> Callable[[Path], None]:
    base = {"format_version": np.array(1), "names": np.array('["a"]'), "meta": np.array("{}")}
    layer = {"shape_0": np.array([3, 3]), "rows_0": np.array([0, 1]), "cols_0": np.array([0, 1])}
    merged = {k: v for k, v in {**base, **layer, **arrays}.items() if v is not None}
    return lambda p: np.savez(p, **merged)


def _npz_header_only(shape: tuple[int, ...]) -> Callable[[Path], None]:
    """An .npz member whose header claims ``shape`` float64 values and holds none (a 'zip bomb' by header)."""

    def write(p: Path) -> None:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("x.npy", header.getvalue())  # the magic string and the header, no data

    return write


_GRAPHML = """<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="graph" attr.name="neuron_layers" attr.type="string"/>
<key id="d1" for="node" attr.name="layer" attr.type="long"/>
<key id="d2" for="node" attr.name="index" attr.type="long"/>
<graph edgedefault="undirected"><data key="d0">{sizes}</data>
<node id="0"><data key="d1">0</data><data key="d2">0</data></node>
<node id="1"><data key="d1">1</data><data key="d2">{index}</data></node>
<edge source="0" target="1"/></graph></graphml>"""
_BIPARTITE = """<?xml version='1.0' encoding='utf-8'?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
<key id="d0" for="node" attr.name="bipartite" attr.type="string"/>
<graph edgedefault="undirected"><node id="a"><data key="d0">{side}</data></node>
<node id="b"><data key="d0">1</data></node><edge source="a" target="b"/></graph></graphml>"""
_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">' for k in range(8))
    + ']><graphml xmlns="http://graphml.graphdrawing.org/xmlns"><graph><node id="&i;"/></graph></graphml>'
)

MASK_FILES = {
    # edge lists: ids, headers, sizes
    "huge-id.edges": (_text("0 99999999999"), "would need"),  # 13 bytes asking for a 10^11-neuron layer
    "huge-id3.txt": (_text("0 0 99999999999\n"), "would need"),
    "huge-layer-id.edges": (_text("99999 0 0\n"), "at most 10,000 layers"),
    "endless-id.edges": (_text("0 " + "9" * 5000 + "\n"), "beyond any layer that fits in memory"),
    "negative.edges": (_text("-1 3\n"), "non-negative integer"),
    "float.edges": (_text("1.5 3\n"), "non-negative integer"),
    "word.csv": (_text("0,x\n"), "non-negative integer"),
    "unicode-digit.edges": (_text("0 \u0663\n"), "non-negative integer"),
    "widths.tsv": (_text("0\t1\n0\t1\t2\n"), "columns, but line 1 has 2"),
    "four-columns.edges": (_text("0 1 2 3\n"), "expected 2 columns"),
    "empty.edges": (_text(""), "nothing to read"),
    "binary.edges": (_text(b"\xff\xfe\x00\x01"), "not a UTF-8 text edge list"),
    "gap.edges": (_text("0 1 2\n2 0 0\n"), "layer 1 has no links"),
    "bad-shapes.edges": (_text("# shapes: 3x-4\n0 1\n"), "must be a non-negative integer"),
    "zero-shape.edges": (_text("# shapes: 0x0\n"), "a layer has 1 to"),
    "two-shapes.edges": (_text("# shapes: 2x2\n# shapes: 2x2\n0 1\n"), "a second '# shapes:' header"),
    "outside.edges": (_text("# shapes: 2x2\n5 1\n"), "lies outside layer 0's shape"),
    "header-layers.edges": (_text("# shapes: 2x2; 2x2\n0 1\n"), "2-column lines are one layer"),
    "names.edges": (_text("# names: a,b\n0 1\n"), "gives 2 names for 1 layers"),
    "chain.edges": (_text("# chain: yes\n0 1\n"), "'# chain:' is 0 or 1"),
    "huge-shape.edges": (_text("# shapes: 100000000x100000000\n0 1\n"), "would need"),
    # .npz: field types, names, shapes, indices, pickles, headers
    "text.npz": (_text("hello"), "not an .npz zip archive"),
    "empty.npz": (lambda p: np.savez(p), "no format_version, 0 2-D arrays"),
    "pickle.npz": (lambda p: np.savez(p, x=np.array([{"a": 1}], dtype=object)), "pickles are never loaded"),
    "header-bomb.npz": (_npz_header_only((10**6, 10**6)), "would need"),
    "strings.npz": (lambda p: np.savez(p, x=np.array([["a", "b"]])), "not a 2-D array of numbers"),
    "version.npz": (_npz(format_version=np.array(99)), "mask file format 99"),
    "version-text.npz": (_npz(format_version=np.array("1")), "not an integer format version"),
    "names-json.npz": (_npz(names=np.array("[oops")), "names is not JSON"),
    "names-dict.npz": (_npz(names=np.array('{"a": 1}')), "names is a JSON dict, not a list"),
    "names-numbers.npz": (_npz(names=np.array("[1]")), "layer names (strings)"),
    "names-twice.npz": (
        _npz(names=np.array('["a", "a"]'), shape_1=np.array([3, 3]), rows_1=np.array([0]), cols_1=np.array([0])),
        "layer names must be unique",
    ),
    "meta-list.npz": (_npz(meta=np.array("[1]")), "meta is a JSON list, not a dict"),
    "chain-text.npz": (_npz(chain=np.array("yes")), "not a bool"),
    "no-shape.npz": (_npz(shape_0=None), "no array 'shape_0'"),
    "float-shape.npz": (_npz(shape_0=np.array([2.5, 3.0])), "not an (n_out, n_in) pair"),
    "three-sizes.npz": (_npz(shape_0=np.array([3, 3, 3])), "not 2 (n_out, n_in)"),
    "huge-shape.npz": (_npz(shape_0=np.array([10**12, 10**12])), "would need"),
    "float-rows.npz": (_npz(rows_0=np.array([0.5, 1.0])), "not 1-D integer link indices"),
    "out-of-range.npz": (_npz(rows_0=np.array([5, 1])), "link index outside its shape 3x3"),
    "negative-index.npz": (_npz(rows_0=np.array([-1, 1])), "link index outside its shape 3x3"),
    "repeated-link.npz": (_npz(rows_0=np.array([1, 1]), cols_0=np.array([2, 2])), "lists 1 link(s) more than once"),
    "deep-meta.npz": (_npz(meta=np.array("[" * 100_000 + "]" * 100_000)), "meta is JSON nested too deeply"),
    "huge-int-meta.npz": (_npz(meta=np.array("1" * 5000)), "meta is not JSON"),
    "unpaired.npz": (_npz(rows_0=np.array([0, 1, 2])), "3 row and 2 column indices"),
    "extra-layer.npz": (_npz(shape_1=np.array([2, 2])), "do not belong to the 1 layer(s)"),
    "not-a-chain.npz": (
        _npz(
            names=np.array('["a", "b"]'),
            chain=np.array(True),
            shape_0=np.array([2, 3]),
            rows_0=np.array([0]),
            cols_0=np.array([0]),
            shape_1=np.array([2, 5]),
            rows_1=np.array([0]),
            cols_1=np.array([0]),
        ),
        "do not form a chain",
    ),  # fmt: skip
    # GraphML: syntax, attributes, sizes, entity expansion
    "garbage.graphml": (_text("not xml at all"), "unreadable GraphML"),
    "laughs.graphml": (_text(_LAUGHS), "unreadable GraphML"),
    "no-side.graphml": (_text(_BIPARTITE.format(side="").replace('<data key="d0"></data>', "")), "no 'bipartite'"),
    "side-2.graphml": (_text(_BIPARTITE.format(side="2")), "0 for inputs, 1 for outputs"),
    "side-half.graphml": (_text(_BIPARTITE.format(side="0.5")), "must be a non-negative integer"),
    "sizes-words.graphml": (_text(_GRAPHML.format(sizes="a,b", index=0)), "neuron_layers must be"),
    "sizes-huge.graphml": (_text(_GRAPHML.format(sizes="1000000000,1000000000", index=0)), "would need"),
    "index-outside.graphml": (_text(_GRAPHML.format(sizes="1,1", index=7)), "outside the neuron layers"),
    # a folder or a foreign suffix
    "model.bin": (_text("x"), "unknown file type '.bin'"),
}


@pytest.mark.parametrize("name", sorted(MASK_FILES))
def test_a_hostile_mask_file_is_one_line_from_every_reader(tmp_path, name):
    write, expected = MASK_FILES[name]
    path = tmp_path / "in" / name
    path.parent.mkdir()
    write(path)
    before = file_hashes(path.parent)
    out = tmp_path / "out"
    out.mkdir()
    answers = _answers(MASK_COMMANDS, path, out)
    assert len(answers) == 1 and expected in answers.pop(), (name, answers)
    assert file_hashes(path.parent) == before  # the input is never touched


# ---------------------------------------------------------------------------------------------- checkpoints
def _set(key: str, value) -> Callable[[dict], None]:
    return lambda c: c.__setitem__(key, value)


def _set_in(keys: tuple[str, ...], value) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        for key in keys[:-1]:
            c = c[key]
        c[keys[-1]] = value

    return change


CHECKPOINTS = {
    "kind-number": (_set("kind", 7), "kind = 7 is not a name"),
    "epoch-text": (_set("epoch", "x"), "epoch = 'x' is not an integer"),
    "step-negative": (_set("step", -1), "step = -1 is not an integer"),
    "model-text": (_set("model", "junk"), "model is not a dict of tensors by name"),
    "model-number-key": (_set_in(("model", 5), torch.ones(1)), "model is not a dict of tensors by name"),
    "mask-float": (_set_in(("model", "layers.0.weight_mask"), torch.rand(16, 784)), "not a 2-D bool mask"),
    "mask-shape": (_set_in(("model", "layers.0.weight"), torch.zeros(3, 3)), "its weight (3, 3)"),
    "config-text": (_set("config", "junk"), "not a dict of named fields"),
    "config-train-list": (_set_in(("config", "train"), []), "config train is list, not a dict"),
    "config-sparsity-text": (_set_in(("config", "train", "sparsity"), "x"), "sparsity = 'x' is not a number"),
    "metrics-text": (_set("metrics", "junk"), "metrics is not a list of records"),
    "metrics-values": (_set("metrics", [{"epoch": 1, "test_acc": "high"}]), "field 'test_acc' = 'high'"),
    "engine-text": (_set("engine", "junk"), "engine is not a dict of named fields"),
    "engine-layers": (_set_in(("engine", "layers"), 5), "engine.layers is not a list of layer names"),
    "engine-history": (_set_in(("engine", "history"), "junk"), "engine.history is not a list of rows"),
    "engine-step": (_set_in(("engine", "step"), -5), "engine.step = -5"),
    "optimizer-lr": (_set_in(("optimizer", "param_groups", 0, "lr"), "x"), "has lr = 'x', not a number"),
    "rng-short": (_set_in(("rng", "torch"), torch.zeros(3, dtype=torch.uint8)), "rng.torch is not a torch RNG"),
    "version": (_set("version", 2), "checkpoint version 2, this dstnet reads 1"),
    "not-dstnet": (lambda c: c.pop("format"), "not a dstnet checkpoint"),
}
RAW_CHECKPOINTS = {
    "text": (b"hello world, not a checkpoint\n", "not a torch zip archive"),  # was `KeyError: 101`
    "empty": (b"", "not a torch zip archive"),
    "truncated-zip": (b"PK\x03\x04" + bytes(200), "truncated or corrupt zip archive"),
}


def _tampered(run: Path, change: Callable[[dict], None]) -> dict:
    ckpt = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    change(ckpt)
    return ckpt


@pytest.mark.parametrize("name", sorted(CHECKPOINTS) + sorted(RAW_CHECKPOINTS))
def test_a_hostile_checkpoint_is_one_line_from_every_reader_and_resume(tiny_run, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for file in ("latest.pt", "best.pt"):  # translate reads best.pt, the others latest.pt
        path = run / "checkpoints" / file
        if name in CHECKPOINTS:
            torch.save(_tampered(tiny_run, CHECKPOINTS[name][0]), path)
        else:
            path.write_bytes(RAW_CHECKPOINTS[name][0])
    expected = (CHECKPOINTS.get(name) or RAW_CHECKPOINTS[name])[1]
    before, empty = file_hashes(run), leftovers(run)
    out = tmp_path / "out"
    out.mkdir()
    answers = _answers(CHECKPOINT_COMMANDS, run / "checkpoints" / "latest.pt", out)
    answers |= _answers(CHECKPOINT_COMMANDS, run, out)  # a run directory reads the same files
    resumed = dstnet("train", "mlp", "--resume", run, "--quiet")
    answers.add(_message(one_line_error(resumed)))
    assert len(answers) == 1 and expected in answers.pop(), (name, answers)
    assert file_hashes(run) == before and leftovers(run) == empty  # nothing rewound, deleted or half-written


def _drop_last_param(c: dict) -> None:
    c["optimizer"]["param_groups"][0]["params"].pop()


#: Checkpoints whose fields are well typed but do not fit the model, optimizer or engine built from their own
#: config: only the object receiving the state can see it (torch raises multi-line errors there).
MISFIT_CHECKPOINTS = {
    "sizes": (_set_in(("config", "train", "sizes"), [784, 20, 16, 10]), "the model does not fit its config"),
    "model-extra": (_set_in(("model", "junk"), torch.zeros(3)), 'Unexpected key(s) in state_dict: "junk"'),
    "optimizer-group": (_drop_last_param, "the optimizer state does not fit its config"),
    "generator": (
        _set_in(("engine", "generator"), torch.zeros(10, dtype=torch.uint8)),
        "the DST engine state does not fit its config",
    ),
    "momentum": (
        _set_in(("optimizer", "state", 0, "momentum_buffer"), torch.zeros(3)),
        "optimizer state 'momentum_buffer' of layer 'layers.0' has shape (3,)",
    ),
    # a dense parameter's buffer: fused SGD indexed it unchecked and crashed the process (red-team finding 3)
    "momentum-not-a-tensor": (
        _set_in(("optimizer", "state", 1, "momentum_buffer"), 3),
        "optimizer state 'momentum_buffer' of parameter 'layers.0.bias' is a int, not a tensor",
    ),
    # the fused SGD kernel takes every momentum buffer of a group or none
    "state-of-one-parameter-missing": (
        lambda c: c["optimizer"]["state"].pop(1),
        "the parameters of a group hold different buffers",
    ),
    "momentum-dense-shape": (
        _set_in(("optimizer", "state", 1, "momentum_buffer"), torch.zeros(3)),
        "optimizer state 'momentum_buffer' of parameter 'layers.0.bias' is torch.float32 (3,)",
    ),
}


@pytest.mark.parametrize("name", sorted(MISFIT_CHECKPOINTS))
def test_a_checkpoint_that_does_not_fit_its_own_config_is_one_line_on_resume(tiny_run, tmp_path, name):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    change, expected = MISFIT_CHECKPOINTS[name]
    torch.save(_tampered(tiny_run, change), run / "checkpoints" / "latest.pt")
    before, empty = file_hashes(run), leftovers(run)
    message = one_line_error(dstnet("train", "mlp", "--resume", run, "--quiet"))
    assert "latest.pt" in message and expected in message, message
    assert file_hashes(run) == before and leftovers(run) == empty


# ---------------------------------------------------------------------------------------------- run directories
RUN_FILES = {
    "config-text": ("config.json", "junk", "config.json: unreadable"),
    "config-list": ("config.json", "[1]", "a JSON list, not an object"),
    "config-train": ("config.json", '{"train": 5}', "config train is int, not a dict"),
    "config-seed": ("config.json", '{"train": {"seed": "x"}}', "seed = 'x' is not an integer"),
    "metrics-text": ("metrics.jsonl", '{"epoch": 1, "test_acc": "high"}\n', "'test_acc' = 'high'"),
    "metrics-epoch": ("metrics.jsonl", '{"epoch": -1}\n', "epoch = -1 is not a non-negative integer"),
    "metrics-deep": ("metrics.jsonl", "[" * 100_000 + "\n", "metrics.jsonl:1: not a JSON object"),
    "summary-list": ("summary.json", "[1]", "summary.json: a JSON list, not an object"),
    "snapshot-text": ("masks/update_00001.npz", "junk", "update_00001.npz: unreadable mask file"),
}
RUN_COMMANDS = {  # what each file is read by
    "config.json": ["analyze", "training", "evolution", "comparison"],
    "metrics.jsonl": ["analyze", "training", "evolution", "comparison"],
    "summary.json": ["comparison"],
    "masks/update_00001.npz": ["analyze", "evolution"],
}


@pytest.mark.parametrize("name", sorted(RUN_FILES))
def test_a_hostile_run_directory_file_is_one_line(tiny_run, tmp_path, name):
    file, content, expected = RUN_FILES[name]
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / file).write_text(content)
    before = file_hashes(run)
    for command in RUN_COMMANDS[file]:
        args = ["analyze", run] if command == "analyze" else ["plot", run, "--kind", command, "-o", tmp_path / "f.png"]
        one_line_error(dstnet(*args), match=expected)
        assert not (tmp_path / "f.png").exists()
    assert file_hashes(run) == before


def test_a_metrics_log_with_bare_nan_from_older_versions_reads_as_null(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    records[0]["test_loss"] = float("nan")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))  # bare NaN
    r = dstnet("analyze", run, "--json", "-")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["kind"] == "rundir"
    assert dstnet("plot", run, "--kind", "training", "-o", tmp_path / "t.png").exit_code == 0


def test_a_checkpoint_cannot_change_the_optimizer_settings_of_the_run(tiny_run, tmp_path):
    """Only the learning rate and the per-parameter state are restored: ``maximize``, a missing ``momentum`` or
    settings torch refuses together (``nesterov`` with dampening) come from the run's configuration instead."""
    from netsci_dst.train.loop import resume

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)

    def change(c):
        group = c["optimizer"]["param_groups"][0]
        group.update(maximize=True, nesterov=True, dampening=0.5, lr=0.0123, foreign=1)
        del group["momentum"]

    torch.save(_tampered(tiny_run, change), run / "checkpoints" / "latest.pt")
    group = resume(run).engine.optimizer.param_groups[0]
    assert (group["maximize"], group["nesterov"], group["dampening"], group["momentum"]) == (False, False, 0, 0.9)
    assert group["lr"] == 0.0123 and "foreign" not in group
