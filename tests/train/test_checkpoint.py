"""Checkpoints: round trip, refusal of truncated/foreign/malicious files, atomic replacement."""

import os
import pickle

import pytest
import torch

from netsci_dst.errors import DstnetError
from netsci_dst.train import checkpoint as ckpt
from netsci_dst.train.checkpoint import load_checkpoint, save_checkpoint


def payload(step=3):
    return {
        "kind": "mlp",
        "epoch": 1,
        "step": step,
        "model": {"0.weight": torch.randn(4, 3), "0.weight_mask": torch.rand(4, 3) > 0.5},
        "optimizer": {"state": {0: {"momentum_buffer": torch.zeros(4, 3)}}, "param_groups": [{"lr": 0.1}]},
        "config": {"method": "chts", "density": 0.05, "sizes": [3, 4, 2]},
        "rng": {"torch": torch.get_rng_state()},
        "history": [{"layer": "0", "removed": 2, "regrown": 2, "overlap": 0.5}],
    }


def test_round_trip(tmp_path):
    src = payload()
    p = save_checkpoint(src, tmp_path / "latest.pt")
    back = load_checkpoint(p)
    assert back["format"] == "dstnet-checkpoint" and back["version"] == 1
    assert back["config"] == src["config"] and back["history"] == src["history"]
    assert back["model"]["0.weight_mask"].dtype == torch.bool
    assert torch.equal(back["rng"]["torch"], src["rng"]["torch"])
    assert torch.equal(back["model"]["0.weight"], src["model"]["0.weight"])


def test_random_bytes_are_called_corrupt(tmp_path):
    p = tmp_path / "noise.pt"
    p.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(DstnetError, match="not a readable checkpoint"):
        load_checkpoint(p)


def test_truncated_file_is_refused(tmp_path):
    p = save_checkpoint(payload(), tmp_path / "c.pt")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DstnetError, match="truncated or corrupt"):
        load_checkpoint(p)


def test_wrong_keys_and_foreign_files_are_refused(tmp_path):
    p = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, p)
    with pytest.raises(DstnetError, match="not a dstnet checkpoint"):
        load_checkpoint(p)
    data = {"format": "dstnet-checkpoint", "version": 1, "kind": "mlp", "epoch": 0, "step": 0, "config": {}}
    torch.save(data, p)
    with pytest.raises(DstnetError, match="lacks model"):
        load_checkpoint(p)
    torch.save({**data, "model": {}, "version": 99}, p)
    with pytest.raises(DstnetError, match="version 99"):
        load_checkpoint(p)
    with pytest.raises(DstnetError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_carrying_code_is_refused_and_not_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "evil.pt"
    torch.save({**payload(), "format": "dstnet-checkpoint", "version": 1, "extra": _Exploit()}, p)
    with pytest.raises(DstnetError, match="refused to load.*asks for posix.system"):
        load_checkpoint(p)
    assert not (tmp_path / "PWNED").exists()
    p.write_bytes(pickle.dumps(_Exploit()))  # a bare (non-zip) pickle
    with pytest.raises(DstnetError):
        load_checkpoint(p)
    assert not (tmp_path / "PWNED").exists()


def test_save_refuses_non_plain_objects(tmp_path):
    with pytest.raises(DstnetError, match="cannot go in a checkpoint"):
        save_checkpoint({**payload(), "config": {"fn": print}}, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    p = save_checkpoint(payload(step=1), tmp_path / "latest.pt")
    before = p.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial garbage")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(payload(step=2), p)
    assert p.read_bytes() == before
    assert [x.name for x in tmp_path.iterdir()] == ["latest.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(p)["step"] == 1


def test_load_checkpoint_of_kind(tmp_path):
    p = save_checkpoint(payload(), tmp_path / "latest.pt")
    assert ckpt.load_checkpoint_of_kind(p, "mlp", "an MLP run")["step"] == 3
    with pytest.raises(DstnetError) as e:
        ckpt.load_checkpoint_of_kind(p, "transformer", "a Transformer run")
    assert str(e.value) == f"{p}: a 'mlp' checkpoint, not a Transformer run"


def test_rundir_rewind_keeps_what_the_checkpoint_holds(tmp_path):
    from netsci_dst.train.rundir import RunDir

    run = RunDir(tmp_path / "run").create()
    for u in range(4):
        run.save_masks(u, {"fc": torch.rand(3, 2) > 0.5}, {"step": u})
        run.append_metrics({"epoch": u, "test_acc": 0.1 * u})
    run.rewind(run.read_metrics()[:2], snapshots=3)
    assert [r["epoch"] for r in run.read_metrics()] == [0, 1]
    assert [p.name for p in run.mask_snapshots()] == [f"update_{u:05d}.npz" for u in range(3)]
