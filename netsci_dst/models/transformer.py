"""The encoder-decoder Transformer of the Cannistraci-Hebb papers' machine translation experiments.

[CHTs] Zhang et al. 2024 and [CHTss] arXiv 2501.19107 train a Transformer (Vaswani et al. 2017) with OpenNMT-py on
Multi30k, IWSLT14 and WMT17 and make every Linear sparse except the embeddings and the output generator. This
module reproduces that network in plain PyTorch, following OpenNMT-py's choices:

- **pre-norm** residual blocks: ``x + dropout(sublayer(LayerNorm(x)))`` (LayerNorm eps 1e-6), with a final
  LayerNorm on the encoder output (``encoder.norm``) and on the decoder output (``decoder.norm``);
- sinusoidal positional encodings added to the embeddings scaled by ``sqrt(d_model)``, then dropout;
- separate source and target embeddings over one joint subword vocabulary; the generator is a dense
  ``nn.Linear(d_model, vocab_size)`` returning logits (apply ``log_softmax`` yourself);
- Glorot-uniform (Xavier) initialisation of every 2-D weight, the embeddings and the generator included (as
  OpenNMT's ``-param_init_glorot``); every bias 0, LayerNorm weight 1 and bias 0; the padding row of each
  embedding is 0 (and, with ``padding_idx``, gets no gradient).

Attention uses four separate ``nn.Linear(d, d)`` named ``q_proj``, ``k_proj``, ``v_proj`` and ``out_proj`` so that the
DST engine sees each one (``nn.MultiheadAttention`` packs q/k/v into one parameter), and
``torch.nn.functional.scaled_dot_product_attention`` with a boolean mask (True = the key takes part). The percolation
structure of [CHTs] §3.2.2 (see :mod:`netsci_dst.dst.percolation`): output unit ``j`` of ``q_proj`` and of ``k_proj`` is
one unit (they meet in ``q . k``), so the two are *coupled*; ``v_proj``'s output ``j`` is ``out_proj``'s input ``j`` and
``w_1``'s output ``j`` is ``w_2``'s input ``j`` (*chains*). Inputs fed by the residual stream are never percolated.

Masks: encoder self-attention and decoder cross-attention hide source padding keys; decoder self-attention is
causal only (targets are right-padded, so a real position never sees a pad key anyway; this also keeps the
cached step-by-step decoder of :meth:`Transformer.decode_step` exactly equivalent to :meth:`Transformer.decode`).
A query row whose keys would all be hidden (an all-padding source) is allowed to see every key instead, so its
output is finite garbage rather than NaN; real inputs always end with an eos, so this never touches them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netsci_dst.dst.percolation import Structure
from netsci_dst.errors import DstnetError

__all__ = [
    "PAPER_CONFIG",
    "DecoderCache",
    "FeedForward",
    "MultiHeadAttention",
    "Transformer",
    "TransformerConfig",
]

#: The CHTss paper's Multi30k setting; use as ``TransformerConfig(vocab_size=v, **PAPER_CONFIG)``.
PAPER_CONFIG: dict[str, Any] = dict(
    d_model=512,
    n_heads=8,
    d_ff=1024,
    n_encoder_layers=6,
    n_decoder_layers=6,
    dropout=0.1,
    attention_dropout=0.1,
)

LAYER_NORM_EPS = 1e-6


@dataclass
class TransformerConfig:
    """The Transformer's hyperparameters (plain values; :meth:`to_dict` goes into checkpoints).

    Attributes:
        vocab_size: size of the joint source/target subword vocabulary.
        d_model: width of the residual stream (a multiple of ``n_heads``).
        n_heads: attention heads.
        d_ff: hidden width of the position-wise feed-forward blocks.
        n_encoder_layers, n_decoder_layers: number of layers (at least 1 each).
        dropout: dropout on embeddings, sub-layer outputs and the FFN hidden layer, in [0, 1).
        attention_dropout: dropout on the attention probabilities (training only), in [0, 1).
        max_len: longest source or target sequence (size of the positional-encoding table).
        pad_id: the padding token id (in ``[0, vocab_size)``).
    """

    vocab_size: int
    d_model: int = 512
    n_heads: int = 8
    d_ff: int = 1024
    n_encoder_layers: int = 6
    n_decoder_layers: int = 6
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_len: int = 256
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "d_ff", "n_encoder_layers", "n_decoder_layers", "max_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise DstnetError(f"{name} must be a positive int, got {value!r}")
            setattr(self, name, int(value))
        if self.d_model % self.n_heads:
            raise DstnetError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
                raise DstnetError(f"{name} must be in [0, 1), got {value!r}")
            setattr(self, name, float(value))
        pad = self.pad_id
        if isinstance(pad, bool) or not isinstance(pad, numbers.Integral) or not 0 <= pad < self.vocab_size:
            raise DstnetError(f"pad_id must be an int in [0, vocab_size={self.vocab_size}), got {pad!r}")
        self.pad_id = int(pad)

    def to_dict(self) -> dict[str, Any]:
        """The config as a dict of plain values."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TransformerConfig:
        """Inverse of :meth:`to_dict`; unknown or missing keys raise :class:`DstnetError`."""
        if not isinstance(values, dict):
            raise DstnetError(f"a Transformer config must be a dict, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DstnetError(f"unknown Transformer config key(s) {unknown}; known: {', '.join(sorted(known))}")
        if "vocab_size" not in values:
            raise DstnetError("a Transformer config needs vocab_size")
        return cls(**values)


def sinusoidal_encoding(max_len: int, d_model: int) -> torch.Tensor:
    """The ``(max_len, d_model)`` table of Vaswani et al.: sin on even, cos on odd dimensions."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model)
    pe[:, 0::2] = torch.sin(position * div)
    pe[:, 1::2] = torch.cos(position * div)[:, : d_model // 2]
    return pe


def _safe(keep: torch.Tensor) -> torch.Tensor:
    """Let a query row that would see no key see every key (SDPA gives NaN on a fully hidden row)."""
    return keep | ~keep.any(dim=-1, keepdim=True)


def key_padding_mask(key_padding: torch.Tensor) -> torch.Tensor:
    """``(B, 1, 1, S)`` SDPA mask (True = attend) from a ``(B, S)`` padding mask (True = pad); NaN-safe."""
    return _safe(~key_padding).unsqueeze(1).unsqueeze(1)


def causal_mask(length: int, device: torch.device | None = None) -> torch.Tensor:
    """``(length, length)`` lower-triangular SDPA mask: query ``t`` sees keys ``<= t``."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention with separate q/k/v/output projections."""

    def __init__(self, d_model: int, n_heads: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.attention_dropout = attention_dropout
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, L, d)`` -> ``(B, H, L, d_head)``."""
        b, length, _ = x.shape
        return x.view(b, length, self.n_heads, self.d_head).transpose(1, 2)

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The projected keys and values of ``x``, split into heads."""
        return self.heads(self.k_proj(x)), self.heads(self.v_proj(x))

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Attention of ``query`` ``(B, Lq, d)`` (not yet projected) over projected keys/values."""
        q = self.heads(self.q_proj(query))
        p = self.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        b, _, length, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(b, length, self.n_heads * self.d_head))

    def forward(self, query: torch.Tensor, key_value: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        k, v = self.keys_values(key_value)
        return self.attend(query, k, v, mask)


class FeedForward(nn.Module):
    """Position-wise feed-forward block: ``w_2(dropout(relu(w_1(x))))``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(torch.relu(self.w_1(x))))


