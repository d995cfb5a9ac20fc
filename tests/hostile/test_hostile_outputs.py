"""Output files that would overwrite a training run or the command's own input are refused with one line (exit 2),
before anything is read or computed, and every file of the run is left byte for byte as it was."""

from __future__ import annotations

import shutil

import pytest
from conftest import TINY_TRAIN, dstnet, file_hashes, one_line_error

#: (command before the output option, the option): each writes one file the user names.
WRITERS = {
    "export": (["export", "{run}"], "-o"),
    "analyze --json": (["analyze", "{run}", "--anp"], "--json"),
    "analyze --csv": (["analyze", "{run}", "--anp"], "--csv"),
    "linkpred": (["linkpred", "{run}"], "-o"),
    "generate": (["generate", "bsw", "--layers", "784,16", "--seed", "1"], "-o"),
    "plot": (["plot", "{run}", "--kind", "evolution"], "-o"),
}
#: Files of the run that a write must never replace, each with a suffix some writer accepts.
RUN_FILES = ["checkpoints/latest.pt", "checkpoints/best.pt", "masks/update_00000.npz", "metrics.jsonl", "config.json"]


@pytest.fixture
def run(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    return copy


def _args(writer: str, run, target) -> list[str]:
    head, option = WRITERS[writer]
    return [a.format(run=run) for a in head] + [option, str(target)]


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("victim", RUN_FILES)
def test_no_writer_overwrites_a_file_of_a_run(run, writer, victim):
    before = file_hashes(run)
    line = one_line_error(dstnet(*_args(writer, run, run / victim)))
    assert victim.split("/")[-1] in line
    assert file_hashes(run) == before


@pytest.mark.parametrize("writer", ["generate", "linkpred", "export"])
def test_a_new_file_in_a_runs_masks_or_checkpoints_folder_is_refused(run, writer):
    """A new snapshot name would join the run's topology history; a new .pt its checkpoints."""
    suffix = ".pt" if writer == "export" else ".npz"
    for folder in ("masks", "checkpoints"):
        target = run / folder / f"update_99999{suffix}"
        one_line_error(dstnet(*_args(writer, run, target)), match="training run")
        assert not target.exists()


def test_linkpred_and_analyze_refuse_to_overwrite_their_own_input(tmp_path):
    mask = tmp_path / "mask.npz"
    assert dstnet("generate", "bsw", "--layers", "40,30", "--density", "0.2", "-o", mask).exit_code == 0
    before = mask.read_bytes()
    one_line_error(dstnet("linkpred", mask, "-o", mask), match="is the input")
    # the same file through another name: a symbolic link
    link = tmp_path / "link.npz"
    link.symlink_to(mask)
    one_line_error(dstnet("linkpred", link, "-o", mask), match="is the input")
    assert mask.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "name"), [("--json", "report.txt"), ("--csv", "table.json"), ("--json", "other.npz")]
)
def test_analyze_outputs_need_their_format_suffix(tmp_path, option, name):
    mask = tmp_path / "mask.npz"
    assert dstnet("generate", "bsw", "--layers", "40,30", "--density", "0.2", "-o", mask).exit_code == 0
    other = tmp_path / "other.npz"
    shutil.copy(mask, other)
    one_line_error(dstnet("analyze", mask, "--anp", option, tmp_path / name), match="file name")
    assert other.read_bytes() == mask.read_bytes()


def test_a_users_own_file_in_a_run_directory_may_be_written(run):
    """Only the run's own files are protected: a report beside them is the user's."""
    before = file_hashes(run)
    r = dstnet("analyze", run, "--anp", "--json", run / "analysis.json")
    assert r.exit_code == 0, r.output
    assert (run / "analysis.json").stat().st_size > 0
    after = file_hashes(run)
    after.pop("analysis.json")
    assert after == before


def test_export_of_a_checkpoint_without_tensors_writes_nothing(run, tmp_path):
    import torch

    ckpt = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    ckpt["model"] = {}
    empty = tmp_path / "empty.pt"
    torch.save(ckpt, empty)
    one_line_error(dstnet("export", empty, "-o", tmp_path / "out.pt"), match="holds no model state")
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("name", ["config.json", "summary.json", "evolution.json"])
def test_train_out_refuses_a_folder_holding_the_users_files_of_a_runs_names(tmp_path, name):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / name).write_text('{"mine": 1}')
    one_line_error(dstnet("train", "mlp", *TINY_TRAIN, "--epochs", 1, "--out", folder), match=name)
    assert (folder / name).read_text() == '{"mine": 1}'


@pytest.mark.parametrize("folder", ["checkpoints", "masks"])
def test_train_out_refuses_a_folder_inside_a_run(run, folder):
    before = file_hashes(run)
    one_line_error(dstnet("train", "mlp", *TINY_TRAIN, "--epochs", 1, "--out", run / folder / "nested"), match="inside")
    assert file_hashes(run) == before


def test_a_run_without_its_config_is_still_protected(run):
    (run / "config.json").unlink()
    before = file_hashes(run)
    one_line_error(dstnet("export", run / "checkpoints" / "best.pt", "-o", run / "checkpoints" / "latest.pt"))
    one_line_error(dstnet("export", run / "checkpoints" / "best.pt", "-o", run / "checkpoints" / "sub" / "x.pt"))
    assert file_hashes(run) == before


def test_special_and_looping_output_paths_are_one_line(run, tmp_path):
    import os

    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    one_line_error(dstnet("analyze", run, "--anp", "--json", loop), match="cannot follow")
    pipe = tmp_path / "pipe.json"
    os.mkfifo(pipe)
    one_line_error(dstnet("analyze", run, "--anp", "--json", pipe), match="not a regular file")
    assert pipe.is_fifo()
