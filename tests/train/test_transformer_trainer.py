"""The Transformer trainer end to end: overfitting, exact resume, engine invariants, the CLI and analysis."""

from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.train.checkpoint import load_checkpoint
from netsci_dst.train.transformer import TransformerConfig, TransformerTrainer

TINY = dict(preset="tiny", val_limit=16, test_limit=16, device="cpu", progress=False)


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DSTNET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny CHTs run through the CLI: 30 steps, a topology update every 10, validation every 15."""
    import os

    os.environ.setdefault("DSTNET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    out = tmp_path_factory.mktemp("tf") / "run"
    r = run(
        "train", "transformer", "--preset", "tiny", "--method", "chts", "--sparsity", 0.8, "--steps", 30,
        "--eval-every", 15, "--update-interval", 10, "--train-limit", 300, "--val-limit", 16, "--test-limit", 16,
        "--device", "cpu", "--quiet", "--out", out,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


def test_a_tiny_model_overfits_32_pairs_to_bleu_above_90(tmp_path):
    cfg = TransformerConfig(
        method="fc", d_model=64, n_heads=2, d_ff=128, n_layers=1, dropout=0.0, label_smoothing=0.0, steps=350,
        warmup=60, lr_factor=2.0, eval_every=350, train_limit=32, max_tokens=4096, **TINY,
    )  # fmt: skip
    trainer = TransformerTrainer(cfg, tmp_path / "overfit")
    trainer.train()
    assert trainer.task.bleu_on(trainer.task.train_pairs, beam=1) > 90.0
    assert trainer.task.bleu_on(trainer.task.train_pairs, beam=2) > 90.0


@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_sparse_training_keeps_inactive_weights_and_adam_moments_at_zero(tmp_path, backend):
    cfg = TransformerConfig(
        method="chtss",
        sparsity=0.9,
        steps=25,
        eval_every=25,
        update_interval=5,
        train_limit=200,
        backend=backend,
        **TINY,
    )
    trainer = TransformerTrainer(cfg, tmp_path / "run")
    assert trainer.engine.backend == backend
    trainer.train()
    assert trainer.engine.n_updates == 3  # T_end = 0.75 * 25 = 18.75: updates at steps 5, 10, 15
    masks = trainer.engine.masks
    assert set(masks) == set(trainer.model.sparse_layer_names())
    for name, mask in masks.items():
        param = trainer.engine.parameter(name)
        state = trainer.optimizer.state[param]
        if backend == "sparse":  # only the links exist: values and both Adam moments have one entry per link
            assert param.shape == state["exp_avg"].shape == state["exp_avg_sq"].shape == (int(mask.sum()),), name
            continue
        assert torch.all(param[~mask] == 0), name
        assert torch.all(state["exp_avg"][~mask] == 0) and torch.all(state["exp_avg_sq"][~mask] == 0), name
    total = sum(int(m.sum()) for m in masks.values())
    size = sum(m.numel() for m in masks.values())
    assert total / size == pytest.approx(0.1, abs=0.01)  # the sigmoid decay reached its final density
    assert trainer.engine.history[-1]["step"] == 15  # evolution ends at 0.75 of training (the authors' T_end)


def test_resumed_run_is_identical_to_an_uninterrupted_one(tmp_path):
    cfg = dict(method="chts", sparsity=0.8, steps=30, eval_every=10, update_interval=10, train_limit=200, **TINY)
    straight = TransformerTrainer(TransformerConfig(**cfg), tmp_path / "straight")
    straight.train()

    first = TransformerTrainer(TransformerConfig(**cfg), tmp_path / "resumed")
    first.train(stop_after_step=20)
    assert first.step == 20
    resumed = TransformerTrainer.resume(tmp_path / "resumed", progress=False)
    assert resumed.step == 20 and resumed.batch_pos == first.batch_pos
    resumed.train()

    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

    def timeless(records):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    assert timeless(straight.records) == timeless(resumed.records)  # losses, BLEU, density, overlap: all equal


def test_run_directory_and_checkpoint_of_the_cli_run(tiny_run):
    summary = json.loads((tiny_run / "summary.json").read_text())
    assert summary["steps"] == 30 and summary["beam"] == 2 and 0.0 <= summary["test_bleu"] <= 100.0
    metrics = [json.loads(line) for line in (tiny_run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [15, 30]
    assert all(0.0 < m["anp"] <= 1.0 for m in metrics)
    ckpt = load_checkpoint(tiny_run / "checkpoints" / "best.pt")
    assert ckpt["kind"] == "transformer" and isinstance(ckpt["tokenizer"], str)
    snapshots = sorted((tiny_run / "masks").glob("update_*.npz"))
    assert len(snapshots) == 3  # the initial masks and updates at steps 10 and 20


def test_translate_and_evaluate_from_the_checkpoint(tiny_run, tmp_path):
    r = run("translate", tiny_run, "a man is riding a bike.", "two dogs play.", "--beam", 1)
    assert r.exit_code == 0, r.output
    assert len(r.output.strip().splitlines()) == 2
    r = CliRunner().invoke(main, ["translate", str(tiny_run), "--beam", "1"], input="a dog runs.\n\ntwo dogs play.\n")
    assert r.exit_code == 0, r.output
    # one output line per input line: the blank one stays blank and in place
    assert r.output.count("\n") == 3 and r.output.split("\n")[1] == ""
    out = tmp_path / "hyps.txt"
    r = run("evaluate", tiny_run / "checkpoints" / "best.pt", "--limit", 12, "--beam", 2, "-o", out)
    assert r.exit_code == 0, r.output
    assert re.search(r"BLEU \d+\.\d\d on test \(12 pairs", r.output), r.output
    assert len(out.read_text(encoding="utf-8").splitlines()) == 12


def test_analyze_works_on_transformer_checkpoints(tiny_run):
    r = run("analyze", tiny_run / "checkpoints" / "latest.pt", "--elm")
    assert r.exit_code == 0, r.output
    assert "encoder.layers.0.self_attn.q_proj" in r.output
    r = run("analyze", tiny_run)
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["translate", "{mlp}", "a dog"], "not a Transformer run"),
        (["train", "transformer", "--resume", "{run}", "--steps", "5"], "drop steps"),
        (["train", "transformer", "--preset", "tiny", "--d-model", "30", "--heads", "4"], "not divisible"),
        (["train", "transformer", "--sparsity", "1.5"], "sparsity"),
        (["train", "transformer", "--steps", str(10**10)], "steps must be at most 1,000,000,000"),
    ],
)
def test_bad_input_is_one_line_with_exit_2(args, message, tiny_run, tmp_path):
    mlp = tmp_path / "mlp"
    if "{mlp}" in args:
        r = run("train", "mlp", "--epochs", 1, "--sizes", "784,32,10", "--train-limit", 64, "--test-limit", 32,
                "--quiet", "--out", mlp)  # fmt: skip
        assert r.exit_code == 0, r.output
    args = [a.replace("{mlp}", str(mlp / "checkpoints" / "latest.pt")).replace("{run}", str(tiny_run)) for a in args]
    r = run(*args)
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1


def test_auto_backend_is_dense_for_the_transformer(tmp_path):
    cfg = TransformerConfig(method="set", sparsity=0.99, steps=2, eval_every=2, train_limit=50, **TINY)
    assert cfg.backend == "auto"
    assert TransformerTrainer(cfg, tmp_path / "run").engine.backend == "dense"  # measured: no faster sparse here


def _tokenizer_json(change):
    def apply(ckpt):
        data = json.loads(ckpt["tokenizer"])
        change(data)
        ckpt["tokenizer"] = json.dumps(data)

    return apply


def _drop(*keys):
    def change(ckpt):
        target = ckpt
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return change


@pytest.mark.parametrize(
    "change, message",
    [
        (_drop("config", "model"), "its config has no 'model' section"),
        (_drop("config", "train"), "its config has no 'train' section"),
        (_drop("tokenizer"), "it holds no tokenizer"),
        (lambda c: c["config"]["model"].update(d_model="wide"), "d_model must be a positive int, got 'wide'"),
        (lambda c: c["config"]["model"].update(d_model=1024), "corrupt checkpoint: the model does not fit"),
        (_tokenizer_json(lambda t: t.update(normalizer=None)), "not a dstnet subword tokenizer (no normalizer)"),
        (
            _tokenizer_json(lambda t: t["added_tokens"].append({**t["added_tokens"][0], "id": 5000, "content": "zz"})),
            "the tokenizer has id 1000, beyond the model's 1000 embeddings",
        ),
    ],
    ids=[
        "no-model",
        "no-train",
        "no-tokenizer",
        "bad-model-field",
        "model-of-another-size",
        "no-normalizer",
        "id-beyond-vocab",
    ],  # fmt: skip
)
@pytest.mark.parametrize("command", ["translate", "evaluate"])
def test_a_transformer_checkpoint_missing_a_part_is_one_line(tiny_run, tmp_path, change, message, command):
    """Red-team finding: a checkpoint tagged transformer without its model config raised KeyError: 'model'."""
    ckpt = torch.load(tiny_run / "checkpoints" / "best.pt", weights_only=True)
    change(ckpt)
    bad = tmp_path / "bad.pt"
    torch.save(ckpt, bad)
    r = run(command, bad, *(["a dog"] if command == "translate" else ["--limit", 2]))
    assert r.exit_code == 2, r.output
    assert message in r.output and len(r.output.strip().splitlines()) == 1, r.output
