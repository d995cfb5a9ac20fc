"""Multi-process training (torch.distributed, gloo on the CPU): the same run as one process, and safe to kill."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from netsci_dst.train.checkpoint import load_checkpoint

pytestmark = pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")

ARGS = ["train", "mlp", "--method", "set", "--sizes", "784,64,64,10", "--sparsity", "0.9", "--train-limit", "640",
        "--test-limit", "200", "--seed", "1", "--backend", "dense", "--quiet"]  # fmt: skip


def dstnet(*args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "netsci_dst.cli", *args], capture_output=True, text=True, env=env, **kwargs
    )


def model_state(run: Path):
    return load_checkpoint(run / "checkpoints" / "latest.pt")["model"]


def assert_same_run(a, b, atol=1e-6):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype == torch.bool:
            assert torch.equal(a[key], b[key]), key  # the topology: exactly the same
        else:
            assert torch.allclose(a[key], b[key], atol=atol, rtol=0), (key, (a[key] - b[key]).abs().max())


@pytest.mark.parametrize(
    "changes",
    [
        [],  # the global batch of 32 split 16 + 16
        ["--batch-size", "3", "--train-limit", "61"],  # 2 + 1 rows, and a last batch of 1 row: one rank gets none
        ["--method", "rigl", "--backend", "sparse"],  # the sparse backend's captured dense gradients are averaged
        # CHTss decays from density 0.5 to 0.05: "auto" turns sparse mid-run, on every rank at the same update
        ["--method", "chtss", "--backend", "auto", "--sparsity", "0.95", "--set", "update_interval=5"],
    ],
    ids=["even", "uneven", "sparse-rigl", "auto-turn"],
)
def test_two_processes_train_the_run_one_process_trains(tmp_path, changes):
    args = [*ARGS, *changes, "--epochs", "2"]
    one = dstnet(*args, "--out", str(tmp_path / "one"))
    two = dstnet(*args, "--out", str(tmp_path / "two"), "--nproc", "2")
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("done:") == 1 and "differed from rank 0" not in two.stderr  # rank 0 alone speaks
    a, b = model_state(tmp_path / "one"), model_state(tmp_path / "two")
    assert_same_run(a, b)  # equal up to float summation order; the topology exactly
    ckpt = load_checkpoint(tmp_path / "two" / "checkpoints" / "latest.pt")
    assert ckpt["engine"]["n_updates"] >= 1 and ckpt["epoch"] == 2
    if "auto" in changes:
        assert ckpt["engine"]["backend"] == "sparse"
        assert ckpt["engine"]["history"][0]["density"] > 0.1  # it started dense and turned on the way


def _children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc to find the rank processes")
def test_a_killed_rank_leaves_the_last_checkpoint_intact_and_the_run_resumes(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = subprocess.Popen(
        [sys.executable, "-m", "netsci_dst.cli", *ARGS, "--epochs", "30", "--out", str(run), "--nproc", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    latest = run / "checkpoints" / "latest.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not (latest.exists() and load_checkpoint(latest)["epoch"] >= 2):
        time.sleep(0.2)
    assert latest.exists(), "no checkpoint written in time"
    torchrun = _children(launcher.pid)
    ranks = [c for p in torchrun for c in _children(p)]
    assert len(ranks) == 2, (torchrun, ranks)
    os.kill(ranks[-1], signal.SIGKILL)  # one rank dies mid-epoch
    launcher.wait(timeout=120)
    ckpt = load_checkpoint(latest)  # intact: written atomically by rank 0
    assert 2 <= ckpt["epoch"] < 30
    # resume with another number of processes: the checkpoint holds the global state
    resumed = dstnet("train", "mlp", "--resume", str(run), "--quiet", timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert load_checkpoint(latest)["epoch"] == 30


def test_the_transformer_trains_under_two_processes_and_rank_0_reports_the_test_bleu(tmp_path):
    r = dstnet("train", "transformer", "--preset", "tiny", "--steps", "20", "--eval-every", "10", "--train-limit",
               "200", "--val-limit", "20", "--test-limit", "20", "--nproc", "2", "--out", str(tmp_path / "tf"),
               "--quiet")  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.count("done:") == 1 and "test BLEU" in r.stdout
    assert load_checkpoint(tmp_path / "tf" / "checkpoints" / "latest.pt")["step"] == 20
