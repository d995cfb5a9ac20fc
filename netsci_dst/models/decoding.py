"""Greedy decoding and beam search for the encoder-decoder :class:`~netsci_dst.models.transformer.Transformer`.

Both functions work on any model with

- ``model.config.max_len`` and ``model.config.pad_id``;
- ``model.encode(src) -> (memory, src_key_padding)``;
- ``model.decode(tgt_in, memory, src_key_padding) -> logits (N, T, V)``;

and, when it also has ``init_cache(memory, src_key_padding)`` and ``decode_step(tokens, cache)`` (the Transformer
does), they use that incremental key/value cache (``use_cache=True``, the default): each step feeds one token
instead of re-running the decoder over the whole prefix, with the same result (the cache path is the same
computation as the last position of ``decode``; the tests check that both paths agree).

Length: at most ``max_len`` tokens are generated per sentence, the eos included; a sentence that hits the limit
without an eos is returned as is. The default ``max_len`` is ``min(model.config.max_len, src_len + 50)`` with
``src_len`` the longest non-pad source length of the batch. Returned sequences never contain the bos or the eos.

Beam search keeps ``beam_size`` live hypotheses per sentence, flattened into the batch, scored by their summed
log-probabilities. Each step it takes the ``2 * beam_size`` best extensions: those ending in eos among the first
``beam_size`` are finished, the best ``beam_size`` others stay live. As in OpenNMT-py, a sentence is done when its
best extension of the step is an eos (every live hypothesis then has a lower log-probability, which can only fall
further: with ``alpha = 0`` nothing the beam still holds can win); at ``max_len`` its live hypotheses are finished
as they are. (Stopping after ``beam_size`` finished hypotheses, fairseq's rule, can drop the best live one when
poor hypotheses end early, so it is not used.) The final choice maximises ``log p(Y) / lp(Y)`` over the finished
hypotheses with the GNMT length penalty (Wu et al. 2016) ``lp(Y) = ((5 + |Y|) / 6) ** alpha``, ``|Y|`` counting
generated tokens including the eos, ``alpha = length_penalty`` (default 0.6, GNMT's and OpenNMT-py's
``-length_penalty wu -alpha 0.6``; 0 ranks by plain log-probability). Within one step all live hypotheses have
the same length, so the penalty does not change the search, only the final ranking; with ``beam_size=1`` beam
search is exactly greedy decoding.

Both run under ``torch.no_grad()`` in eval mode and restore the model's previous train/eval mode.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F

from netsci_dst.errors import DstnetError

__all__ = ["beam_search", "default_max_len", "greedy_decode", "length_penalty_wu"]

#: Extra target tokens allowed beyond the longest source sentence by default.
MAX_LEN_MARGIN = 50


def length_penalty_wu(length: int, alpha: float) -> float:
    """GNMT length penalty ``((5 + length) / 6) ** alpha``."""
    return ((5.0 + length) / 6.0) ** alpha


def default_max_len(model: Any, src: torch.Tensor) -> int:
    """``min(model.config.max_len, src_len + 50)``, ``src_len`` the longest non-pad source length in ``src``."""
    src_len = int((src != model.config.pad_id).sum(dim=1).max()) if src.numel() else 0
    return min(int(model.config.max_len), src_len + MAX_LEN_MARGIN)


@contextmanager
def _inference(model: Any):
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def _check(model: Any, src: Any, bos_id: int, eos_id: int, max_len: int | None) -> int:
    if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.dtype != torch.long:
        raise DstnetError("src must be a 2-D long tensor (batch, length)")
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise DstnetError(f"{name} must be a non-negative int, got {value!r}")
    if max_len is None:
        return default_max_len(model, src)
    if isinstance(max_len, bool) or not isinstance(max_len, numbers.Integral) or max_len < 1:
        raise DstnetError(f"max_len must be a positive int, got {max_len!r}")
    if max_len > model.config.max_len:
        raise DstnetError(f"max_len {max_len} exceeds the model's max_len {model.config.max_len}")
    return int(max_len)


class _Stepper:
    """Next-token logits for a batch of prefixes, cached (one token per step) or recomputed over the prefix."""

    def __init__(self, model: Any, memory: torch.Tensor, padding: torch.Tensor, use_cache: bool) -> None:
        self.model = model
        self.cached = use_cache and hasattr(model, "init_cache") and hasattr(model, "decode_step")
        self.memory, self.padding = memory, padding
        self.cache = model.init_cache(memory, padding) if self.cached else None

    def logits(self, prefix: torch.Tensor) -> torch.Tensor:
        """``prefix`` ``(N, t)`` (bos first): logits ``(N, V)`` of token ``t + 1``. Cached: ``prefix[:, :-1]`` must be
        what was fed before, in the current row order."""
        if self.cached:
            return self.model.decode_step(prefix[:, -1], self.cache)
        return self.model.decode(prefix, self.memory, self.padding)[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        """Rows ``index`` become the new rows (memory rows must stay within each sentence's block)."""
        if self.cached:
            self.cache.reorder(index)


def greedy_decode(
    model: Any,
    src: torch.Tensor,
    bos_id: int,
    eos_id: int,
    max_len: int | None = None,
    *,
    use_cache: bool = True,
) -> list[list[int]]:
    """Greedy (argmax) translation of each sentence of ``src`` ``(B, S)``.

    Args:
        model: a Transformer (or anything with the interface in the module docstring).
        src: source token ids, right-padded with ``model.config.pad_id``.
        bos_id, eos_id: the target's begin and end tokens.
        max_len: most generated tokens per sentence, eos included (default ``min(config.max_len, src_len + 50)``).
        use_cache: use the model's incremental key/value cache when it has one.

    Returns:
        one list of token ids per sentence, without bos and eos.
    """
    max_len = _check(model, src, bos_id, eos_id, max_len)
    batch = src.shape[0]
    out: list[list[int]] = [[] for _ in range(batch)]
    if batch == 0:
        return out
    with _inference(model):
        memory, padding = model.encode(src)
        stepper = _Stepper(model, memory, padding, use_cache)
        prefix = torch.full((batch, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            token = stepper.logits(prefix).argmax(dim=-1)
            token = token.masked_fill(finished, eos_id)
            for b, (t, ended) in enumerate(zip(token.tolist(), finished.tolist(), strict=True)):
                if not ended and t != eos_id:
                    out[b].append(t)
            finished |= token == eos_id
            if bool(finished.all()):
                break
            prefix = torch.cat([prefix, token.unsqueeze(1)], dim=1)
    return out


def beam_search(
    model: Any,
    src: torch.Tensor,
    bos_id: int,
    eos_id: int,
    beam_size: int = 2,
    max_len: int | None = None,
    length_penalty: float = 0.6,
    *,
    use_cache: bool = True,
) -> list[list[int]]:
    """Beam search translation of each sentence of ``src`` ``(B, S)`` (see the module docstring).

    Args:
        model, src, bos_id, eos_id, max_len, use_cache: as for :func:`greedy_decode`.
        beam_size: live hypotheses per sentence (1 = greedy).
        length_penalty: GNMT ``alpha`` for the final ranking, ``>= 0`` (0 = plain log-probability).

    Returns:
        the best hypothesis per sentence, without bos and eos.
    """
    max_len = _check(model, src, bos_id, eos_id, max_len)
    if isinstance(beam_size, bool) or not isinstance(beam_size, numbers.Integral) or beam_size < 1:
        raise DstnetError(f"beam_size must be a positive int, got {beam_size!r}")
    if not isinstance(length_penalty, numbers.Real) or not math.isfinite(length_penalty) or length_penalty < 0:
        raise DstnetError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")
    k = int(beam_size)
    alpha = float(length_penalty)
    batch = src.shape[0]
    if batch == 0:
        return []
    device = src.device
    # per sentence: (penalised score, tokens); a list so that ties go to the hypothesis found first
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    with _inference(model):
        memory, padding = model.encode(src)
        memory = memory.repeat_interleave(k, dim=0)
        padding = padding.repeat_interleave(k, dim=0)
        stepper = _Stepper(model, memory, padding, use_cache)
        prefix = torch.full((batch * k, 1), bos_id, dtype=torch.long, device=device)
        scores = torch.zeros(batch, k, dtype=torch.float32, device=device)
        scores[:, 1:] = -math.inf  # all beams start identical: expand only the first
        block = (torch.arange(batch, device=device) * k).unsqueeze(1)
        for step in range(max_len):
            logp = F.log_softmax(stepper.logits(prefix).float(), dim=-1)
            vocab = logp.shape[-1]
            candidates = (scores.unsqueeze(2) + logp.view(batch, k, vocab)).view(batch, k * vocab)
            n_cand = min(2 * k, k * vocab)
            top_scores, top_index = candidates.topk(n_cand, dim=1)  # sorted, best first
            origin = torch.div(top_index, vocab, rounding_mode="floor")
            token = top_index % vocab
            is_eos = token == eos_id

            hits = (is_eos[:, :k] & torch.isfinite(top_scores[:, :k])).nonzero().tolist()
            if hits:
                hit_scores = top_scores.tolist()
                hit_origin = origin.tolist()
                penalty = length_penalty_wu(step + 1, alpha)
                for b, r in hits:
                    if done[b]:
                        continue
                    tokens = prefix[b * k + hit_origin[b][r], 1:].tolist()
                    finished[b].append((hit_scores[b][r] / penalty, tokens))

            # the best k extensions that are not eos (there are at most k eos among the 2k candidates)
            rank = torch.arange(n_cand, device=device).expand(batch, n_cand)
            order = torch.where(is_eos, rank + n_cand, rank).argsort(dim=1)[:, :k]
            scores = top_scores.gather(1, order)
            rows = (block + origin.gather(1, order)).view(-1)
            prefix = torch.cat([prefix.index_select(0, rows), token.gather(1, order).view(-1, 1)], dim=1)
            stepper.reorder(rows)

            for b in (is_eos[:, 0] & torch.isfinite(top_scores[:, 0])).nonzero().flatten().tolist():
                done[b] = True
            if all(done):
                break

        # sentences that reached max_len: their live hypotheses end there, without eos
        live_scores = scores.tolist()
        for b in range(batch):
            if done[b]:
                continue
            for r in range(k):
                value = live_scores[b][r]
                if math.isfinite(value):
                    tokens = prefix[b * k + r, 1:].tolist()
                    finished[b].append((value / length_penalty_wu(len(tokens), alpha), tokens))

    best: list[list[int]] = []
    for hyps in finished:
        if not hyps:  # every continuation had probability 0
            best.append([])
            continue
        top = hyps[0]
        for hyp in hyps[1:]:
            if hyp[0] > top[0]:
                top = hyp
        best.append(top[1])
    return best
