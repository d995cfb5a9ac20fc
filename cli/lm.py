"""``dstnet train lm``: a sparse LLaMA-style language model on a text corpus."""

from __future__ import annotations

import functools
from datetime import datetime

import click
from netsci_dst.cli.train import _check_resume, _parse_overrides, backend_option, run_options, train

from netsci_dst.errors import DstnetError
from netsci_dst.train.configs import LM_PRESETS, LMConfig, default
from netsci_dst.train.rundir import RunDir

LM = functools.partial(default, LMConfig)


@train.command("lm")
@click.option(
    "--method",
    default=LM("method"),
    show_default=True,
    help="DST recipe for language models, as the authors' LLM code runs it (see 'dstnet methods --family llm').",
)
@click.option(
    "--sparsity",
    type=float,
    default=LM("sparsity"),
    show_default=True,
    help="Fraction of links removed from every projection, [0, 1) (the CHTss paper: 0.7, 30% connectivity).",
)
@click.option(
    "--preset",
    type=click.Choice(list(LM_PRESETS)),
    default=LM("preset"),
    show_default=True,
    help="cpu: about 1.5M parameters, minutes on a CPU (NOT a paper model); llama60m / llama130m: the CHTss "
    "paper's shapes (use a GPU and a large corpus); tiny: for tests.",
)
@click.option(
    "--text",
    type=click.Path(),
    help="A UTF-8 text file (plain or .gz) or a folder of *.txt files; its last --val-fraction of lines validate "
    "[default: the bundled Multi30k English captions].",
)
@click.option("--val-fraction", type=float, default=LM("val_fraction"), show_default=True)
@click.option("--steps", type=int, help="Optimizer steps [preset].")
@click.option("--d-model", type=int, help="Model width (hidden size) [preset].")
@click.option("--layers", "n_layers", type=int, help="Decoder blocks [preset].")
@click.option("--heads", "n_heads", type=int, help="Attention heads [preset].")
@click.option("--ffn", "d_ff", type=int, help="SwiGLU hidden width (intermediate size) [preset].")
@click.option("--seq-len", type=int, help="Tokens per training block [preset].")
@click.option("--vocab-size", type=int, help="BPE vocabulary size, learned on the corpus and cached [preset].")
@click.option("--batch-size", type=int, help="Blocks per optimizer step (global) [preset].")
@click.option("--lr", type=float, help="Peak learning rate of AdamW (warm-up, then cosine decay) [preset].")
@click.option("--warmup", type=int, help="Linear warm-up steps [preset].")
@click.option("--eval-every", type=int, help="Validate (loss, perplexity) and checkpoint every N steps [preset].")
@click.option("--update-interval", type=int, default=LM("update_interval"), show_default=True)
@click.option("--tie-embeddings", is_flag=True, help="Share the embedding and the output head's weights.")
@click.option("--seed", type=int, default=LM("seed"), show_default=True)
@click.option("--device", default=LM("device"), show_default=True, help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1.")
@backend_option("dense, turning sparse on the CPU once the density is <= 0.1 (CHTss: when its decay gets there)")
@run_options("lm")
def train_lm(ctx, overrides, resume, quiet, out, **options):
    """Train a sparse LLaMA-style language model (RMSNorm, rotary embeddings, SwiGLU) with a DST method.

    Every projection of every block is sparse (q/k/v/o, gate/up/down; q/k and gate/up coupled, v -> o and
    gate/up -> down for percolation); the embedding and the head stay dense. AdamW with warm-up and cosine decay,
    validation perplexity every --eval-every steps, the best checkpoint by validation loss.

    \b
    Examples:
      dstnet train lm --method chtss                      # bundled captions, CPU-sized model, minutes
      dstnet train lm --method set --text corpus.txt --steps 3000 --out runs/lm-set
      dstnet train lm --method chtss --preset llama60m --text ~/data/c4 --device cuda
      dstnet train lm --resume runs/lm-set
    """
    from netsci_dst.train.lm import LMTrainer

    if resume is not None:
        changes = _check_resume(ctx, resume)
        trainer = LMTrainer.resume(resume, progress=not quiet, **changes)
        click.echo(
            f"resuming {resume} at step {trainer.step}/{trainer.cfg.steps} ({trainer.engine.describe_backend()})"
        )
    else:
        cfg = LMConfig(method_overrides=_parse_overrides(overrides), progress=not quiet, **options)
        out = out or f"runs/lm-{cfg.method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        if RunDir(out).resume_point.exists():
            raise DstnetError(f"{out} already holds a run: use --resume {out} or another --out")
        trainer = LMTrainer(cfg, out)
        task = trainer.task
        n_params = trainer.engine.dense_parameter_count()
        click.echo(
            f"training {cfg.method} at sparsity {cfg.sparsity:g}, preset {cfg.preset} ({cfg.n_layers} blocks, "
            f"d_model {cfg.d_model}, {n_params / 1e6:.1f}M parameters) on {task.corpus.source} "
            f"({len(task.train_stream):,} training tokens, vocabulary {task.tokenizer.vocab_size}), {cfg.steps} steps "
            f"on {trainer.device} ({trainer.engine.describe_backend()}); run directory {out}"
        )
    summary = trainer.train()
    click.echo(
        f"done: best validation perplexity {summary['best_val_ppl']:.2f} (unigram {summary['unigram_ppl']:.1f}), "
        f"density {summary['density']:.4f}, ANP {summary['anp']:.3f}; run directory {summary['run_dir']}"
    )
