"""Faults and environments (issue 17 items 1 and 3): a full disk in training and in every output, a write that
fails half-way, file names at the length limit, stale temporary files, a second process on one run directory,
Ctrl-C, devices that cannot train.

A full disk is simulated where every dstnet write meets the disk: ``os.fsync`` (``netsci_dst.fileio`` flushes each
temporary file before renaming it into place) and ``torch.save`` (the checkpoint writer) raise
``OSError(ENOSPC)``; a real half-way write failure comes from a file-size limit (``RLIMIT_FSIZE``) in a child
process.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_TRAIN, dstnet, file_hashes, leftovers, one_line_error, seconds

from netsci_dst.graph import LayerStack, save
from netsci_dst.train.checkpoint import load_checkpoint


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def stack_file(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    return save(LayerStack([rng.random((30, 40)) < 0.2, rng.random((20, 30)) < 0.2]), tmp_path / "in" / "stack.npz")


@pytest.fixture(autouse=True)
def _input_folder(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()


GENERATE = ["generate", "er", "--n-in", 400, "--n-out", 300, "--density", 0.1]
OUTPUTS = {  # command (FILE: an input stack, RUN: a run directory, OUT/: the output folder), the file it writes
    "generate-npz": ([*GENERATE, "-o", "OUT/topo.npz"], "topo.npz"),
    "generate-edges": ([*GENERATE, "-o", "OUT/topo.edges"], "topo.edges"),
    "generate-graphml": ([*GENERATE, "-o", "OUT/topo.graphml"], "topo.graphml"),
    "analyze-json": (["analyze", "FILE", "--all", "--json", "OUT/analysis.json"], "analysis.json"),
    "analyze-csv": (["analyze", "RUN", "--all", "--csv", "OUT/evolution.csv"], "evolution.csv"),
    "linkpred-o": (["linkpred", "FILE", "-o", "OUT/scores.npz"], "scores.npz"),
    "plot": (["plot", "FILE", "--kind", "degree", "-o", "OUT/degree.png"], "degree.png"),
    "plot-run": (["plot", "RUN", "--kind", "training", "-o", "OUT/training.pdf"], "training.pdf"),
}


def _args(command: list, tmp_path: Path, stack_file: Path, run: Path) -> list[str]:
    """``command`` with FILE, RUN and OUT/ filled in."""
    named = {"FILE": str(stack_file), "RUN": str(run)}
    return [named.get(str(a), str(a).replace("OUT/", f"{tmp_path / 'out'}/")) for a in command]


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_a_full_disk_leaves_the_old_output_and_no_temporary_file(tmp_path, stack_file, tiny_run, monkeypatch, name):
    command, written = OUTPUTS[name]
    target = tmp_path / "out" / written
    target.write_bytes(b"the previous output")
    monkeypatch.setattr(os, "fsync", _disk_full)
    one_line_error(dstnet(*_args(command, tmp_path, stack_file, tiny_run)), match="No space left on device")
    assert target.read_bytes() == b"the previous output"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [written]  # no temporary file, no other file
    monkeypatch.undo()  # space returns: the same command now writes the output
    r = dstnet(*_args(command, tmp_path, stack_file, tiny_run))
    assert r.exit_code == 0, r.output
    assert target.read_bytes() != b"the previous output" and not leftovers(tmp_path / "out")


_DRIVER = textwrap.dedent(
    """
    import json, resource, signal, sys
    import matplotlib.font_manager  # its cache is read before files are limited
    from click.testing import CliRunner
    from netsci_dst.cli import main
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))
    for args in json.loads(sys.argv[1]):
        r = CliRunner().invoke(main, args)
        print(json.dumps({"args": args, "code": r.exit_code, "stderr": r.stderr, "stdout": r.stdout}), flush=True)
    """
)


@seconds(60)
def test_a_write_that_fails_half_way_leaves_no_partial_file(tmp_path, stack_file, tiny_run):
    """A child process may write at most 512 bytes per file (RLIMIT_FSIZE; the kernel fails the write that passes it,
    with EFBIG): every output is bigger, so each write fails half-way through."""
    pytest.importorskip("resource")
    commands = [_args(c, tmp_path, stack_file, tiny_run) for c, _ in OUTPUTS.values()]
    child = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(commands)],
        capture_output=True,
        text=True,
        timeout=55,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert child.returncode == 0, child.stderr
    results = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(results) == len(commands)
    for r in results:
        lines = r["stderr"].splitlines()
        assert r["code"] == 2 and len(lines) == 1 and "File too large" in lines[0], r
        assert "Traceback" not in r["stderr"] + r["stdout"]
    assert not any((tmp_path / "out").iterdir())  # no partial output, no temporary file


def test_output_names_at_the_file_name_limit_are_written(tmp_path, stack_file):
    """The temporary name does not grow with the target's: a 255-byte name (the usual limit) still works."""
    out = tmp_path / "out"
    names = {"json": "j" * 250 + ".json", "npz": "n" * 251 + ".npz", "png": "p" * 251 + ".png"}
    assert dstnet("analyze", stack_file, "--json", out / names["json"]).exit_code == 0
    assert dstnet("generate", "er", "--n-in", 9, "--n-out", 9, "-o", out / names["npz"]).exit_code == 0
    assert dstnet("plot", stack_file, "--kind", "degree", "-o", out / names["png"]).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())
    one_line_error(dstnet("generate", "er", "--n-in", 9, "--n-out", 9, "-o", out / ("x" * 300 + ".npz")))
    assert sorted(p.name for p in out.iterdir()) == sorted(names.values())


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_block_neither_analyze_nor_plot_and_the_next_owner_removes_them(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    clean_json = dstnet("analyze", tiny_run, "--json", "-").stdout
    dead = _dead_pid()
    stale = [
        f"masks/.dstnet-{dead}-0badf00d.tmp.npz",  # a killed snapshot write
        f"checkpoints/.dstnet-{dead}-0badf00d.tmp",  # a killed checkpoint write
        f".dstnet-{dead}-0badf00d.tmp",  # a killed metrics or config write
        "masks/update_00001.npz.tmp.npz",  # the temporary name of older versions
        "checkpoints/latest.pt.tmp",
    ]
    for name in stale:
        (run / name).write_bytes(b"half")
    r = dstnet("analyze", run, "--json", "-")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["evolution"] == json.loads(clean_json)["evolution"]  # the same snapshots
    for kind in ("evolution", "training"):
        assert dstnet("plot", run, "--kind", kind, "-o", tmp_path / f"{kind}.png").exit_code == 0
    r = dstnet("train", "mlp", "--resume", run, "--quiet")  # the owner cleans up
    assert r.exit_code == 0, r.output
    assert [n for n in stale if (run / n).exists()] == stale[3:]  # only dstnet's own names of dead writers


@seconds(40)
def test_a_second_process_on_one_run_directory_is_refused(tiny_run, tmp_path):
    """Across processes (the in-process case: tests/train/test_trainer.py,
    test_a_run_directory_in_use_is_refused_until_released): neither a resume nor a new run touches a run directory
    that another process holds."""
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    shutil.copytree(tiny_run, run)
    shutil.copy(run / "masks" / "update_00001.npz", run / "masks" / "update_00009.npz")  # a resume would delete it
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom netsci_dst.train.rundir import RunDir\n"
         f"RunDir({str(run)!r}).lock()\nRunDir({str(fresh)!r}).lock()\nprint('locked', flush=True)\ntime.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = file_hashes(run)
        in_use = f"in use by another dstnet process (pid {holder.pid})"
        one_line_error(dstnet("train", "mlp", "--resume", run, "--quiet"), match=in_use)
        one_line_error(dstnet("train", "mlp", *TINY_TRAIN, "--out", fresh), match=in_use)
        assert file_hashes(run) == before and not leftovers(run)
        assert [p.name for p in fresh.rglob("*") if p.is_file()] == [".lock"]
    finally:
        holder.kill()
        holder.wait()
    assert dstnet("train", "mlp", "--resume", run, "--quiet").exit_code == 0  # released with its process
    assert not (run / "masks" / "update_00009.npz").exists()


@seconds(60)
def test_a_full_disk_in_training_stops_with_one_line_and_resumes_bit_identically(tmp_path, monkeypatch):
    """ENOSPC at the first checkpoint write of epoch 2 (torch.save, as save_checkpoint calls it): one line, exit 2,
    epoch 1's checkpoint intact and no temporary file; once space returns, --resume ends with the weights, masks
    and metrics of a run that never failed."""
    common = ["train", "mlp", *TINY_TRAIN, "--epochs", 3]
    straight, failed = tmp_path / "straight", tmp_path / "failed"
    assert dstnet(*common, "--out", straight).exit_code == 0

    real_save = torch.save

    def save_until_full(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            f.write(b"the first bytes")
            _disk_full()
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save_until_full)
    one_line_error(dstnet(*common, "--out", failed), match="No space left on device")
    monkeypatch.undo()
    assert not leftovers(failed)
    assert load_checkpoint(failed / "checkpoints" / "latest.pt")["epoch"] == 1

    r = dstnet("train", "mlp", "--resume", failed, "--quiet")
    assert r.exit_code == 0, r.output
    a = load_checkpoint(straight / "checkpoints" / "latest.pt")
    b = load_checkpoint(failed / "checkpoints" / "latest.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert (straight / "metrics.jsonl").read_text().count("\n") == (failed / "metrics.jsonl").read_text().count("\n")
    assert [r["test_acc"] for r in a["metrics"]] == [r["test_acc"] for r in b["metrics"]]
    assert sorted(p.name for p in (failed / "masks").iterdir()) == sorted(
        p.name for p in (straight / "masks").iterdir()
    )


@seconds(60)
def test_a_failure_between_the_first_best_and_the_first_latest_checkpoint_resumes_from_best(tmp_path, monkeypatch):
    """The first evaluation writes best.pt, then latest.pt (the commit). A failure in between leaves a run with
    best.pt only: a new run into it is refused (it would mix two runs), and --resume continues from best.pt (the
    whole state of that evaluation) to the weights and metrics of a run that never failed."""
    common = ["train", "mlp", *TINY_TRAIN, "--epochs", 2]
    straight, failed = tmp_path / "straight", tmp_path / "failed"
    assert dstnet(*common, "--out", straight).exit_code == 0

    real_save, first_epoch_saves = torch.save, []

    def fail_at_first_latest(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            first_epoch_saves.append(1)
            if len(first_epoch_saves) == 2:  # best.pt is written, latest.pt is next
                _disk_full()
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", fail_at_first_latest)
    one_line_error(dstnet(*common, "--out", failed), match="No space left on device")
    monkeypatch.undo()
    assert sorted(p.name for p in (failed / "checkpoints").iterdir()) == ["best.pt"] and not leftovers(failed)

    one_line_error(dstnet(*common, "--out", failed), match="already holds a run: use --resume")
    r = dstnet("train", "mlp", "--resume", failed, "--quiet")
    assert r.exit_code == 0, r.output
    a = load_checkpoint(straight / "checkpoints" / "latest.pt")
    b = load_checkpoint(failed / "checkpoints" / "latest.pt")
    assert a["epoch"] == b["epoch"] == 2
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert (straight / "metrics.jsonl").read_text().count("\n") == (failed / "metrics.jsonl").read_text().count("\n")
    assert [r["test_acc"] for r in a["metrics"]] == [r["test_acc"] for r in b["metrics"]]


@seconds(60)
def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path):
    out = tmp_path / "run"
    child = subprocess.Popen(
        [sys.executable, "-m", "netsci_dst.cli", "train", "mlp", *TINY_TRAIN, "--epochs", "1000", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout.readline().startswith("training ")
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=50)
    assert child.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "Interrupted." and "Traceback" not in stderr
    assert not leftovers(out)


@pytest.mark.parametrize("device", ["meta", "xpu", "mps", "cuda:7", "tpu"])
def test_a_device_that_cannot_train_is_one_line_before_the_run_directory(tmp_path, device):
    r = dstnet("train", "mlp", *TINY_TRAIN, "--device", device, "--out", tmp_path / "run")
    if r.exit_code == 0:  # a machine that has it
        return
    one_line_error(r)
    assert not (tmp_path / "run").exists()


def test_a_run_whose_latest_checkpoint_was_deleted_is_not_rewound_to_best(tiny_run, tmp_path):
    """Only a kill before the first latest.pt leaves best.pt alone; when the run went on past best.pt (its metrics
    log more evaluations), resuming from best.pt would discard them: refused, and nothing is rewound."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    best = load_checkpoint(run / "checkpoints" / "best.pt")
    (run / "checkpoints" / "latest.pt").unlink()
    if len(best["metrics"]) >= 2:  # the tiny run's best is its last epoch: make best.pt an older state
        best["metrics"], best["epoch"] = best["metrics"][:1], 1
        torch.save(best, run / "checkpoints" / "best.pt")
    before = file_hashes(run)
    one_line_error(dstnet("train", "mlp", "--resume", run, "--quiet"), match="run went on past best.pt")
    assert file_hashes(run) == before