class EncoderLayer(nn.Module):
    """Pre-norm self-attention and feed-forward blocks."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.self_attn_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.self_attn = MultiHeadAttention(d, config.n_heads, config.attention_dropout)
        self.ffn_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.ffn = FeedForward(d, config.d_ff, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, h, mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention and feed-forward blocks."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.self_attn_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.self_attn = MultiHeadAttention(d, config.n_heads, config.attention_dropout)
        self.cross_attn_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.cross_attn = MultiHeadAttention(d, config.n_heads, config.attention_dropout)
        self.ffn_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.ffn = FeedForward(d, config.d_ff, config.dropout)
        self.dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor, cross_mask: torch.Tensor
    ) -> torch.Tensor:
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, h, self_mask))
        x = x + self.dropout(self.cross_attn(self.cross_attn_norm(x), memory, cross_mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))

    def step(self, x: torch.Tensor, cache: DecoderCache, index: int) -> torch.Tensor:
        """One new position ``x`` ``(N, 1, d)``; appends its keys/values to layer ``index`` of ``cache``."""
        h = self.self_attn_norm(x)
        k, v = self.self_attn.keys_values(h)
        if cache.self_k[index] is not None:
            k = torch.cat([cache.self_k[index], k], dim=2)
            v = torch.cat([cache.self_v[index], v], dim=2)
        cache.self_k[index], cache.self_v[index] = k, v
        x = x + self.dropout(self.self_attn.attend(h, k, v, None))  # every cached key is in the past
        h = self.cross_attn_norm(x)
        x = x + self.dropout(self.cross_attn.attend(h, cache.cross_k[index], cache.cross_v[index], cache.cross_mask))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class Encoder(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(config.n_encoder_layers))
        self.norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_decoder_layers))
        self.norm = nn.LayerNorm(config.d_model, eps=LAYER_NORM_EPS)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, self_mask: torch.Tensor, cross_mask: torch.Tensor
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, self_mask, cross_mask)
        return self.norm(x)


@dataclass
class DecoderCache:
    """Per-layer keys/values for incremental decoding (see :meth:`Transformer.init_cache`).

    Attributes:
        self_k, self_v: per decoder layer, ``(N, H, t, d_head)`` self-attention keys/values of the ``t`` positions
            fed so far (None before the first step).
        cross_k, cross_v: per decoder layer, ``(N, H, S, d_head)`` projected encoder memory.
        cross_mask: ``(N, 1, 1, S)`` SDPA mask of the source keys.
        length: positions fed so far (the position of the next token).
    """

    self_k: list[torch.Tensor | None]
    self_v: list[torch.Tensor | None]
    cross_k: list[torch.Tensor]
    cross_v: list[torch.Tensor]
    cross_mask: torch.Tensor
    length: int = 0

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows ``index`` (in that order) of every cached tensor, in place (beam search)."""
        for store in (self.self_k, self.self_v, self.cross_k, self.cross_v):
            for i, t in enumerate(store):
                if t is not None:
                    store[i] = t.index_select(0, index)
        self.cross_mask = self.cross_mask.index_select(0, index)


