"""``dstnet translate`` and ``dstnet evaluate``: use a trained Transformer checkpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from netsci_dst.errors import DstnetError
from netsci_dst.train.translation_eval import check_beam


@click.command("translate")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.argument("sentences", nargs=-1)
@click.option("--beam", type=int, default=2, show_default=True, help="Beam size (1: greedy).")
@click.option("--device", default="auto", show_default=True)
def translate(checkpoint, sentences, beam, device):
    """Translate SENTENCES (or stdin, one per line) with a Transformer CHECKPOINT (a .pt file or a run directory).

    \b
    Examples:
      dstnet translate runs/tf-chtss "a man is riding a bike."
      dstnet translate runs/tf-chtss/checkpoints/best.pt --beam 1 < sentences.txt
    """
    from netsci_dst.train.transformer import load_translation_checkpoint
    from netsci_dst.train.translation_eval import translate as run_translate

    texts = list(sentences) or [line.rstrip("\n") for line in sys.stdin]
    filled = [i for i, t in enumerate(texts) if t.strip()]
    if not filled:
        raise DstnetError("nothing to translate: give sentences as arguments or on stdin")
    model, tokenizer, _ = load_translation_checkpoint(checkpoint, device)
    device_ = next(model.parameters()).device
    check_beam(model, tokenizer, [texts[i] for i in filled], beam, device_)
    outputs = [""] * len(texts)  # one output line per input line: a blank line stays a blank line
    translated = run_translate(model, tokenizer, [texts[i] for i in filled], beam=beam, device=device_)
    for i, line in zip(filled, translated, strict=True):
        outputs[i] = line
    for line in outputs:
        click.echo(line)


@click.command("evaluate")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--split", type=click.Choice(["test", "val"]), default="test", show_default=True)
@click.option("--beam", type=int, default=2, show_default=True, help="Beam size (1: greedy).")
@click.option("--data-dir", type=click.Path(), help="Folder of Multi30k's gzip text files [default: bundled].")
@click.option("--limit", type=int, help="Score only the first N pairs.")
@click.option("--device", default="auto", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Also write the translations to this file.")
def evaluate(checkpoint, split, beam, data_dir, limit, device, output):
    """BLEU (sacrebleu, lowercased) of a Transformer CHECKPOINT on Multi30k's test (test_2016_flickr) or val split.

    \b
    Example:
      dstnet evaluate runs/tf-chtss --beam 2
    """
    import time

    from netsci_dst.data.translation import bundled_multi30k_dir, load_multi30k
    from netsci_dst.fileio import atomic_write
    from netsci_dst.outputs import check_output_path
    from netsci_dst.train.transformer import load_translation_checkpoint
    from netsci_dst.train.translation_eval import bleu
    from netsci_dst.train.translation_eval import translate as run_translate

    if output:  # never over the checkpoint or a file of the data folder it reads
        folder = bundled_multi30k_dir() if data_dir is None else Path(data_dir)
        data_files = [f for f in folder.iterdir() if f.is_file()] if folder.is_dir() else []
        check_output_path(output, "-o", inputs=(checkpoint, *data_files))
    model, tokenizer, ckpt = load_translation_checkpoint(checkpoint, device)
    train = ckpt["config"]["train"]
    if not (train.get("src") and train.get("tgt")):
        raise DstnetError(f"{checkpoint}: the checkpoint does not name its languages (config train src, tgt)")
    pairs = load_multi30k(data_dir, split, train["src"], train["tgt"], limit=limit)
    check_beam(model, tokenizer, [s for s, _ in pairs], beam, next(model.parameters()).device)
    t0 = time.perf_counter()
    hyps = run_translate(
        model, tokenizer, [s for s, _ in pairs], beam=beam, device=next(model.parameters()).device, progress=True
    )
    score = bleu(hyps, [tokenizer.normalize(t) for _, t in pairs])
    if output:
        with atomic_write(output, encoding="utf-8") as f:
            f.write("".join(h + "\n" for h in hyps))
    click.echo(
        f"BLEU {score:.2f} on {split} ({len(pairs):,} pairs, {train['src']}->{train['tgt']}, beam {beam}, "
        f"{time.perf_counter() - t0:.1f}s); method {ckpt['config']['method'].get('name', '?')}, step {ckpt['step']}"
    )
