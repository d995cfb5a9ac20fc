"""The ``dstnet`` command: a thin click shell over the library (installed as ``netsci_dst.cli``).

Every user mistake, whether click's own usage errors or a :class:`~netsci_dst.errors.DstnetError` from the library,
is printed as one line ``Error: ...`` on stderr with exit code 2; never a traceback.
"""

from __future__ import annotations

import sys
import warnings

import click

from netsci_dst import __version__
from netsci_dst.errors import DstnetError

#: click >= 8.2 raises this for a group called without a command (8.1 prints the help itself)
NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


#: key of the command line's words (after the program name) in the click context's ``meta``
ARGV_META = "dstnet.argv"


class DstnetGroup(click.Group):
    """A click group that reports user errors as a single line and exits with code 2, and keeps the words it was
    invoked with in ``ctx.meta[ARGV_META]`` (``--nproc`` relaunches them under torchrun; ``sys.argv`` is not them
    when the CLI is called from Python)."""

    def make_context(self, info_name, args, parent=None, **extra):
        words = list(args)  # before parsing consumes them
        ctx = super().make_context(info_name, args, parent, **extra)
        if parent is None:
            ctx.meta[ARGV_META] = words
        return ctx

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # noqa: D401
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort as e:
            if isinstance(e.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
                click.echo("Interrupted.", err=True)
                sys.exit(130)
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except NO_ARGS_IS_HELP as e:  # `dstnet`, `dstnet train`: the help, as asked
            click.echo(e.ctx.get_help())
            sys.exit(0)
        except click.UsageError as e:
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            click.echo(f"Error: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"Error: {_one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code if e.exit_code else 1)
        except DstnetError as e:
            click.echo(f"Error: {_one_line(str(e))}", err=True)
            sys.exit(2)
        except OSError as e:  # missing files, permissions, a full disk (ENOSPC), names too long, ...
            where = f": {e.filename}" if e.filename else ""
            click.echo(f"Error: {_one_line(f'{e.strerror or e}{where}')}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(msg: str) -> str:
    return " ".join(msg.split())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line ``Warning: ...`` on stderr (Python's default adds the source file, line and code)."""
    click.echo(f"Warning: {_one_line(str(message))}", err=True)


@click.group(cls=DstnetGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="dstnet")
def main() -> None:
    """dstnet: brain-inspired dynamic sparse training and the network science of sparse layers.

    \b
    Examples:
      dstnet generate bsw --beta 0.25 --n-in 784 --n-out 1568 --density 0.01 -o topo.npz
      dstnet generate bsf --layers 784,1568,1568,1568 --sparsity 0.99 --equal-partition --resort rigid
      dstnet linkpred topo.npz --method CH3-L3 --top 10
      dstnet train mlp --method chts --sparsity 0.99 --epochs 30 --out runs/chts
      dstnet train transformer --method chtss --sparsity 0.9 --out runs/tf
      dstnet train lm --method chtss --sparsity 0.7 --out runs/lm
      dstnet translate runs/tf "a dog runs on the beach."
      dstnet analyze runs/chts/checkpoints/latest.pt --elm
      dstnet plot runs/chts --kind evolution -o evolution.png
      dstnet export runs/chts -o chts.safetensors
    """


def _register() -> None:
    from netsci_dst.cli.analyze import analyze
    from netsci_dst.cli.export import export
    from netsci_dst.cli.generate import generate
    from netsci_dst.cli.linkpred import linkpred
    from netsci_dst.cli.lm import train_lm  # noqa: F401  (registers `dstnet train lm`)
    from netsci_dst.cli.plot import plot
    from netsci_dst.cli.train import methods, train
    from netsci_dst.cli.translate import evaluate, translate

    for command in (train, methods, generate, linkpred, analyze, plot, translate, evaluate, export):
        main.add_command(command)


_register()