class Transformer(nn.Module):
    """Encoder-decoder Transformer (pre-norm, OpenNMT-py style) over a joint vocabulary.

    Args:
        config: a :class:`TransformerConfig` (kept as ``self.config``).

    Module names (what the DST engine and :meth:`sparse_layer_names` use): ``src_embedding``, ``tgt_embedding``,
    ``encoder.layers.{i}.self_attn.{q_proj,k_proj,v_proj,out_proj}``, ``encoder.layers.{i}.ffn.{w_1,w_2}``,
    ``decoder.layers.{i}.self_attn.*``, ``decoder.layers.{i}.cross_attn.*``, ``decoder.layers.{i}.ffn.*``,
    ``encoder.norm``, ``decoder.norm`` and ``generator``.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise DstnetError(f"config must be a TransformerConfig, got {type(config).__name__}")
        self.config = config
        d = config.d_model
        self.src_embedding = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
        self.tgt_embedding = nn.Embedding(config.vocab_size, d, padding_idx=config.pad_id)
        self.register_buffer("positional", sinusoidal_encoding(config.max_len, d), persistent=False)
        self.embed_dropout = nn.Dropout(config.dropout)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.generator = nn.Linear(d, config.vocab_size)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Glorot-uniform 2-D weights (embeddings and generator included), zero biases, unit LayerNorms."""
        for module in self.modules():
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for name, param in self.named_parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
            elif name.endswith(".bias"):
                nn.init.zeros_(param)
        self.src_embedding.weight[self.config.pad_id].zero_()
        self.tgt_embedding.weight[self.config.pad_id].zero_()

    # ------------------------------------------------------------------------------------------------------------

    def _check_tokens(self, tokens: torch.Tensor, what: str) -> None:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            raise DstnetError(f"{what} must be a 2-D long tensor (batch, length)")
        if tokens.shape[1] < 1:
            raise DstnetError(f"{what} is empty")
        if tokens.shape[1] > self.config.max_len:
            raise DstnetError(f"{what} has length {tokens.shape[1]} > max_len {self.config.max_len}")

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        x = embedding(tokens) * math.sqrt(self.config.d_model)
        return self.embed_dropout(x + self.positional[start : start + tokens.shape[1]])

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode ``src`` ``(B, S)``: ``(memory (B, S, d), src_key_padding (B, S) bool, True = pad)``."""
        self._check_tokens(src, "src")
        padding = src == self.config.pad_id
        memory = self.encoder(self._embed(self.src_embedding, src), key_padding_mask(padding))
        return memory, padding

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src_key_padding: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of the next token at every position of ``tgt_in`` ``(B, T)`` (causal)."""
        self._check_tokens(tgt_in, "tgt_in")
        x = self._embed(self.tgt_embedding, tgt_in)
        self_mask = causal_mask(tgt_in.shape[1], tgt_in.device)
        x = self.decoder(x, memory, self_mask, key_padding_mask(src_key_padding))
        return self.generator(x)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, V)`` for source ``src`` ``(B, S)`` and decoder input ``tgt_in`` ``(B, T)``."""
        memory, padding = self.encode(src)
        return self.decode(tgt_in, memory, padding)

    # ------------------------------------------------------------------------------------------------------------
    # incremental decoding

    def init_cache(self, memory: torch.Tensor, src_key_padding: torch.Tensor) -> DecoderCache:
        """A fresh :class:`DecoderCache` for :meth:`decode_step`, with each layer's cross-attention keys/values."""
        n = len(self.decoder.layers)
        cross = [layer.cross_attn.keys_values(memory) for layer in self.decoder.layers]
        return DecoderCache(
            self_k=[None] * n,
            self_v=[None] * n,
            cross_k=[k for k, _ in cross],
            cross_v=[v for _, v in cross],
            cross_mask=key_padding_mask(src_key_padding),
        )

    def decode_step(self, tokens: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """Feed one token per row (``(N,)`` long, at position ``cache.length``); logits ``(N, V)`` of the next one.

        Equivalent to the last position of :meth:`decode` over all tokens fed so far (same masks, same math).
        """
        if cache.length >= self.config.max_len:
            raise DstnetError(f"cannot decode past max_len {self.config.max_len}")
        x = self._embed(self.tgt_embedding, tokens.reshape(-1, 1), start=cache.length)
        for i, layer in enumerate(self.decoder.layers):
            x = layer.step(x, cache, i)
        cache.length += 1
        return self.generator(self.decoder.norm(x))[:, 0]

    # ------------------------------------------------------------------------------------------------------------
    # sparse training

    def _attention_names(self) -> list[str]:
        names = [f"encoder.layers.{i}.self_attn" for i in range(len(self.encoder.layers))]
        for i in range(len(self.decoder.layers)):
            names += [f"decoder.layers.{i}.self_attn", f"decoder.layers.{i}.cross_attn"]
        return names

    def sparse_layer_names(self) -> list[str]:
        """Every attention and FFN Linear, in module order; not the embeddings nor the generator (also once the
        sparse backend has replaced them by :class:`~netsci_dst.dst.sparse_linear.SparseLinear`)."""
        from netsci_dst.dst.sparse_linear import SparseLinear

        linear = (nn.Linear, SparseLinear)
        return [name for name, module in self.named_modules() if isinstance(module, linear) and name != "generator"]

    def percolation_structure(self) -> Structure:
        """[CHTs] §3.2.2: q/k coupled per attention, chains v -> out_proj and w_1 -> w_2."""
        chains: list[tuple[str, str]] = []
        coupled: list[tuple[str, ...]] = []
        for attn in self._attention_names():
            coupled.append((f"{attn}.q_proj", f"{attn}.k_proj"))
            chains.append((f"{attn}.v_proj", f"{attn}.out_proj"))
        for side, layers in (("encoder", self.encoder.layers), ("decoder", self.decoder.layers)):
            for i in range(len(layers)):
                chains.append((f"{side}.layers.{i}.ffn.w_1", f"{side}.layers.{i}.ffn.w_2"))
        return Structure(layers=tuple(self.sparse_layer_names()), chains=tuple(chains), coupled=tuple(coupled))
