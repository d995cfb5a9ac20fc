"""Translate with a trained Transformer and score it with BLEU.

BLEU is sacrebleu's corpus BLEU (Post 2018, "A Call for Clarity in Reporting BLEU Scores") with its default 13a
tokenisation, computed on detokenised output against the references after the tokenizer's normalisation
(NFKC + lowercase: dstnet trains and scores lowercased Multi30k, so BLEU is case-insensitive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from netsci_dst.errors import DstnetError

__all__ = ["bleu", "translate"]


#: Source tokens per batch of :func:`translate` (its ``max_tokens``), the batches :func:`check_beam` sizes.
BATCH_TOKENS = 4096


def check_beam(model: Any, tokenizer: Any, texts: list[str], beam: int, device: Any) -> None:
    """Refuse, before decoding, a ``--beam`` whose search would not fit in memory, with the bytes it would need.

    Per live hypothesis the search holds the logits, log-probabilities and candidate scores over the vocabulary
    (float32), the repeated encoder output, the decoder's key/value cache (self-attention over the generated
    tokens, cross-attention over the source) and the prefix; a batch holds ``beam`` hypotheses per sentence and
    about :data:`BATCH_TOKENS` source tokens in all (at least one sentence).
    """
    from netsci_dst.memory import check_memory
    from netsci_dst.models.decoding import MAX_LEN_MARGIN

    if beam < 1:
        raise DstnetError(f"--beam must be at least 1, got {beam}")
    cfg = model.config
    src_len = 1 + max((len(ids) for ids in tokenizer.encode_batch(texts)), default=0)  # with the eos
    steps = min(int(cfg.max_len), src_len + MAX_LEN_MARGIN)
    floats = 3 * cfg.vocab_size + src_len * cfg.d_model + 2 * cfg.n_decoder_layers * cfg.d_model * (steps + src_len)
    per_hypothesis = 4 * floats + 16 * steps
    hypotheses = beam * max(1, BATCH_TOKENS // (src_len * beam))
    free = torch.cuda.mem_get_info(device)[0] if getattr(device, "type", "cpu") == "cuda" else None
    check_memory(hypotheses * per_hypothesis, f"--beam {beam}", "use a smaller --beam", available=free)


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (0-100) of ``hypotheses`` against one reference each (sacrebleu, 13a tokenisation)."""
    import sacrebleu

    if len(hypotheses) != len(references):
        raise DstnetError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not references:
        raise DstnetError("BLEU of an empty corpus is undefined")
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def translate(
    model: Any,
    tokenizer: Any,
    sentences: Sequence[str],
    *,
    beam: int = 1,
    max_tokens: int = BATCH_TOKENS,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[str]:
    """Translate ``sentences`` (greedy for ``beam == 1``, beam search otherwise); returns detokenised text.

    Sentences are batched by length (about ``max_tokens`` source tokens per batch) and returned in input order.
    """
    from tqdm.auto import tqdm

    from netsci_dst.data.translation import collate
    from netsci_dst.models.decoding import beam_search, greedy_decode

    if beam < 1:
        raise DstnetError(f"beam must be >= 1, got {beam}")
    src = [np.asarray([*ids, tokenizer.eos_id], dtype=np.int64) for ids in tokenizer.encode_batch(list(sentences))]
    order = np.argsort([len(s) for s in src], kind="stable")
    out: list[str] = [""] * len(src)
    batches: list[np.ndarray] = []  # sorted by length, so a batch's last sentence is its longest
    start = 0
    while start < len(order):
        end = start + 1
        while end < len(order) and (end - start + 1) * len(src[order[end]]) * beam <= max_tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    for index in tqdm(batches, desc="translating", leave=False, disable=not progress, unit="batch"):
        s, _, _ = collate(src, src, index, tokenizer.pad_id, tokenizer.bos_id)
        s = s.to(device)
        if beam == 1:
            ids = greedy_decode(model, s, tokenizer.bos_id, tokenizer.eos_id)
        else:
            ids = beam_search(model, s, tokenizer.bos_id, tokenizer.eos_id, beam_size=beam)
        for i, seq in zip(index, ids, strict=True):
            out[int(i)] = tokenizer.decode(seq)
    return out
