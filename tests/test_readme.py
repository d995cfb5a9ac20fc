"""The README's Python examples run as written, and its commands name real CLI options."""

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from netsci_dst.cli import main

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks
    for code in blocks:
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["scores"].shape == (1568, 784) and namespace["scores"].max() > 0


def _commands():
    for line in re.findall(r"^(dstnet [^\n#]+)", README, re.M):
        yield line.strip()


@pytest.mark.parametrize("command", sorted(set(_commands())))
def test_readme_commands_parse(command):
    """Every option in the README's commands exists: `--help` after the subcommand path parses the options."""
    words = command.split()[1:]
    path = [w for w in words[:2] if not w.startswith("-")]
    if path and path[0] in ("train",):
        path = path[:2]
    else:
        path = path[:1]
    group = main
    for name in path:
        group = group.commands[name] if hasattr(group, "commands") else group
    options = {o for p in group.get_params(click.Context(group)) for o in p.opts}  # as the parser sees them
    used = {w.split("=")[0] for w in words if w.startswith("-")}
    assert used <= options | {"-h", "--help"}, f"{command}: unknown {used - options}"
    assert CliRunner().invoke(main, [*path, "--help"]).exit_code == 0
