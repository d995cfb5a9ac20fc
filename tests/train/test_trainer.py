"""The MLP trainer end to end: run directory, chance-beating accuracy, NaN handling, kill-and-resume identity."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.errors import DstnetError
from netsci_dst.graph import load_npz
from netsci_dst.train.checkpoint import load_checkpoint
from netsci_dst.train.mlp import MLPTrainer, TrainConfig, learning_rate

SMALL = [
    "--sizes",
    "784,128,128,10",
    "--sparsity",
    "0.9",
    "--train-limit",
    "600",
    "--test-limit",
    "300",
    "--batch-size",
    "32",
    "--seed",
    "3",
    "--quiet",
]


def test_train_mlp_chts_one_epoch_on_bundled_data(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main,
        [
            "train",
            "mlp",
            "--method",
            "chts",
            "--epochs",
            "1",
            "--train-limit",
            "1000",
            "--test-limit",
            "500",
            "--out",
            str(out),
            "--quiet",
        ],
        catch_exceptions=False,
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["final_acc"] > 0.5  # chance is 0.1
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    # one epoch has no update (the first is at its end, the optimizer step skipped): EM&S's start, density + 0.05
    assert len(records) == 1 and records[0]["density"] == pytest.approx(0.06, abs=1e-4)
    # the best accuracy counts only after 0.75 of training under EM&S (the authors' run.py), and the last epoch
    assert summary["best_acc"] == summary["final_acc"] and summary["best_after_fraction"] == 0.75
    assert "final test accuracy" in r.output and "(epoch 1 after 0.75 of training)" in r.output
    assert (out / "checkpoints" / "latest.pt").exists() and (out / "checkpoints" / "best.pt").exists()
    first = load_npz(out / "masks" / "update_00000.npz")
    assert [m.shape for m in first] == [(1568, 784), (1568, 1568), (1568, 1568)]
    config = json.loads((out / "config.json").read_text())
    assert config["method"]["density_schedule"] == "ems" and config["train"]["lr"] == 0.025


def _cli(*args):
    return [sys.executable, "-m", "netsci_dst.cli", *args]


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_killed_run_resumes_to_identical_weights_and_masks(tmp_path, backend):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    common = ["train", "mlp", "--method", "chts", "--epochs", "3", "--backend", backend, *SMALL]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(_cli(*common, "--out", str(straight)), check=True, env=env, capture_output=True)

    proc = subprocess.Popen(
        _cli(*common, "--out", str(killed)), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.read_text().count("\n") >= 1:
            proc.send_signal(signal.SIGKILL)  # mid-run, after at least one finished epoch
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    done_before = load_checkpoint(killed / "checkpoints" / "latest.pt")["epoch"]
    assert 1 <= done_before < 3

    p = subprocess.run(
        _cli("train", "mlp", "--resume", str(killed), "--quiet"), env=env, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    a = load_checkpoint(straight / "checkpoints" / "latest.pt")
    b = load_checkpoint(killed / "checkpoints" / "latest.pt")
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"]
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for index, state in a["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][index][key]), (index, key)
    assert a["engine"]["backend"] == b["engine"]["backend"] == backend
    assert [r["test_acc"] for r in a["metrics"]] == [r["test_acc"] for r in b["metrics"]]
    snaps_a = sorted(p.name for p in (straight / "masks").iterdir())
    snaps_b = sorted(p.name for p in (killed / "masks").iterdir())
    assert snaps_a == snaps_b
    for name in snaps_a:
        assert load_npz(straight / "masks" / name).equals(load_npz(killed / "masks" / name))
    assert len((killed / "metrics.jsonl").read_text().splitlines()) == 3


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(
        method="set", sparsity=0.9, sizes=(784, 64, 64, 10), train_limit=200, test_limit=100, epochs=3, progress=False
    )
    trainer = MLPTrainer(cfg, tmp_path / "run")
    trainer.train(stop_after_epoch=1)
    good = (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes()
    layer = trainer.model.layers[0]
    with torch.no_grad():
        layer.bias.fill_(float("nan"))
    with pytest.raises(DstnetError, match="loss became nan at epoch 2"):
        trainer.train()
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes() == good
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["epoch"] == 1


def test_learning_rate_is_linear_from_lr_to_lr_end():
    cfg = TrainConfig(lr=0.025, lr_end=2.5e-4)
    assert learning_rate(cfg, 0, 101) == 0.025
    assert learning_rate(cfg, 100, 101) == pytest.approx(2.5e-4)
    assert learning_rate(cfg, 50, 101) == pytest.approx((0.025 + 2.5e-4) / 2)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resume", "nowhere"], "no checkpoints/latest.pt"),
        (["--set", "zeta"], "KEY=VALUE"),
        (["--set", "no_such_field=1"], "no_such_field"),
        (["--method", "nope"], "nope"),
        (["--sparsity", "1.0"], "sparsity"),
        (["--sizes", "784,a,10"], "--sizes"),
        (["--dataset", "fashion-mnist"], "not bundled"),
        (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--device", "nonsense"], "device"),
    ],
)
def test_train_errors_are_one_line_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    base = [] if "--resume" in args else ["--epochs", "1", "--train-limit", "64"]
    r = CliRunner().invoke(main, ["train", "mlp", *base, *args])
    assert r.exit_code == 2, r.output
    assert message in r.stderr and r.stderr.strip().count("\n") == 0


def test_resume_refuses_new_settings(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "mlp", "--method", "set", "--epochs", "1", *SMALL, "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "mlp", "--resume", str(out), "--epochs", "5"])
    assert r.exit_code == 2 and "drop epochs" in r.stderr
    r = CliRunner().invoke(main, ["train", "mlp", "--method", "set", "--epochs", "1", *SMALL, "--out", str(out)])
    assert r.exit_code == 2 and "already holds a run" in r.stderr


def test_set_overrides_reach_the_method(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main,
        [
            "train",
            "mlp",
            "--method",
            "chts",
            "--epochs",
            "1",
            *SMALL,
            "--out",
            str(out),
            "--set",
            "linkpred=CH3-L3",
            "--set",
            "zeta=0.2",
            "--init",
            "bsw",
            "--beta",
            "0.5",
        ],
    )
    assert r.exit_code == 0, r.output
    method = json.loads((out / "config.json").read_text())["method"]
    assert method["linkpred"] == "CH3-L3" and method["zeta"] == 0.2
    assert method["init_topology"] == "bsw" and method["init_params"]["beta"] == 0.5


def test_methods_lists_recipes_and_shows_one_with_its_source():
    from netsci_dst.dst.methods import RECIPES

    r = CliRunner().invoke(main, ["methods"])
    assert r.exit_code == 0
    lines = r.output.splitlines()
    mlp_at, tf_at, llm_at = (
        lines.index(next(x for x in lines if x.startswith(title))) for title in ("MLP", "Transformer", "LLM")
    )
    blocks = (("mlp", lines[mlp_at:tf_at]), ("transformer", lines[tf_at:llm_at]), ("llm", lines[llm_at:]))
    for family, block in blocks:
        for name, recipe in RECIPES[family].items():
            assert any(line.split()[:2] == [name, recipe.origin] for line in block if line.strip()), (family, name)
    r = CliRunner().invoke(main, ["methods", "chtss"])
    assert r.exit_code == 0 and r.output.count("chtss (") == 3  # the MLP, Transformer and LLM recipes
    assert "density_schedule" in r.output and "sigmoid" in r.output and "source:" in r.output
    r = CliRunner().invoke(main, ["methods", "chts", "--family", "mlp"])
    assert "d1677b55a42c7b10be777ea9ab64dab4bdf35626" in r.output and "ems" in r.output
    assert "(transformer" not in r.output
    r = CliRunner().invoke(main, ["methods", "chts-paper", "--family", "transformer"])
    assert r.exit_code == 2 and "unknown method" in r.output
    from netsci_dst.cli.train import FAMILY_COMMANDS

    from netsci_dst.dst.methods import FAMILIES

    assert tuple(FAMILY_COMMANDS) == FAMILIES
    r = CliRunner().invoke(main, ["methods", "nope"])
    assert r.exit_code == 2


def test_snapshots_follow_updates(tmp_path):
    cfg = TrainConfig(
        method="set", sparsity=0.9, sizes=(784, 64, 64, 10), train_limit=320, test_limit=64, epochs=3, progress=False
    )
    trainer = MLPTrainer(cfg, tmp_path / "run")
    trainer.train()
    snaps = sorted((tmp_path / "run" / "masks").glob("update_*.npz"))
    assert len(snaps) == 1 + trainer.engine.n_updates == 3  # initial + one per epoch boundary (not after the last)
    m0, m1 = load_npz(snaps[0]), load_npz(snaps[1])
    assert all(a.sum() == b.sum() for a, b in zip(m0, m1, strict=True))  # SET keeps density
    assert any(not np.array_equal(a, b) for a, b in zip(m0, m1, strict=True))  # ...and changes links


# ---------------------------------------------------------------------------------------------------------------
# the authors' learning-rate schedule and best-accuracy convention
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("epochs", [1, 5, 30, 100])
def test_learning_rate_is_torchs_linearlr_stepped_per_epoch(epochs):
    # run.py: LinearLR(optimizer, start_factor=1, end_factor=0.01, total_iters=int(epochs * 0.9)), stepped per epoch
    from netsci_dst.train.mlp import learning_rate

    cfg = TrainConfig(epochs=epochs, lr=0.025, lr_end=2.5e-4)
    per_epoch = 7
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.025)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=1, end_factor=0.01, total_iters=int(epochs * 0.9))
    for epoch in range(epochs):
        expected = opt.param_groups[0]["lr"]
        for b in (0, per_epoch - 1):
            assert learning_rate(cfg, epoch * per_epoch + b, epochs * per_epoch) == pytest.approx(expected, rel=1e-12)
        opt.step()
        sched.step()


def test_legacy_runs_keep_the_per_step_schedule():
    from netsci_dst.train.mlp import learning_rate

    cfg = TrainConfig.from_dict({k: v for k, v in TrainConfig(epochs=3).to_dict().items() if k != "lr_decay_fraction"})
    assert cfg.lr_decay_fraction is None
    assert learning_rate(cfg, 0, 11) == 0.025 and learning_rate(cfg, 10, 11) == pytest.approx(2.5e-4, rel=1e-12)
    assert learning_rate(cfg, 5, 11) == pytest.approx((0.025 + 2.5e-4) / 2, rel=1e-12)


@pytest.mark.parametrize("method,eligible", [("chts", [7]), ("chts-paper", list(range(8)))])
def test_best_accuracy_counts_after_the_recipes_fraction(tmp_path, method, eligible):
    """run.py line 234: under EM&S the best is recorded only for epochs > 0.75 * epochs (0-based: 7 of 8)."""
    # (with 8 epochs the authors' rule and the last-epoch rule agree; see test_short_runs_count_their_last_epoch)
    cfg = TrainConfig(method=method, epochs=8, sizes=(784, 32, 32, 10), train_limit=64, test_limit=32, progress=False)
    trainer = MLPTrainer(cfg, tmp_path / "run")
    accs = [0.5, 0.9, 0.8, 0.7, 0.6, 0.65, 0.7, 0.75]
    trainer.records = [{"test_acc": a, "anp": 1.0} for a in accs]
    assert [e for e in range(8) if trainer.task.epoch_counts_for_best(e)] == eligible
    summary = trainer.summary()
    best = max(accs[e] for e in eligible)
    assert summary["best_acc"] == best and summary["best_epoch"] == accs.index(best) + 1
    assert summary["final_acc"] == 0.75 and summary["aae"] == pytest.approx(sum(accs) / 8)


def test_short_runs_count_their_last_epoch(tmp_path):
    cfg = TrainConfig(method="chts", epochs=4, sizes=(784, 32, 32, 10), train_limit=64, test_limit=32, progress=False)
    trainer = MLPTrainer(cfg, tmp_path / "run")
    # the authors' rule (epoch > 3) leaves no epoch of 4; dstnet counts the last one
    assert [e for e in range(4) if trainer.task.epoch_counts_for_best(e)] == [3]
    cfg = TrainConfig(method="chts", epochs=100, sizes=(784, 32, 32, 10), train_limit=64, test_limit=32, progress=False)
    trainer = MLPTrainer(cfg, tmp_path / "run100")
    assert [e for e in range(100) if trainer.task.epoch_counts_for_best(e)] == list(
        range(76, 100)
    )  # exactly run.py's rule


@pytest.mark.parametrize(
    "text,value",
    [("False", False), ("false", False), ("TRUE", True), ("None", None), ("0.25", 0.25), ("3", 3), ("bsw", "bsw")],
)
def test_set_values_read_as_json_or_python_words(text, value):
    from cli.train import _parse_overrides

    assert _parse_overrides((f"skip-step-on-update={text}",)) == {"skip_step_on_update": value}


def test_set_false_turns_a_recipe_field_off(tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(
        main,
        ["train", "mlp", "--method", "set", "--epochs", "1", "--sizes", "784,32,32,10", "--train-limit", "64",
         "--test-limit", "32", "--set", "skip_step_on_update=False", "--quiet", "--out", str(out)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["method"]["skip_step_on_update"] is False


def test_resume_may_switch_the_backend(tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(
        method="set", sparsity=0.9, sizes=(784, 64, 64, 10), train_limit=200, test_limit=100, epochs=2, progress=False
    )
    assert cfg.backend == "auto"
    first = MLPTrainer(dataclasses.replace(cfg, backend="dense"), out)
    first.train(stop_after_epoch=1)
    r = CliRunner().invoke(main, ["train", "mlp", "--resume", str(out), "--backend", "sparse", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "at epoch 1/2 (sparse backend)" in r.output
    ckpt = load_checkpoint(out / "checkpoints" / "latest.pt")
    assert (
        ckpt["epoch"] == 2 and ckpt["engine"]["backend"] == "sparse" and ckpt["config"]["train"]["backend"] == "sparse"
    )
    r = CliRunner().invoke(main, ["train", "mlp", "--resume", str(out), "--epochs", "3"])
    assert r.exit_code == 2 and "drop epochs" in r.output


def test_metrics_are_strict_json_even_when_a_loss_diverges(tmp_path):
    from netsci_dst.train.rundir import RunDir, finite_or_none

    assert finite_or_none({"a": float("nan"), "b": [1.0, float("inf")], "c": np.float32("nan"), "d": 2}) == {
        "a": None, "b": [1.0, None], "c": None, "d": 2,
    }  # fmt: skip
    run = RunDir(tmp_path / "run")
    run.create()
    run.append_metrics({"epoch": 1, "train_loss": float("nan"), "test_acc": 0.1})
    line = (tmp_path / "run" / "metrics.jsonl").read_text().strip()
    assert line == '{"epoch": 1, "train_loss": null, "test_acc": 0.1}'
    json.loads(line)  # strict parsers too


@pytest.mark.parametrize("limit", [0, -5])
def test_sample_limits_below_one_are_refused(limit):
    with pytest.raises(DstnetError, match="train-limit must be a positive number of samples"):
        TrainConfig(train_limit=limit)
    r = CliRunner().invoke(main, ["train", "mlp", "--test-limit", str(limit), "--epochs", "1"])
    assert r.exit_code == 2 and "test-limit must be a positive number" in r.output


def _tiny_cfg(**changes):
    base = dict(method="set", sparsity=0.9, sizes=(784, 32, 32, 10), train_limit=100, test_limit=50, epochs=1)
    return TrainConfig(progress=False, **{**base, **changes})


def test_a_run_directory_in_use_is_refused_until_released(tmp_path):
    from netsci_dst.train.rundir import RunDir

    out = tmp_path / "run"
    holder = RunDir(out)
    holder.lock()  # another process would hold it like this
    with pytest.raises(DstnetError, match=rf"in use by another dstnet process \(pid {os.getpid()}\)"):
        MLPTrainer(_tiny_cfg(), out).train()
    assert not (out / "metrics.jsonl").exists()  # nothing was written
    holder.unlock()
    summary = MLPTrainer(_tiny_cfg(), out).train()
    assert summary["final_acc"] >= 0 and (out / "checkpoints" / "latest.pt").exists()


def test_a_new_run_refuses_another_runs_leftovers(tmp_path):
    out = tmp_path / "run"
    MLPTrainer(_tiny_cfg(), out).train()
    (out / "checkpoints" / "latest.pt").unlink()  # a run whose checkpoints were deleted, metrics and masks left
    (out / "checkpoints" / "best.pt").unlink()
    before = (out / "metrics.jsonl").read_text()
    r = CliRunner().invoke(
        main, ["train", "mlp", "--method", "set", "--sizes", "784,32,32,10", "--train-limit", "100", "--epochs", "1",
               "--out", str(out), "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 2 and "already holds summary.json, metrics.jsonl, masks/update_*.npz" in r.output
    assert (out / "metrics.jsonl").read_text() == before  # nothing appended


def test_latest_checkpoint_is_written_last_so_a_kill_never_leaves_best_behind(tmp_path, monkeypatch):
    import netsci_dst.train.loop as trainer_module

    written = []
    real = trainer_module.save_checkpoint
    monkeypatch.setattr(
        trainer_module, "save_checkpoint", lambda state, path: written.append(path.name) or real(state, path)
    )
    MLPTrainer(_tiny_cfg(save_every=1), tmp_path / "run").train()
    assert written == ["best.pt", "epoch_0001.pt", "latest.pt"]


def test_ctrl_c_is_one_line_and_exit_130_and_an_empty_resume_is_refused(monkeypatch):
    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MLPTrainer, "train", interrupted)
    r = CliRunner().invoke(main, ["train", "mlp", "--train-limit", "50", "--test-limit", "20", "--quiet"])
    assert r.exit_code == 130 and r.output.strip().splitlines()[-1] == "Interrupted."
    r = CliRunner().invoke(main, ["train", "mlp", "--resume", ""])
    assert r.exit_code == 2 and "--resume needs the run directory" in r.output


@pytest.mark.parametrize(
    "key,value,message",
    [
        ("epoch", -3, "epoch = -3 is not an integer in"),
        ("snapshots", -1, "snapshots = -1"),
        ("step", 10**9, "step = 1000000000"),
        ("metrics", "junk", "metrics is not a list of records"),
        ("best_acc", 7.0, "best_acc = 7.0 is not in [0.0, 1.0]"),
    ],
)
def test_a_tampered_checkpoint_is_refused_before_it_steers_the_run(tmp_path, key, value, message):
    out = tmp_path / "run"
    MLPTrainer(_tiny_cfg(epochs=2), out).train(stop_after_epoch=1)
    path = out / "checkpoints" / "latest.pt"
    ckpt = load_checkpoint(path)
    ckpt[key] = value
    torch.save(ckpt, path)
    snapshots = sorted(p.name for p in (out / "masks").iterdir())
    r = CliRunner().invoke(main, ["train", "mlp", "--resume", str(out), "--quiet"])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in (out / "masks").iterdir()) == snapshots  # nothing deleted


def test_a_relative_data_folder_is_stored_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "digits").mkdir()
    cfg = TrainConfig(data_dir="digits")
    assert cfg.data_dir == str(tmp_path / "digits") and TrainConfig.from_dict(cfg.to_dict()).data_dir == cfg.data_dir


@pytest.mark.parametrize("device,message", [("meta", "trains on cpu, cuda, mps or xpu"), ("bogus", "unknown device")])
def test_devices_that_cannot_train_are_one_line_errors(device, message):
    from netsci_dst.train.settings import pick_device

    with pytest.raises(DstnetError, match=message):
        pick_device(device)
    assert pick_device("cpu").type == "cpu"
    for name in ("mps", "xpu", "cuda:7"):
        try:
            dev = pick_device(name)
        except DstnetError as e:
            assert "is not available here" in str(e)
        else:  # a machine that has it
            assert dev.type == name.split(":")[0]


@pytest.mark.parametrize("seed", ["-1", "4294967296", "99999999999999999999999"])
def test_seeds_out_of_range_are_refused_before_the_run_directory_exists(tmp_path, seed):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "mlp", "--seed", seed, "--train-limit", "50", "--out", str(out)])
    assert r.exit_code == 2 and "seed must be an integer in [0, 2**32)" in r.output and not out.exists()
