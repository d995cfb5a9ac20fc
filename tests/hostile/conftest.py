"""Shared pieces of the hostile-input suite (issue 17): the CLI in-process, the one-line-error check, a wall-clock
bound on every case, hashes of a folder's files, and one tiny training run per test process.

Every case must end within its wall-clock bound (:func:`seconds`, 30 s by default): a hang raises :class:`Hang`,
which neither click nor the CLI's error handler catches (it is not an ``Exception``), so the case fails.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from netsci_dst.cli import main

DEFAULT_SECONDS = 30
#: The tiny MLP run of the suite (about 3 s on one core).
TINY_TRAIN = ["--method", "set", "--sizes", "784,16,16,10", "--train-limit", "64", "--test-limit", "32", "--quiet"]


class Hang(BaseException):
    """A case ran past its wall-clock bound."""


def seconds(limit: int) -> Callable:
    """Give a test its own wall-clock bound (default :data:`DEFAULT_SECONDS`)."""

    def mark(test: Callable) -> Callable:
        test.wall_clock = limit
        return test

    return mark


@pytest.fixture(autouse=True)
def wall_clock(request):
    """Fail a case that runs past its bound, instead of letting it hang the suite."""
    limit = getattr(request.function, "wall_clock", DEFAULT_SECONDS)

    def expired(signum, frame):
        raise Hang(f"{request.node.name} ran past {limit} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("DSTNET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


def dstnet(*args: object, input: str | None = None) -> Result:
    """``dstnet ARGS`` in this process, stdout and stderr apart."""
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def one_line_error(result: Result, *, code: int = 2, match: str | None = None) -> str:
    """Assert that ``result`` failed with exit ``code``, exactly one ``Error: ...`` line on stderr and no traceback
    anywhere; returns that line."""
    assert not isinstance(result.exception, Exception), f"uncaught {result.exception!r}"
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    if match is not None:
        assert match in lines[0], lines[0]
    return lines[0]


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path (the run directory's lock file excluded: it holds the
    pid of the last process that claimed the folder, not run data)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def leftovers(folder: Path) -> list[str]:
    """Temporary files (``.dstnet-*``) and empty files under ``folder``: what a half-done write would leave."""
    return [
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and (p.name.startswith(".dstnet-") or (p.stat().st_size == 0 and p.name != ".lock"))
    ]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 2-epoch tiny MLP run (checkpoints, metrics, mask snapshots); copy it before changing anything."""
    os.environ.setdefault("DSTNET_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    out = tmp_path_factory.mktemp("hostile") / "run"
    r = dstnet("train", "mlp", *TINY_TRAIN, "--epochs", 2, "--out", out)
    assert r.exit_code == 0, r.output
    return out
