"""A LLaMA-style decoder-only language model in plain PyTorch, with Hugging Face's module names.

[CHTss] (Zhang et al., arXiv 2501.19107) trains LLaMA-60M/130M language models (Touvron et al. 2023) with the
sparse projections of every block. The architecture, as Hugging Face's ``LlamaForCausalLM``:

- token embedding ``embed_tokens`` (dense), ``n_layers`` pre-norm blocks, a final RMSNorm ``norm`` and the head
  ``lm_head`` (dense; tied to the embedding when ``tie_embeddings``);
- RMSNorm ``x / sqrt(mean(x^2) + eps) * g`` before attention (``input_layernorm``) and before the MLP
  (``post_attention_layernorm``);
- causal self-attention with rotary position embeddings (RoPE, base ``rope_theta``) on q and k, four separate
  bias-free projections ``self_attn.{q,k,v,o}_proj``;
- the SwiGLU MLP ``down_proj(silu(gate_proj(x)) * up_proj(x))``, bias-free.

The names are Hugging Face's, so :func:`netsci_dst.dst.structures.infer_structure` recognises the block structure
for percolation: q/k coupled, v -> o, gate/up coupled and both -> down. Initialisation as Hugging Face's: normal
weights with standard deviation ``init_std`` (0.02), RMSNorm gains 1.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netsci_dst.dst.percolation import Structure
from netsci_dst.errors import DstnetError

__all__ = ["LlamaConfig", "LlamaModel", "RMSNorm", "rotary_tables"]


@dataclass
class LlamaConfig:
    """The decoder's hyperparameters (plain values; :meth:`to_dict` goes into checkpoints).

    Attributes:
        vocab_size: tokens of the vocabulary.
        d_model: width of the residual stream (``hidden_size``; a multiple of ``n_heads``, with an even head size).
        n_layers: decoder blocks. n_heads: attention heads. d_ff: SwiGLU hidden width (``intermediate_size``).
        max_seq_len: longest sequence (size of the rotary tables).
        tie_embeddings: the head shares the embedding's weight.
        rope_theta: RoPE base. norm_eps: RMSNorm epsilon. init_std: standard deviation of the initial weights.
    """

    vocab_size: int
    d_model: int = 512
    n_layers: int = 8
    n_heads: int = 8
    d_ff: int = 1376
    max_seq_len: int = 256
    tie_embeddings: bool = False
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "d_ff", "max_seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise DstnetError(f"{name} must be a positive int, got {value!r}")
            setattr(self, name, int(value))
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise DstnetError(f"d_model ({self.d_model}) must be n_heads ({self.n_heads}) times an even head size")
        for name in ("rope_theta", "norm_eps", "init_std"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
                raise DstnetError(f"{name} must be a positive number, got {value!r}")
        self.tie_embeddings = bool(self.tie_embeddings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LlamaConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`DstnetError`."""
        if not isinstance(values, dict):
            raise DstnetError(f"a LLaMA config must be a dict, got {type(values).__name__}")
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise DstnetError(f"unknown LLaMA config key(s) {unknown}")
        return cls(**values)


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension (Zhang & Sennrich 2019), computed in float32."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


def rotary_tables(head_dim: int, max_len: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos, sin)`` of shape ``(max_len, head_dim)``: angle ``p * theta^(-2i / head_dim)`` for position ``p`` and
    pair ``i``, laid out as Hugging Face's (the two halves of the head repeat the ``head_dim / 2`` frequencies)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().float(), angles.sin().float()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class LlamaAttention(nn.Module):
    """Causal multi-head self-attention with RoPE on q and k."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d, d, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def heads(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2)

        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, d))


class LlamaMLP(nn.Module):
    """SwiGLU: ``down_proj(silu(gate_proj(x)) * up_proj(x))``."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.up_proj = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.down_proj = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaBlock(nn.Module):
    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = LlamaAttention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = LlamaMLP(config)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """``LlamaModel(config)(tokens)`` -> next-token logits ``(batch, length, vocab_size)``."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        cos, sin = rotary_tables(config.d_model // config.n_heads, config.max_seq_len, config.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Hugging Face's LLaMA initialisation: every Linear and the embedding ``N(0, init_std^2)``, RMSNorm gains 1."""
        std = self.config.init_std
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
            elif isinstance(module, RMSNorm):
                nn.init.ones_(module.weight)
        if self.config.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if tokens.dim() != 2:
            raise DstnetError(f"tokens must be (batch, length), got shape {tuple(tokens.shape)}")
        length = tokens.shape[1]
        if length > self.config.max_seq_len:
            raise DstnetError(f"sequence of {length} tokens is longer than max_seq_len {self.config.max_seq_len}")
        cos, sin = self.rope_cos[:length], self.rope_sin[:length]
        x = self.embed_tokens(tokens)
        for block in self.layers:
            x = block(x, cos, sin)
        return self.lm_head(self.norm(x))

    def sparse_layer_names(self) -> list[str]:
        """The seven projections of every block, in module order (the CHTss LLM setting); not the embedding nor the
        head (also once the sparse backend has replaced them by ``SparseLinear``)."""
        from netsci_dst.dst.sparse_linear import SparseLinear

        linear = (nn.Linear, SparseLinear)
        return [name for name, module in self.named_modules() if isinstance(module, linear) and name != "lm_head"]

    def percolation_structure(self) -> Structure:
        """The LLaMA structure from the module names (:mod:`netsci_dst.dst.structures`): per block q/k coupled,
        v -> o, gate/up coupled, gate -> down and up -> down."""
        from netsci_dst.dst.structures import infer_structure

        inferred = infer_structure(self.sparse_layer_names())
        assert inferred is not None and inferred[1] == "llama", inferred  # the names above are LLaMA's
        return inferred[0]
