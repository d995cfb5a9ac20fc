"""netsci_dst.outputs: which files a command may write."""

from __future__ import annotations

import pytest

from netsci_dst.errors import DstnetError
from netsci_dst.outputs import check_output_path, is_run_directory, run_owning


@pytest.fixture
def run(tmp_path):
    """A kept run's layout (config.json beside metrics.jsonl) and a training run's (with checkpoints/)."""
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "config.json").write_text("{}")
    (kept / "metrics.jsonl").write_text("")
    live = tmp_path / "live"
    (live / "checkpoints").mkdir(parents=True)
    (live / "config.json").write_text("{}")
    return kept, live


def test_a_run_directory_needs_its_config_and_a_log_or_checkpoints(tmp_path, run):
    kept, live = run
    assert is_run_directory(kept) and is_run_directory(live)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "config.json").write_text("{}")  # a config alone is any tool's folder
    assert not is_run_directory(tmp_path / "plain")
    assert not is_run_directory(tmp_path)


@pytest.mark.parametrize(
    ("relative", "owner"),
    [
        ("live/checkpoints/latest.pt", "live"),
        ("live/checkpoints/new.pt", "live"),
        ("live/masks/update_00003.npz", "live"),  # the folder need not exist yet
        ("live/config.json", "live"),
        ("kept/summary.json", "kept"),
        ("kept/evolution.json", "kept"),
        ("kept/analysis.json", None),
        ("live/plots/masks.png", None),
        ("kept/sub/checkpoints/x.pt", None),
    ],
)
def test_run_owning_names_the_run_a_file_belongs_to(tmp_path, run, relative, owner):
    found = run_owning(tmp_path / relative)
    assert found == (None if owner is None else (tmp_path / owner).resolve())


def test_check_output_path_refusals(tmp_path, run):
    _, live = run
    (tmp_path / "in.npz").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    with pytest.raises(DstnetError, match="is a folder"):
        check_output_path(tmp_path, "-o")
    with pytest.raises(DstnetError, match="does not exist"):
        check_output_path(tmp_path / "no" / "f.npz", "-o")
    with pytest.raises(DstnetError, match=r"-o f\.txt: use a \.png, \.svg or \.pdf file name"):
        check_output_path("f.txt", "-o", suffixes=(".png", ".svg", ".pdf"))
    with pytest.raises(DstnetError, match="is the input"):
        check_output_path(tmp_path / "sub" / ".." / "in.npz", "-o", inputs=[tmp_path / "in.npz"])
    with pytest.raises(DstnetError, match="training run"):
        check_output_path(live / "checkpoints" / "best.pt", "-o")
    assert check_output_path(tmp_path / "OUT.PNG", "-o", suffixes=(".png",)) == tmp_path / "OUT.PNG"
