"""The one trainer (netsci_dst.train.loop) on a task written in the test: a new model is one Task subclass."""

import dataclasses
import json
import math

import click
import pytest
import torch
from click.testing import CliRunner
from netsci_dst.cli import main
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.errors import DstnetError
from netsci_dst.train import loop
from netsci_dst.train.checkpoint import load_checkpoint
from netsci_dst.train.configs import TrainConfig, TransformerConfig, default
from netsci_dst.train.loop import Task, Trainer, register_task


@dataclasses.dataclass
class ToyConfig:
    seed: int = 0
    epochs: int = 3
    nan_at_evaluation: int = 0  # evaluation number (1-based) whose loss is NaN; 0: never
    progress: bool = False
    snapshot_masks: bool = True


class ToyTask(Task):
    """Regression of a fixed random linear map by a 16-32-32-4 MLP at 75% sparsity, SET every 5 steps."""

    kind = "toy"
    best_metric = "neg_loss"
    best_key = "best_neg_loss"
    best_range = (-math.inf, 0.0)

    def __init__(self, cfg: ToyConfig) -> None:
        self.cfg = cfg
        self.device = torch.device("cpu")
        gen = torch.Generator().manual_seed(99)
        self.x = torch.randn(64, 16, generator=gen)
        self.y = self.x @ torch.randn(16, 4, generator=gen)
        torch.manual_seed(cfg.seed)
        self.model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.total_steps = 8 * cfg.epochs
        self.engine = DSTEngine(
            self.model, self.optimizer, "set", density=0.25, total_steps=self.total_steps, update_interval=5,
            sparse_layers=["0", "2"], seed=cfg.seed, backend="dense",
        )  # fmt: skip
        self.method = self.engine.config
        self.evaluations = 0

    @classmethod
    def from_checkpoint(cls, ckpt, **changes):
        return cls(ToyConfig(**{**ckpt["config"], **changes}))

    def config_dict(self):
        return dataclasses.asdict(self.cfg)

    def epoch_batches(self, epoch):
        gen = torch.Generator().manual_seed(self.cfg.seed * 1000 + epoch)
        return list(torch.randperm(len(self.x), generator=gen).split(8))

    def loss(self, batch):
        return nn.functional.mse_loss(self.model(self.x[batch]), self.y[batch]), len(batch), {}

    def learning_rate(self, step):
        return 0.01 / (1 + step / 10)

    def evaluate_now(self, step, epoch_ended):
        return epoch_ended

    def evaluate(self):
        self.evaluations += 1
        with torch.no_grad():
            loss = nn.functional.mse_loss(self.model(self.x), self.y).item()
        if self.evaluations == self.cfg.nan_at_evaluation:
            loss = float("nan")
        return {"eval_loss": loss, "neg_loss": -loss}

    def summary(self, records, best):
        return {"evaluations": len(records), "best_neg_loss": best}

    def format_record(self, r):
        return f"toy epoch {r['epoch']}  eval {r['eval_loss']:.4f}"


@pytest.fixture
def toy_registered():
    register_task(ToyTask)
    yield
    loop.TASKS.pop("toy", None)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_task_written_outside_dstnet_trains_checkpoints_and_resumes_bit_identically(tmp_path, toy_registered):
    whole = Trainer(ToyTask(ToyConfig()), tmp_path / "whole")
    summary = whole.train()
    assert summary["evaluations"] == 3 and (tmp_path / "whole" / "summary.json").exists()
    records = [json.loads(line) for line in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1, 2, 3] and [r["step"] for r in records] == [8, 16, 24]
    # the topology fields come from the engine, the same for every task
    assert {"density", "anp", "overlap", "updates", "frozen"} <= set(records[0])
    assert records[-1]["updates"] == whole.engine.n_updates == 4  # steps 5, 10, 15, 20
    assert records[-1]["density"] == pytest.approx(whole.engine.overall_density())
    # one mask snapshot at the start and one per update
    assert len(list((tmp_path / "whole" / "masks").glob("update_*.npz"))) == 5

    first = Trainer(ToyTask(ToyConfig()), tmp_path / "split")
    first.train(stop_after_epoch=1)
    ckpt = load_checkpoint(tmp_path / "split" / "checkpoints" / "latest.pt")
    assert ckpt["kind"] == "toy" and ckpt["epoch"] == 1 and ckpt["batch_pos"] == 0 and ckpt["step"] == 8
    resumed = loop.resume(tmp_path / "split")  # finds ToyTask from the checkpoint's kind
    assert isinstance(resumed.task, ToyTask) and resumed.step == 8
    resumed.train()
    a, b = _weights(whole.model), _weights(resumed.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    timeless = [[{k: v for k, v in r.items() if k != "seconds"} for r in t.records] for t in (whole, resumed)]
    assert timeless[0] == timeless[1]


def test_a_diverged_evaluation_stops_the_run_without_checkpointing_it(tmp_path, toy_registered):
    trainer = Trainer(ToyTask(ToyConfig(nan_at_evaluation=2)), tmp_path / "run")
    with pytest.raises(DstnetError, match=r"eval_loss became nan at step 16: training stopped; the last good"):
        trainer.train()
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["metrics"]) == 1  # the good evaluation, not the NaN one
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1


