"""Language-model data: a local text corpus, its BPE vocabulary, a token stream cut into training blocks.

Corpus: ``--text FILE`` (UTF-8, plain or gzip; one document or sentence per line, blank lines dropped) or a folder
of ``*.txt``/``*.txt.gz`` files (sorted by name); its last ``val_fraction`` of lines (at least one) is the validation
split. Without a corpus: the bundled Multi30k English captions (29,000 training and 1,014 validation sentences of
image descriptions, about 360,000 words). That default is real English text of a size that trains on a CPU in
minutes; it is *not* the papers' pre-training corpus (C4/OpenWebText-scale, billions of tokens), so its perplexities
are not comparable with theirs.

Tokens: a BPE vocabulary (Sennrich et al. 2016) learned on the training lines with the Hugging Face ``tokenizers``
library (:class:`~netsci_dst.data.translation.SubwordTokenizer`: NFKC, single spaces, lowercase) and cached on disk.
Every line is encoded and ended with ``</s>``, and the lines are concatenated into one stream. A training *block*
is ``seq_len + 1`` consecutive tokens (inputs and shifted targets); blocks do not overlap, and each epoch visits
them in an order drawn from a generator seeded with ``(seed, epoch)``.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from netsci_dst.errors import DstnetError

__all__ = ["Corpus", "encode_stream", "load_corpus", "read_lines", "unigram_perplexity"]

#: A corpus larger than this many bytes is refused before it is read (the stream lives in memory).
MAX_CORPUS_BYTES = 2 * 1024**3


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file, plain or gzip (``.gz``), each without trailing whitespace; one-line errors for
    unreadable, non-UTF-8 or empty files."""
    try:
        if path.stat().st_size > MAX_CORPUS_BYTES:
            raise DstnetError(f"{path}: larger than {MAX_CORPUS_BYTES / 1024**3:.0f} GiB; split the corpus")
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read(MAX_CORPUS_BYTES + 1)
            if len(raw) > MAX_CORPUS_BYTES:
                raise DstnetError(f"{path}: more than {MAX_CORPUS_BYTES / 1024**3:.0f} GiB uncompressed")
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:
        kind = "gzip " if path.suffix == ".gz" else ""
        raise DstnetError(f"{path}: not a readable {kind}file ({e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DstnetError(f"{path}: not UTF-8 text (line {line}, byte {e.start})") from None
    if not text.strip():
        raise DstnetError(f"{path}: empty file")
    lines = text.split("\n")  # not splitlines(): it would also split on U+2028, U+0085...
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip() for line in lines]


@dataclass
class Corpus:
    """Training and validation lines of a corpus, and where they came from."""

    train: list[str]
    val: list[str]
    source: str


def load_corpus(text: str | Path | None = None, val_fraction: float = 0.05) -> Corpus:
    """The corpus of ``text`` (a file, a folder of ``*.txt[.gz]``, or None for the bundled Multi30k English
    captions), blank lines dropped, split into training lines and the last ``val_fraction`` for validation."""
    if text is None:
        from netsci_dst.data.translation import load_multi30k

        train = [s for s, _ in load_multi30k(None, "train")]
        val = [s for s, _ in load_multi30k(None, "val")]
        return Corpus(train, val, "bundled Multi30k English captions")
    if not 0.0 < val_fraction < 1.0:
        raise DstnetError(f"val_fraction must be in (0, 1), got {val_fraction}")
    path = Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith((".txt", ".txt.gz")))
        if not files:
            raise DstnetError(f"{path}: no *.txt or *.txt.gz files in this folder")
    elif path.is_file():
        files = [path]
    else:
        raise DstnetError(f"{path}: no such file or folder")
    lines = [line for f in files for line in read_lines(f) if line.strip()]
    if len(lines) < 2:
        raise DstnetError(f"{path}: {len(lines)} non-blank line(s); a corpus needs training and validation lines")
    n_val = max(1, int(len(lines) * val_fraction))
    return Corpus(lines[:-n_val], lines[-n_val:], str(path.resolve()))


def encode_stream(lines: Sequence[str], tokenizer) -> np.ndarray:
    """One int64 token stream: every line's subword ids followed by ``</s>``."""
    eos = tokenizer.eos_id
    ids = tokenizer.encode_batch(list(lines))
    total = sum(len(x) + 1 for x in ids)
    stream = np.empty(total, dtype=np.int64)
    pos = 0
    for x in ids:
        stream[pos : pos + len(x)] = x
        stream[pos + len(x)] = eos
        pos += len(x) + 1
    return stream


def block_count(stream: np.ndarray, seq_len: int) -> int:
    """Non-overlapping blocks of ``seq_len + 1`` tokens that fit in ``stream`` (consecutive blocks share one
    token: block ``i`` is ``stream[i L : i L + L + 1]``)."""
    return max(0, (len(stream) - 1) // seq_len)


def unigram_perplexity(train: np.ndarray, val: np.ndarray, vocab_size: int) -> float:
    """Perplexity of ``val`` under the add-one smoothed unigram distribution of ``train``: the bar a language model
    must pass to have learned anything beyond token frequencies."""
    counts = np.bincount(train, minlength=vocab_size).astype(np.float64) + 1.0
    logp = np.log(counts / counts.sum())
    return float(math.exp(-logp[val].mean()))
