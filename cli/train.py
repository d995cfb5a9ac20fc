"""``dstnet train mlp`` and ``dstnet methods``."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from datetime import datetime

import click

from netsci_dst.backends import BACKENDS
from netsci_dst.data.vision import DATASETS
from netsci_dst.errors import DstnetError
from netsci_dst.train.configs import PRESETS, TrainConfig, TransformerConfig, default
from netsci_dst.train.rundir import RunDir

MLP = functools.partial(default, TrainConfig)  # the options' defaults are the configurations' (one place each)
TF = functools.partial(default, TransformerConfig)


def _parse_overrides(items: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs; values are read as JSON when they parse (numbers, true/false, null), else strings.

    ``True``/``False``/``None`` in any case are booleans and None too, so ``--set percolation=False`` turns it off.
    """
    words = {"true": True, "false": False, "none": None, "null": None}
    out = {}
    for item in items:
        if "=" not in item:
            raise DstnetError(f"--set takes KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if value.strip().lower() in words:
            out[key] = words[value.strip().lower()]
            continue
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _check_resume(ctx: click.Context, resume: str) -> dict:
    """``--resume`` takes the run's saved settings: refuse other options (but ``--backend``: checkpoints move between
    backends, and ``--nproc``), and a folder without a checkpoint. Returns the changes to apply."""
    if not resume.strip():
        raise DstnetError("--resume needs the run directory to continue, got an empty name")
    given = [
        p.name
        for p in ctx.command.params
        if p.name not in ("resume", "quiet", "backend", "nproc")
        and ctx.get_parameter_source(p.name) != click.core.ParameterSource.DEFAULT
    ]
    if given:
        raise DstnetError(f"--resume continues a run with its saved settings; drop {', '.join(given)}")
    if not RunDir(resume).resume_point.exists():
        raise DstnetError(f"{resume}: no checkpoints/latest.pt (or best.pt) to resume from")
    if ctx.get_parameter_source("backend") != click.core.ParameterSource.DEFAULT:
        return {"backend": ctx.params["backend"]}
    return {}


def processes_option(command):
    """The ``--nproc N`` option of a training command: with N > 1 (and not already under torchrun), run the same
    command line under ``python -m torch.distributed.run --standalone --nproc-per-node N`` and exit with its status;
    under torchrun, only rank 0 prints (see :mod:`netsci_dst.train.distributed`)."""

    @click.option(
        "--nproc",
        type=click.IntRange(1, 1024),
        default=1,
        show_default=True,
        help="Processes to train with on this machine (data-parallel over torch.distributed: gloo on the CPU, NCCL "
        "on GPUs); the same as 'torchrun --nproc-per-node N -m netsci_dst.cli ...'. Also allowed with --resume.",
    )
    @functools.wraps(command)
    def wrapper(*args, nproc, **kwargs):
        if nproc > 1 and "LOCAL_RANK" not in os.environ:
            from netsci_dst.cli import ARGV_META

            words = click.get_current_context().meta.get(ARGV_META, sys.argv[1:])
            argv, rest = [], iter(words)
            for word in rest:
                if word == "--nproc":
                    next(rest, None)
                elif not word.startswith("--nproc="):
                    argv.append(word)
            launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
            sys.exit(subprocess.call([*launcher, "-m", "netsci_dst.cli", *argv]))
        if os.environ.get("RANK", "0") != "0":  # under torchrun: rank 0 speaks for all
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (for the life of the process)
        return command(*args, **kwargs)

    return wrapper


def run_options(kind: str, per: str = "evaluation"):
    """The options every training command shares, after its own: ``--out`` (default ``runs/KIND-METHOD-TIME``),
    ``--set``, ``--resume``, ``--quiet`` and ``--nproc`` (:func:`processes_option`); ``per``: what a progress line
    reports (an epoch, an evaluation). The command takes ``ctx`` first."""

    def decorate(command):
        for option in reversed(
            [
                click.option(
                    "--out", type=click.Path(file_okay=False), help=f"Run directory [default: runs/{kind}-METHOD-TIME]."
                ),
                click.option(
                    "--set",
                    "overrides",
                    multiple=True,
                    metavar="KEY=VALUE",
                    help="Override any method field, e.g. --set zeta=0.2 --set linkpred=CH3-L3 (repeatable).",
                ),
                click.option(
                    "--resume",
                    type=click.Path(exists=False, file_okay=False),
                    help="Continue the run in this directory from its latest checkpoint (with its saved settings).",
                ),
                click.option("--quiet", is_flag=True, help=f"No progress bar or per-{per} lines."),
                processes_option,
                click.pass_context,
            ]
        ):
            command = option(command)
        return command

    return decorate


def backend_option(auto_means: str):
    """The ``--backend`` option of a training command; ``auto_means`` says what auto picks for its model."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=TF("backend"),
        show_default=True,
        help="How sparse layers compute: sparse stores and multiplies only the links (CPU, fast at high sparsity); "
        f"dense masks dense weights (any device); auto: {auto_means}. Also allowed with --resume.",
    )


@click.group("train")
def train() -> None:
    """Train a sparse network with a dynamic sparse training method."""


@train.command("mlp")
@click.option(
    "--method",
    default=MLP("method"),
    show_default=True,
    help="DST recipe, as the authors' code runs it (see 'dstnet methods'; chts-paper: the papers' fixed-density CHTs).",
)
@click.option(
    "--sparsity", type=float, default=MLP("sparsity"), show_default=True, help="Fraction of links removed, [0, 1)."
)
@click.option(
    "--epochs",
    type=int,
    default=MLP("epochs"),
    show_default=True,
    help="Training epochs (short CPU default; the papers train 100).",
)
@click.option("--dataset", type=click.Choice(list(DATASETS)), default=MLP("dataset"), show_default=True)
@click.option(
    "--data-dir", type=click.Path(), help="Folder of the dataset's IDX files [default: bundled MNIST subset]."
)
@click.option("--download", is_flag=True, help="Download the full dataset (checksummed) into the cache.")
@click.option("--train-limit", type=int, help="Use only the first N training images (quick runs).")
@click.option("--test-limit", type=int, help="Use only the first N test images.")
@click.option(
    "--sizes",
    type=str,
    default=",".join(map(str, MLP("sizes"))),
    show_default=True,
    help="Neuron-layer sizes of the MLP (the last layer is dense). The first and last sizes follow the data: its "
    "pixel count, and at least its class count (47 for emnist-balanced).",
)
@click.option("--init", "init_topology", type=str, help="Initial topology: er, bsw, bsf, brf, csti [method default].")
@click.option("--beta", type=float, help="BSW rewiring probability for --init bsw [default 0.25].")
@click.option(
    "--lr",
    type=float,
    default=MLP("lr"),
    show_default=True,
    help="Initial learning rate (decays linearly per epoch to --lr-end over the first 90% of the epochs, as in the "
    "authors' code).",
)
@click.option("--lr-end", type=float, default=MLP("lr_end"), show_default=True, help="Final learning rate.")
@click.option("--batch-size", type=int, default=MLP("batch_size"), show_default=True)
@click.option("--seed", type=int, default=MLP("seed"), show_default=True)
@click.option(
    "--device", default=MLP("device"), show_default=True, help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1, mps."
)
@backend_option("dense, turning sparse on the CPU once the density is <= 0.1 (CHTss: when its decay gets there)")
@click.option(
    "--save-every",
    type=int,
    default=MLP("save_every"),
    show_default=True,
    help="Also keep a checkpoint every N epochs.",
)
@run_options("mlp", per="epoch")
def train_mlp(
    ctx,
    method,
    sparsity,
    epochs,
    dataset,
    data_dir,
    download,
    train_limit,
    test_limit,
    sizes,
    init_topology,
    beta,
    lr,
    lr_end,
    batch_size,
    seed,
    device,
    backend,
    out,
    save_every,
    overrides,
    resume,
    quiet,
):
    """Train the paper MLP (784-1568-1568-1568-10) with a DST method on MNIST-like data.

    \b
    Examples:
      dstnet train mlp --method chts                       # bundled digits, 5 epochs, 99% sparsity
      dstnet train mlp --method set --sparsity 0.95 --epochs 30 --dataset fashion-mnist --data-dir ~/data/fmnist
      dstnet train mlp --method chts-paper --out runs/chts-paper   # the papers' fixed-density CHTs
      dstnet train mlp --method chts --set linkpred=CH2-L3n --out runs/chts-n
      dstnet train mlp --resume runs/chts-n                # continue a stopped run
    """
    from netsci_dst.train.mlp import MLPTrainer

    if resume is not None:
        changes = _check_resume(ctx, resume)
        trainer = MLPTrainer.resume(resume, progress=not quiet, **changes)
        click.echo(
            f"resuming {resume} at epoch {trainer.epoch}/{trainer.cfg.epochs} ({trainer.engine.describe_backend()})"
        )
    else:
        method_overrides = _parse_overrides(overrides)
        if init_topology:
            method_overrides["init_topology"] = init_topology
        if beta is not None:
            params = dict(method_overrides.get("init_params", {}))
            params["beta"] = beta
            method_overrides["init_params"] = params
        try:
            size_list = tuple(int(s) for s in sizes.split(","))
        except ValueError:
            raise DstnetError(f"--sizes takes comma-separated integers, got {sizes!r}") from None
        cfg = TrainConfig(
            method=method,
            method_overrides=method_overrides,
            sparsity=sparsity,
            sizes=size_list,
            dataset=dataset,
            data_dir=data_dir,
            download=download,
            train_limit=train_limit,
            test_limit=test_limit,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            lr_end=lr_end,
            seed=seed,
            device=device,
            backend=backend,
            save_every=save_every,
            progress=not quiet,
        )
        out = out or f"runs/mlp-{method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        if RunDir(out).resume_point.exists():
            raise DstnetError(f"{out} already holds a run: use --resume {out} or another --out")
        trainer = MLPTrainer(cfg, out)
        click.echo(
            f"training {cfg.method} at sparsity {cfg.sparsity:g} on {cfg.dataset} "
            f"({len(trainer.task.data.x_train):,} train / {len(trainer.task.data.x_test):,} test images) "
            f"on {trainer.device} ({trainer.engine.describe_backend()}); run directory {out}"
        )
    summary = trainer.train()
    click.echo(f"done: {_summary_line(summary)}; run directory {summary['run_dir']}")


def _summary_line(summary: dict) -> str:
    """Final and best test accuracy (the recipe's convention: the best after a fraction of training), AAE, ANP."""
    after = summary["best_after_fraction"]
    where = f" after {after:g} of training" if after else ""
    best = f"best {summary['best_acc']:.4f} (epoch {summary['best_epoch']}{where})"
    return f"final test accuracy {summary['final_acc']:.4f}, {best}, AAE {summary['aae']:.4f}, ANP {summary['anp']:.3f}"


#: Each recipe family: its title and the training command that runs it (the names of netsci_dst.dst.methods.FAMILIES)
FAMILY_COMMANDS = {"mlp": ("MLP", "mlp"), "transformer": ("Transformer", "transformer"), "llm": ("LLM", "lm")}


@click.command("methods")
@click.argument("name", required=False)
@click.option(
    "--family",
    type=click.Choice(list(FAMILY_COMMANDS)),
    help="Only the recipes of one model family [default: all].",
)
def methods(name, family):
    """List the DST recipes, or show one (NAME): its source in the authors' code, notes and every setting.

    \b
    The recipes are what the authors' released code runs (file, lines and commit shown); where they released no
    command for a method, the recipe is assembled from their code's options ("assembled"); "chts-paper" is the
    fixed-density CHTs their papers' text describes. Examples:
      dstnet methods
      dstnet methods chts
      dstnet methods chtss --family transformer
    """
    from netsci_dst.dst.methods import FAMILIES, RECIPES, get_recipe

    families = [family] if family else list(FAMILIES)
    if name:
        shown = 0
        for fam in families:
            if name.lower() not in RECIPES[fam]:
                continue
            shown += 1
            _show_recipe(get_recipe(name, fam))
        if not shown:
            known = sorted({n for fam in families for n in RECIPES[fam]})
            raise DstnetError(f"unknown method {name!r} (known: {', '.join(known)})")
        return
    for fam in families:
        title, command = FAMILY_COMMANDS[fam]
        click.echo(f"{title} recipes (dstnet train {command} --method NAME):")
        width = max(len(n) for n in RECIPES[fam])
        for recipe in RECIPES[fam].values():
            click.echo(f"  {recipe.name:<{width}}  {recipe.origin:<9}  {recipe.summary}")
        click.echo("")
    click.echo(
        "origin: code = the authors' released command; assembled = no released command, built from their code's "
        "options; paper = the papers' text. 'dstnet methods NAME' shows the source and every field; override any "
        "field with --set KEY=VALUE."
    )


def _show_recipe(recipe) -> None:
    import textwrap

    title = f"{recipe.name} ({recipe.family}, {recipe.origin}): {recipe.summary}"
    click.echo(title)
    for label, text in (("source", recipe.source), ("notes", recipe.notes)):
        if text:
            wrapped = textwrap.wrap(text, width=110, initial_indent=f"  {label}: ", subsequent_indent=" " * 10)
            click.echo("\n".join(wrapped))
    values = recipe.config.to_dict()
    width = max(len(k) for k in values)
    for key, value in values.items():
        click.echo(f"  {key:<{width}}  {value}")
    click.echo("")


@train.command("transformer")
@click.option(
    "--method",
    default=TF("method"),
    show_default=True,
    help="DST recipe for the Transformer, as the authors' scripts run it (see 'dstnet methods --family transformer').",
)
@click.option(
    "--sparsity", type=float, default=TF("sparsity"), show_default=True, help="Fraction of links removed, [0, 1)."
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default=TF("preset"),
    show_default=True,
    help="cpu: a small model that trains in minutes on a CPU (NOT the paper's size); paper: 6+6 layers, 8 heads, "
    "d_model 512, FFN 1024, 5,000 steps (CHTss Table 2; use a GPU); tiny: for tests.",
)
@click.option("--steps", type=int, help="Optimizer steps [preset].")
@click.option("--d-model", type=int, help="Model width [preset].")
@click.option("--heads", "n_heads", type=int, help="Attention heads [preset].")
@click.option("--ffn", "d_ff", type=int, help="Feed-forward width [preset].")
@click.option("--layers", "n_layers", type=int, help="Encoder and decoder layers (each) [preset].")
@click.option("--vocab-size", type=int, help="Joint subword vocabulary size [preset].")
@click.option("--max-tokens", type=int, help="Padded tokens per batch [preset].")
@click.option("--warmup", type=int, help="Noam warm-up steps [preset].")
@click.option("--lr-factor", type=float, help="Noam learning-rate factor [preset].")
@click.option("--eval-every", type=int, help="Validate (loss, greedy BLEU) and checkpoint every N steps [preset].")
@click.option(
    "--update-interval",
    type=int,
    default=TF("update_interval"),
    show_default=True,
    help="Steps between topology updates.",
)
@click.option("--beam", type=int, default=TF("beam"), show_default=True, help="Beam size of the final test BLEU.")
@click.option("--data-dir", type=click.Path(), help="Folder of Multi30k's gzip text files [default: bundled].")
@click.option("--src", default=TF("src"), show_default=True, help="Source language.")
@click.option("--tgt", default=TF("tgt"), show_default=True, help="Target language.")
@click.option("--train-limit", type=int, help="Use only the first N training pairs (quick runs).")
@click.option("--val-limit", type=int, help="Validate on the first N validation pairs only.")
@click.option("--test-limit", type=int, help="Test on the first N test pairs only.")
@click.option("--seed", type=int, default=TF("seed"), show_default=True)
@click.option(
    "--device", default=TF("device"), show_default=True, help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:1, mps."
)
@backend_option(
    "dense here (measured: the sparse backend is no faster on this model's CPU preset, whose step is mostly "
    "attention, embeddings and the vocabulary)"
)
@run_options("transformer")
def train_transformer(ctx, overrides, resume, quiet, out, **options):
    """Train a sparse encoder-decoder Transformer for translation on Multi30k (en -> de), with BLEU.

    Every Linear of the attention and feed-forward blocks is sparse (q/k coupled, v -> o and FFN chained for
    percolation); embeddings and the output generator stay dense. Adam with the papers' inoam schedule, a topology
    update every 100 steps, validation BLEU (greedy) keeps the best checkpoint, test BLEU with beam search at the end.

    \b
    Examples:
      dstnet train transformer --method chtss --sparsity 0.9     # bundled corpus, CPU-sized model, minutes
      dstnet train transformer --method set --steps 3000 --out runs/tf-set
      dstnet train transformer --method chtss --preset paper --device cuda
      dstnet train transformer --resume runs/tf-set
    """
    from netsci_dst.train.transformer import TransformerTrainer

    if resume is not None:
        changes = _check_resume(ctx, resume)
        trainer = TransformerTrainer.resume(resume, progress=not quiet, **changes)
        click.echo(
            f"resuming {resume} at step {trainer.step}/{trainer.cfg.steps} ({trainer.engine.describe_backend()})"
        )
    else:
        cfg = TransformerConfig(method_overrides=_parse_overrides(overrides), progress=not quiet, **options)
        out = out or f"runs/transformer-{cfg.method}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        if RunDir(out).resume_point.exists():
            raise DstnetError(f"{out} already holds a run: use --resume {out} or another --out")
        trainer = TransformerTrainer(cfg, out)
        n_params = trainer.engine.dense_parameter_count()
        size_note = " (CPU-sized, not the papers' model: --preset paper for that)" if cfg.preset == "cpu" else ""
        click.echo(
            f"training {cfg.method} at sparsity {cfg.sparsity:g}, preset {cfg.preset}{size_note} "
            f"({cfg.n_layers}+{cfg.n_layers} "
            f"layers, d_model {cfg.d_model}, {n_params / 1e6:.1f}M parameters), {cfg.src}->{cfg.tgt}, "
            f"{len(trainer.task.train_pairs):,} training pairs, {cfg.steps} steps on {trainer.device} "
            f"({trainer.engine.describe_backend()}); run directory {out}"
        )
    summary = trainer.train()
    click.echo(
        f"done: best validation BLEU {summary['best_val_bleu']:.2f}, test BLEU {summary['test_bleu']:.2f} "
        f"(beam {summary['beam']}), density {summary['density']:.4f}; run directory {summary['run_dir']}"
    )
