"""Machine-translation data: the Multi30k corpus, a joint subword vocabulary, token-based batching.

Corpus: Multi30k task 1 English-German (D. Elliott, S. Frank, K. Sima'an, L. Specia, "Multi30K: Multilingual
English-German Image Descriptions", 5th Workshop on Vision and Language, 2016), bundled under data/multi30k
(train 29,000 pairs, val 1,014, test_2016_flickr 1,000; see data/README.md).

Subwords: byte-pair encoding (R. Sennrich, B. Haddow, A. Birch, "Neural Machine Translation of Rare Words with
Subword Units", ACL 2016) learned jointly on both languages with the HuggingFace ``tokenizers`` library.

Batching: sentences of similar length are grouped and batches hold at most ``max_tokens`` padded tokens, the scheme
of "Attention Is All You Need" (Vaswani et al., 2017) and fairseq.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import tokenizers
import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from netsci_dst.data.download import cache_dir
from netsci_dst.errors import DstnetError

SPLIT_PREFIX = {"train": "train", "val": "val", "test": "test_2016_flickr"}
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")  # ids 0, 1, 2, 3 in this order
_CACHE_FORMAT = 1  # bump when the tokenizer pipeline below changes, so that old cache files are not reused


def bundled_multi30k_dir() -> Path:
    """Folder of the bundled Multi30k corpus (installed as the package resource ``netsci_dst._bundled``)."""
    root = Path(str(resources.files("netsci_dst._bundled")))
    return root / "multi30k"


def _read_lines(directory: Path, prefix: str, lang: str) -> list[str]:
    """Lines of ``{prefix}.{lang}`` or ``{prefix}.{lang}.gz`` (:func:`netsci_dst.data.text.read_lines`)."""
    from netsci_dst.data.text import read_lines

    candidates = [directory / f"{prefix}.{lang}", directory / f"{prefix}.{lang}.gz"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DstnetError(f"{directory}: missing {prefix}.{lang}[.gz]")
    return read_lines(path)


def load_multi30k(
    data_dir: str | Path | None = None,
    split: str = "train",
    src: str = "en",
    tgt: str = "de",
    limit: int | None = None,
) -> list[tuple[str, str]]:
    """Aligned (source, target) sentence pairs of one Multi30k split, in corpus order.

    ``data_dir`` is a folder holding ``{prefix}.{lang}[.gz]`` files, one sentence per line (None: the bundled
    corpus); ``split`` is "train", "val" or "test" (the 2016 Flickr test set); ``limit`` keeps the first N pairs.
    Text is returned as in the files (original case), without trailing whitespace.
    """
    if split not in SPLIT_PREFIX:
        raise DstnetError(f"unknown split {split!r} (known: {', '.join(SPLIT_PREFIX)})")
    if src == tgt:
        raise DstnetError(f"source and target language are both {src!r}")
    if limit is not None and limit < 0:
        raise DstnetError(f"limit must be >= 0, got {limit}")
    directory = bundled_multi30k_dir() if data_dir is None else Path(data_dir)
    if not directory.is_dir():
        raise DstnetError(f"{directory}: no such data folder")
    prefix = SPLIT_PREFIX[split]
    src_lines = _read_lines(directory, prefix, src)
    tgt_lines = _read_lines(directory, prefix, tgt)
    if len(src_lines) != len(tgt_lines):
        raise DstnetError(
            f"{directory}: {prefix}.{src} has {len(src_lines)} lines but {prefix}.{tgt} has {len(tgt_lines)};"
            " the files are not aligned"
        )
    pairs = list(zip(src_lines, tgt_lines, strict=True))
    return pairs if limit is None else pairs[:limit]


class SubwordTokenizer:
    """A joint (source + target) BPE subword vocabulary built with the HuggingFace ``tokenizers`` library.

    Normalization: NFKC, every whitespace run becomes one space, leading/trailing spaces are stripped, then
    lowercasing. The corpus is thus lowercased for translation and for BLEU: hypotheses from :meth:`decode` are
    compared against :meth:`normalize` of the references.

    Spaces: the Metaspace pre-tokenizer turns each space into the marker "▁" glued to the following word (and one
    before the first word); the Metaspace decoder turns markers back into spaces and drops the leading one. On its
    own Metaspace keeps runs of spaces (as lone "▁" tokens) and loses a leading space; the whitespace normalization
    above removes both cases, so ``decode(encode(s)) == normalize(s)`` exactly for any text whose characters were
    seen in training. Characters never seen become ``<unk>``, which :meth:`decode` shows as the text "<unk>".
    Special-token strings inside input text are encoded as ordinary characters, never as special ids.

    Special ids: ``<pad>`` = 0, ``<s>`` = 1, ``</s>`` = 2, ``<unk>`` = 3.
    """

    def __init__(self, tokenizer: Tokenizer):
        ids = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
        if ids != list(range(len(SPECIAL_TOKENS))):
            raise DstnetError(f"not a dstnet subword tokenizer: special tokens {SPECIAL_TOKENS} have ids {ids}")
        tokenizer.encode_special_tokens = True  # "</s>" typed in a sentence is text, not the end of sentence
        self._tok = tokenizer

    @staticmethod
    def _empty() -> Tokenizer:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.normalizer = normalizers.Sequence(
            [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip(), normalizers.Lowercase()]
        )
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        return tok

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> SubwordTokenizer:
        """Learn a BPE vocabulary of at most ``vocab_size`` entries (special tokens and alphabet included).

        Deterministic: the same texts give the same vocabulary and merges.
        """
        if vocab_size < len(SPECIAL_TOKENS) + 1:
            raise DstnetError(f"vocab_size must be > {len(SPECIAL_TOKENS)}, got {vocab_size}")
        tok = cls._empty()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer=trainer)
        return cls(tok)

    @property
    def pad_id(self) -> int:
        """Id of ``<pad>`` (0)."""
        return 0

    @property
    def bos_id(self) -> int:
        """Id of ``<s>`` (1), the first decoder input."""
        return 1

    @property
    def eos_id(self) -> int:
        """Id of ``</s>`` (2), appended to every encoded sentence by :func:`encode_pairs`."""
        return 2

    @property
    def unk_id(self) -> int:
        """Id of ``<unk>`` (3), for characters never seen in training."""
        return 3

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def max_id(self) -> int:
        """The largest id the tokenizer can produce (a model's vocabulary must be larger)."""
        return max(self._tok.get_vocab(with_added_tokens=True).values(), default=-1)

    def normalize(self, text: str) -> str:
        """The normalized text (NFKC, single spaces, stripped, lowercase): what :meth:`decode` reproduces."""
        return self._tok.normalizer.normalize_str(text)

    def encode(self, text: str) -> list[int]:
        """Subword ids of one sentence, without ``<s>`` or ``</s>``."""
        return self._tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Subword ids of many sentences (the library's parallel batch encoder), without ``<s>`` or ``</s>``."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def _strip(self, ids: Iterable[int]) -> list[int]:
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(i)
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of an id sequence: stops at the first ``</s>``, skips ``<pad>`` and ``<s>``; ``<unk>`` stays visible."""
        return self._tok.decode(self._strip(ids), skip_special_tokens=False)

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        """:meth:`decode` of each sequence (rows of a 2-D tensor or array work too)."""
        if hasattr(batch, "tolist"):
            batch = batch.tolist()
        return self._tok.decode_batch([self._strip(ids) for ids in batch], skip_special_tokens=False)

    def to_str(self) -> str:
        """The whole tokenizer as a JSON string (stored inside checkpoints)."""
        return self._tok.to_str()

    @classmethod
    def from_str(cls, s: str) -> SubwordTokenizer:
        """Inverse of :meth:`to_str`."""
        try:
            tok = Tokenizer.from_str(s)
        except Exception as e:  # the library raises a bare Exception for malformed JSON
            first_line = (str(e) or type(e).__name__).splitlines()[0]
            raise DstnetError(f"not a valid tokenizer JSON ({first_line})") from None
        missing = [part for part in ("normalizer", "decoder") if getattr(tok, part) is None]
        if missing:
            raise DstnetError(f"not a dstnet subword tokenizer (no {' or '.join(missing)})")
        return cls(tok)

    def save(self, path: str | Path) -> None:
        """Write the JSON to ``path`` atomically (parent folders are created)."""
        _write_atomic(Path(path), self.to_str())

    @classmethod
    def load(cls, path: str | Path) -> SubwordTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        path = Path(path)
        try:
            s = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise DstnetError(f"{path}: no such tokenizer file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise DstnetError(f"{path}: unreadable tokenizer file ({e})") from None
        try:
            return cls.from_str(s)
        except DstnetError as e:
            raise DstnetError(f"{path}: {e}") from None


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dstnet-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached_tokenizer(
    pairs: Sequence[tuple[str, str]], vocab_size: int = 8000, cache: str | Path | None = None
) -> SubwordTokenizer:
    """A joint tokenizer trained on every source and target sentence of ``pairs``, cached on disk
    (:func:`cached_text_tokenizer`)."""
    return cached_text_tokenizer([s for pair in pairs for s in pair], vocab_size, cache)


def cached_text_tokenizer(
    texts: Sequence[str], vocab_size: int = 8000, cache: str | Path | None = None
) -> SubwordTokenizer:
    """A tokenizer trained on ``texts``, cached on disk.

    The JSON lives in ``cache`` (default ``cache_dir()/tokenizers``) under a name keyed by the SHA-256 of the training
    text, the vocabulary size and the ``tokenizers`` version; an unreadable cache file is retrained and replaced.
    """
    digest = hashlib.sha256()
    digest.update(f"dstnet-bpe v{_CACHE_FORMAT} tokenizers {tokenizers.__version__} vocab {vocab_size}\n".encode())
    for s in texts:
        digest.update(s.encode("utf-8"))
        digest.update(b"\n")
    folder = Path(cache) if cache is not None else cache_dir() / "tokenizers"
    path = folder / f"bpe{vocab_size}-{digest.hexdigest()[:24]}.json"
    if path.is_file():
        try:
            return SubwordTokenizer.load(path)
        except DstnetError:
            pass  # corrupt or foreign: retrain below and overwrite it
    tok = SubwordTokenizer.train(texts, vocab_size=vocab_size)
    tok.save(path)
    return tok


def encode_pairs(
    pairs: Sequence[tuple[str, str]], tokenizer: SubwordTokenizer
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """int64 id arrays of every source and target sentence, each ending with ``</s>``; no pair is dropped."""
    eos = tokenizer.eos_id
    src = tokenizer.encode_batch([s for s, _ in pairs])
    tgt = tokenizer.encode_batch([t for _, t in pairs])
    return (
        [np.array([*ids, eos], dtype=np.int64) for ids in src],
        [np.array([*ids, eos], dtype=np.int64) for ids in tgt],
    )


def token_batches(
    src_lengths: Sequence[int],
    tgt_lengths: Sequence[int],
    max_tokens: int,
    *,
    shuffle: bool = True,
    seed: int = 0,
) -> list[np.ndarray]:
    """Group pair indices into batches of similar length holding at most ``max_tokens`` padded tokens.

    Indices are sorted by (source length, target length) and batches filled greedily while
    ``len(batch) * max(max source length, max target length + 1) <= max_tokens`` (the +1 counts the ``<s>`` that
    starts the decoder input; when the lengths already include ``</s>`` it is a conservative bound). A pair too long
    for ``max_tokens`` gets a batch of its own: nothing is dropped, every index is in exactly one batch.
    With ``shuffle``, ties in length are broken at random and the order of the batches is permuted, both with
    ``np.random.default_rng(seed)``; without, batches come in sorted order (shortest first), deterministically.
    """
    if max_tokens < 1:
        raise DstnetError(f"max_tokens must be >= 1, got {max_tokens}")
    src_len = np.asarray(src_lengths, dtype=np.int64)
    tgt_len = np.asarray(tgt_lengths, dtype=np.int64)
    if src_len.shape != tgt_len.shape or src_len.ndim != 1:
        raise DstnetError(f"{len(src_len)} source lengths but {len(tgt_len)} target lengths")
    rng = np.random.default_rng(seed) if shuffle else None
    order = rng.permutation(len(src_len)) if rng is not None else np.arange(len(src_len))
    order = order[np.lexsort((tgt_len[order], src_len[order]))]  # lexsort is stable; last key is the primary one

    batches: list[np.ndarray] = []
    start, max_src, max_tgt = 0, 0, 0
    for pos, i in enumerate(order):
        s, t = int(src_len[i]), int(tgt_len[i])
        new_src, new_tgt = max(max_src, s), max(max_tgt, t)
        if pos > start and (pos - start + 1) * max(new_src, new_tgt + 1) > max_tokens:
            batches.append(order[start:pos])
            start, new_src, new_tgt = pos, s, t
        max_src, max_tgt = new_src, new_tgt
    if len(order) > start:
        batches.append(order[start:])
    if rng is not None:
        batches = [batches[k] for k in rng.permutation(len(batches))]
    return batches


def collate(
    src: Sequence[np.ndarray], tgt: Sequence[np.ndarray], index: np.ndarray, pad_id: int, bos_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded long tensors of the pairs in ``index``: ``src [B, S]``, ``tgt_in [B, T]``, ``tgt_out [B, T]``.

    ``tgt_out`` is the target as encoded (ending with ``</s>``); ``tgt_in`` is ``<s>`` followed by the target
    without its last id (teacher forcing). Shorter rows are filled with ``pad_id`` on the right.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    b = len(index)
    s_len = max((len(src[i]) for i in index), default=0)
    t_len = max((len(tgt[i]) for i in index), default=0)
    src_out = np.full((b, s_len), pad_id, dtype=np.int64)
    tgt_in = np.full((b, t_len), pad_id, dtype=np.int64)
    tgt_out = np.full((b, t_len), pad_id, dtype=np.int64)
    for row, i in enumerate(index):
        s, t = src[i], tgt[i]
        src_out[row, : len(s)] = s
        tgt_out[row, : len(t)] = t
        if len(t):
            tgt_in[row, 0] = bos_id
            tgt_in[row, 1 : len(t)] = t[:-1]
    return torch.from_numpy(src_out), torch.from_numpy(tgt_in), torch.from_numpy(tgt_out)
