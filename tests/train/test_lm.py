"""The language-model task: corpus loading, the schedule, the llm recipes, learning beyond unigrams, resume."""

import math

import pytest
import torch
from click.testing import CliRunner
from netsci_dst.cli import main

from netsci_dst.data.text import load_corpus, unigram_perplexity
from netsci_dst.dst.methods import RECIPES, get_method
from netsci_dst.errors import DstnetError
from netsci_dst.train.configs import LMConfig
from netsci_dst.train.lm import LMTrainer, cosine_lr


def test_cosine_schedule_warms_up_linearly_then_decays_to_the_floor():
    assert [cosine_lr(s, 1.0, 4, 14, 0.1) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert cosine_lr(4, 1.0, 4, 14, 0.1) == 1.0  # the decay starts at the peak
    assert cosine_lr(13, 1.0, 4, 14, 0.1) == pytest.approx(0.1)  # the last step is at the floor
    assert cosine_lr(8, 1.0, 4, 14, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 4 / 9)))
    assert cosine_lr(0, 2.0, 0, 10, 0.0) == 2.0  # no warm-up


def test_a_corpus_file_or_folder_splits_its_last_lines_for_validation(tmp_path):
    text = tmp_path / "a.txt"
    text.write_text("".join(f"line {i}\n" for i in range(40)) + "\n\n")
    corpus = load_corpus(text, val_fraction=0.1)
    assert corpus.train == [f"line {i}" for i in range(36)] and corpus.val == [f"line {i}" for i in range(36, 40)]
    (tmp_path / "b.txt").write_text("more\ntext\n")
    (tmp_path / "skip.md").write_text("not read\n")
    folder = load_corpus(tmp_path, val_fraction=0.1)
    assert folder.val == ["line 38", "line 39", "more", "text"] and len(folder.train) == 38  # a.txt, then b.txt
    for bad, message in [
        (tmp_path / "missing", "no such file or folder"),
        (tmp_path / "empty", "no \\*.txt"),
    ]:
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(DstnetError, match=message):
            load_corpus(bad)
    one = tmp_path / "one.txt"
    one.write_text("only one line\n")
    with pytest.raises(DstnetError, match="a corpus needs training and validation lines"):
        load_corpus(one)


def test_the_unigram_bar_is_the_exponential_of_the_smoothed_cross_entropy():
    train = torch.tensor([0, 0, 1, 2]).numpy()  # add-one counts 3, 2, 2 over 7
    val = torch.tensor([0, 1]).numpy()
    assert unigram_perplexity(train, val, 3) == pytest.approx(math.exp(-(math.log(3 / 7) + math.log(2 / 7)) / 2))


def test_every_llm_recipe_cites_the_authors_llm_code():
    assert sorted(RECIPES["llm"]) == ["chts", "chtss", "fc", "mest", "rigl", "set"]
    for name, recipe in RECIPES["llm"].items():
        assert "Cannistraci-Hebb-Training-Soft-Rule-" in recipe.source, name
    chts = get_method("chts", family="llm")
    assert (chts.init_topology, chts.init_params, chts.regrowth, chts.linkpred) == (
        "brf", {"r": 0.3, "degree": "uniform"}, "ch_rigid", "CH2-L3n"
    )  # fmt: skip
    assert (chts.temperature_start, chts.temperature_end, chts.zeta, chts.topology_end_fraction) == (1, 9, 0.1, 0.75)


def tiny(**changes):
    base = dict(preset="tiny", steps=100, eval_every=50, lr=1e-2, val_blocks=40, progress=False)
    return LMConfig(**{**base, **changes})


def test_the_language_model_learns_far_beyond_the_unigram_bar_at_30_percent_connectivity(tmp_path):
    trainer = LMTrainer(tiny(), tmp_path / "run")
    summary = trainer.train()
    assert summary["density"] == pytest.approx(0.3, abs=1e-3)  # chtss decayed to the target by the last update
    assert summary["best_val_ppl"] < 0.4 * summary["unigram_ppl"], summary
    assert [r["step"] for r in trainer.records] == [50, 100]
    assert set(trainer.task.engine.layers) == set(trainer.model.sparse_layer_names())
    assert "lm_head" not in trainer.task.engine.layers and len(trainer.task.engine.layers) == 7


def test_a_language_model_run_resumes_bit_identically(tmp_path):
    from netsci_dst.data.translation import load_multi30k

    text = tmp_path / "captions.txt"  # a tenth of the bundled corpus: quicker to encode
    text.write_text("".join(f"{s}\n" for s, _ in load_multi30k(None, "train", limit=3000)))
    cfg = dict(method="set", steps=60, eval_every=20, text=str(text))
    whole = LMTrainer(tiny(**cfg), tmp_path / "whole")
    whole.train()
    part = LMTrainer(tiny(**cfg), tmp_path / "part")
    part.train(stop_after_step=20)
    resumed = LMTrainer.resume(tmp_path / "part", progress=False)
    resumed.train()
    a, b = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dstnet_train_lm_runs_and_refuses_a_corpus_too_small_for_one_batch(tmp_path):
    r = CliRunner().invoke(
        main, ["train", "lm", "--preset", "tiny", "--steps", "4", "--eval-every", "2", "--out", str(tmp_path / "r"),
               "--quiet"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "best validation perplexity" in r.output and "unigram" in r.output
    small = tmp_path / "small.txt"
    small.write_text("a b c\nd e f\n")
    r = CliRunner().invoke(
        main, ["train", "lm", "--preset", "tiny", "--text", str(small), "--out", str(tmp_path / "s")]
    )
    assert r.exit_code == 2 and "fewer than one batch" in r.output