def test_a_checkpoint_of_an_unknown_kind_is_one_line(tmp_path, toy_registered):
    Trainer(ToyTask(ToyConfig(epochs=1)), tmp_path / "run").train()
    loop.TASKS.pop("toy")
    with pytest.raises(DstnetError, match=r"a 'toy' checkpoint; dstnet resumes lm, mlp, transformer runs"):
        loop.resume(tmp_path / "run")


def test_registering_a_second_task_under_a_taken_kind_is_refused():
    assert loop.task_class("mlp").__name__ == "MLPTask"

    class Other(ToyTask):
        kind = "mlp"

    with pytest.raises(ValueError, match="already registered"):
        register_task(Other)


def test_progress_goes_to_a_terminal_only_and_records_to_stdout(tmp_path, toy_registered, capsys):
    Trainer(ToyTask(ToyConfig(epochs=2, progress=True)), tmp_path / "run").train()
    out, err = capsys.readouterr()
    assert "\r" not in err  # stderr is not a terminal here: no bar frames
    assert [line.split("  ")[0] for line in out.splitlines()] == ["toy epoch 1", "toy epoch 2"]


@pytest.mark.parametrize("command", ["mlp", "transformer"])
def test_training_options_take_their_defaults_from_the_configurations(command):
    config = {"mlp": TrainConfig, "transformer": TransformerConfig}[command]
    cmd = main.commands["train"].commands[command]
    fields = {f.name for f in dataclasses.fields(config)}
    checked = 0
    for param in cmd.get_params(click.Context(cmd)):
        if param.name in fields and isinstance(param.default, (int, float, str)) and not param.is_flag:
            expected = default(config, param.name)
            expected = ",".join(map(str, expected)) if isinstance(expected, tuple) else expected
            assert param.default == expected, param.name
            checked += 1
    assert checked >= 8


def test_train_without_a_command_prints_its_help():
    r = CliRunner().invoke(main, ["train"])
    assert r.exit_code == 0 and "Commands:" in r.output and "transformer" in r.output


@pytest.mark.parametrize("command", ["mlp", "lm"])
def test_nproc_relaunches_the_words_the_cli_was_called_with(monkeypatch, command):
    """--nproc N runs the same command under torchrun, without --nproc: the words given to the CLI (from Python,
    as here, sys.argv is pytest's), not sys.argv."""
    import subprocess

    from click.testing import CliRunner
    from netsci_dst.cli import main

    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    result = CliRunner().invoke(main, ["train", command, "--seed", "3", "--nproc", "2", "--out", "x y"])
    assert result.exit_code == 0, result.output
    (cmd,) = calls
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    assert cmd[5:] == ["-m", "netsci_dst.cli", "train", command, "--seed", "3", "--out", "x y"]


def test_a_stop_between_evaluations_runs_on_to_the_next_checkpoint(tmp_path):
    """stop_after_step between two evaluations stops at the next one, whose checkpoint a resume continues from:
    nothing trained is lost."""
    from netsci_dst.train.configs import LMConfig
    from netsci_dst.train.lm import LMTrainer

    cfg = LMConfig(method="set", preset="tiny", steps=12, eval_every=5, progress=False, seed=0)
    trainer = LMTrainer(cfg, tmp_path / "run")
    trainer.train(stop_after_step=7)
    assert trainer.step == 10
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")["step"] == 10
