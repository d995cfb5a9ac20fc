"""``dstnet export``: a run's trained network as a plain state_dict file (masks applied, no mask buffers)."""

from __future__ import annotations

from pathlib import Path

import click

from netsci_dst.errors import DstnetError


@click.command("export")
@click.argument("target", type=click.Path(), metavar="RUN_OR_CHECKPOINT")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE", help="A .pt or .safetensors file."
)
@click.option("--best", is_flag=True, help="Export a run directory's checkpoints/best.pt [default: latest.pt].")
@click.option("--csr", is_flag=True, help="Store the sparse layers' weights as torch sparse CSR tensors (.pt only).")
def export(target, output, best, csr):
    """Write the network of a training run (a run directory or a checkpoint) as a plain state_dict.

    Every sparse layer's weight has exact zeros off its links and the `weight_mask` buffers are gone, so the file
    loads with `strict=True` into a fresh model of the same shape (for a .pt with --csr, read it with
    `netsci_dst.dst.export.load_export`, which makes the CSR weights dense). The topology history stays in the run
    directory.

    \b
    Examples:
      dstnet export runs/chts -o chts.safetensors
      dstnet export runs/chts --best --csr -o chts-csr.pt
      dstnet export runs/chts/checkpoints/epoch_0010.pt -o epoch10.pt
    """
    from netsci_dst.dst.export import EXPORT_SUFFIXES, save_export
    from netsci_dst.outputs import check_output_path
    from netsci_dst.train.checkpoint import load_checkpoint
    from netsci_dst.train.rundir import RunDir

    check_output_path(output, "-o", suffixes=EXPORT_SUFFIXES, inputs=(target,))
    path = Path(target)
    if path.is_dir():
        run = RunDir(path)
        path = run.best if best else run.latest
        if not path.exists():
            raise DstnetError(f"{target}: no checkpoints/{path.name} in this run directory")
    elif best:
        raise DstnetError("--best selects a run directory's best.pt; TARGET is already a checkpoint file")
    ckpt = load_checkpoint(path)
    state = ckpt.get("model")
    if not isinstance(state, dict) or not state:
        raise DstnetError(f"{path}: the checkpoint holds no model state")
    written = save_export(state, output, csr=csr)
    masks = [v for k, v in state.items() if k.endswith(".weight_mask")]
    links = sum(int(m.sum()) for m in masks)
    click.echo(f"wrote {written} ({len(state) - len(masks)} tensors; {len(masks)} sparse layers, {links:,} links)")
