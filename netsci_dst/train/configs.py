"""The configurations of the training tasks: plain dataclasses, validated on creation, saved in every checkpoint.

Importable without torch, so ``dstnet``'s options take their defaults and choices from here (one place for each
default). :class:`TrainConfig` is the MLP's (:mod:`netsci_dst.train.mlp`), :class:`TransformerConfig` the
Transformer's (:mod:`netsci_dst.train.transformer`), with its size presets :data:`PRESETS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from netsci_dst.errors import DstnetError
from netsci_dst.seeds import check_training_seed
from netsci_dst.train.settings import check_backend, check_limits, resolved

#: The most epochs an MLP run takes (the papers train 100), and the most steps a Transformer run takes.
MAX_EPOCHS = 1_000_000
MAX_STEPS = 1_000_000_000

__all__ = ["LM_PRESETS", "PRESETS", "LMConfig", "TrainConfig", "TransformerConfig", "default", "from_plain"]


def from_plain(config: type, values: dict[str, Any], **older: Any) -> Any:
    """The configuration ``config`` from a checkpoint's plain dict: unknown keys refused, and the settings added to
    dstnet since a run was made set to what such runs used (``older``; ``backend``: dense, before the sparse one)."""
    known = {f.name for f in dataclasses.fields(config)}
    unknown = set(values) - known
    if unknown:
        raise DstnetError(f"unknown training settings {sorted(unknown)}")
    return config(**{"backend": "dense", **older, **values})


def default(config: type, name: str) -> Any:
    """The default value of field ``name`` of the dataclass ``config`` (what a CLI option shows and uses)."""
    for f in dataclasses.fields(config):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            break
    raise KeyError(f"{config.__name__} has no field {name!r} with a default")


@dataclass
class TrainConfig:
    """Everything that defines an MLP training run (plain values; saved in every checkpoint)."""

    method: str = "chts"
    method_overrides: dict[str, Any] = field(default_factory=dict)
    sparsity: float = 0.99
    sizes: tuple[int, ...] = (784, 1568, 1568, 1568, 10)
    dataset: str = "mnist"
    data_dir: str | None = None
    download: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    epochs: int = 5
    batch_size: int = 32
    lr: float = 0.025
    lr_end: float = 2.5e-4
    lr_decay_fraction: float | None = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    save_every: int = 0
    snapshot_masks: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        if not 0.0 <= self.sparsity < 1.0:
            raise DstnetError(f"sparsity must be in [0, 1), got {self.sparsity}")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise DstnetError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs > MAX_EPOCHS:
            raise DstnetError(f"epochs must be at most {MAX_EPOCHS:,} (the papers train 100), got {self.epochs}")
        if not (self.lr > 0 and self.lr_end >= 0):
            raise DstnetError(f"learning rates must be positive, got lr={self.lr}, lr_end={self.lr_end}")
        if self.lr_decay_fraction is not None and not (
            isinstance(self.lr_decay_fraction, (int, float)) and 0.0 < self.lr_decay_fraction <= 1.0
        ):
            raise DstnetError(f"lr_decay_fraction must be in (0, 1], got {self.lr_decay_fraction}")
        if self.save_every < 0:
            raise DstnetError(f"save_every must be >= 0, got {self.save_every}")
        if len(self.sizes) < 2 or any(n < 1 for n in self.sizes):
            raise DstnetError(f"sizes must be at least two positive layer widths, got {list(self.sizes)}")
        from netsci_dst.graph import check_mask_sizes  # refuse what cannot be allocated, with the bytes it needs

        shapes = [(n_out, n_in) for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True)]
        check_mask_sizes(shapes, "--sizes", hint="choose smaller layer widths")
        check_limits(self, ("train_limit", "test_limit"))
        check_training_seed(self.seed)
        self.data_dir = resolved(self.data_dir)
        check_backend(self.backend)

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["sizes"] = list(self.sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        # runs made before lr_decay_fraction: the per-step decay over all steps
        return from_plain(cls, d, lr_decay_fraction=None)


#: Model and schedule sizes per preset; any field can still be overridden.
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "d_model": 32, "n_heads": 2, "d_ff": 64, "n_layers": 1, "vocab_size": 1000,
        "max_tokens": 1024, "steps": 200, "warmup": 50, "eval_every": 100, "lr_factor": 2.0,
    },
    "cpu": {
        "d_model": 128, "n_heads": 4, "d_ff": 256, "n_layers": 3, "vocab_size": 4000,
        "max_tokens": 2000, "steps": 1000, "warmup": 300, "eval_every": 250, "lr_factor": 1.0,
    },
    "paper": {
        "d_model": 512, "n_heads": 8, "d_ff": 1024, "n_layers": 6, "vocab_size": 10000,
        "max_tokens": 8192, "steps": 5000, "warmup": 1000, "eval_every": 500, "lr_factor": 2.0,
    },
}  # fmt: skip


@dataclass
class TransformerConfig:
    """Everything that defines a translation run (plain values; saved in every checkpoint).

    ``None`` sizes are taken from the preset. ``update_interval`` goes to the method unless
    ``method_overrides`` sets it.
    """

    method: str = "chtss"
    method_overrides: dict[str, Any] = field(default_factory=dict)
    sparsity: float = 0.9
    preset: str = "cpu"
    d_model: int | None = None
    n_heads: int | None = None
    d_ff: int | None = None
    n_layers: int | None = None
    vocab_size: int | None = None
    max_tokens: int | None = None
    steps: int | None = None
    warmup: int | None = None
    eval_every: int | None = None
    dropout: float = 0.1
    label_smoothing: float = 0.1
    lr_factor: float | None = None
    rewarmup: int = 20
    update_interval: int = 100
    beta2: float = 0.998
    beam: int = 2
    data_dir: str | None = None
    src: str = "en"
    tgt: str = "de"
    train_limit: int | None = None
    val_limit: int | None = None
    test_limit: int | None = None
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    snapshot_masks: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise DstnetError(f"unknown preset {self.preset!r}; choose from {sorted(PRESETS)}")
        for key, value in PRESETS[self.preset].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if not 0.0 <= self.sparsity < 1.0:
            raise DstnetError(f"sparsity must be in [0, 1), got {self.sparsity}")
        for name in ("d_model", "n_heads", "d_ff", "n_layers", "vocab_size", "max_tokens", "steps", "warmup",
                     "eval_every", "update_interval", "beam"):  # fmt: skip
            if getattr(self, name) < 1:
                raise DstnetError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.steps > MAX_STEPS:
            raise DstnetError(f"steps must be at most {MAX_STEPS:,}, got {self.steps}")
        if self.d_model % self.n_heads:
            raise DstnetError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if not (0.0 <= self.dropout < 1.0 and 0.0 <= self.label_smoothing < 1.0):
            raise DstnetError("dropout and label smoothing must be in [0, 1)")
        if self.lr_factor <= 0 or self.rewarmup < 0:
            raise DstnetError("lr_factor must be > 0 and rewarmup >= 0")
        check_backend(self.backend)
        check_limits(self, ("train_limit", "val_limit", "test_limit"))
        check_training_seed(self.seed)
        self.data_dir = resolved(self.data_dir)
        if self.src == self.tgt:
            raise DstnetError(f"source and target languages are both {self.src!r}")

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def model_config(self, vocab_size: int, pad_id: int) -> dict[str, Any]:
        """Keyword arguments of :class:`netsci_dst.models.transformer.TransformerConfig`."""
        return {
            "vocab_size": vocab_size,
            "d_model": self.d_model,
            "n_heads": self.n_heads,
            "d_ff": self.d_ff,
            "n_encoder_layers": self.n_layers,
            "n_decoder_layers": self.n_layers,
            "dropout": self.dropout,
            "attention_dropout": self.dropout,
            "pad_id": pad_id,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransformerConfig:
        return from_plain(cls, d)


#: Language-model sizes per preset (any field can still be overridden). ``tiny``: tests; ``cpu``: about 1.5 M
#: parameters at the default vocabulary, minutes on 2 CPU cores (NOT a paper model); ``llama60m`` and ``llama130m``:
#: the CHTss LLM code's shapes (llm/configs/llama_60m.json and llama_130m.json lines 8-19 of
#: biomedical-cybernetics/Cannistraci-Hebb-Training-Soft-Rule- @ 1f91f31) with its run settings (Readme.md lines
#: 55-123: sequence 256, global batch 512, 10,000 steps, warm-up 1,000, lr 3e-3, evaluation every 1,000 steps; the
#: authors released no 130M command, so it takes the 60M's schedule). A GPU and a large corpus are needed.
LM_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64, "seq_len": 32, "vocab_size": 500,
        "batch_size": 8, "steps": 60, "warmup": 10, "eval_every": 30, "lr": 3e-3,
    },
    "cpu": {
        "d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 344, "seq_len": 128, "vocab_size": 4000,
        "batch_size": 16, "steps": 1500, "warmup": 100, "eval_every": 250, "lr": 3e-3,
    },
    "llama60m": {
        "d_model": 512, "n_layers": 8, "n_heads": 8, "d_ff": 1376, "seq_len": 256, "vocab_size": 32000,
        "batch_size": 512, "steps": 10000, "warmup": 1000, "eval_every": 1000, "lr": 3e-3,
    },
    "llama130m": {
        "d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 2048, "seq_len": 256, "vocab_size": 32000,
        "batch_size": 512, "steps": 10000, "warmup": 1000, "eval_every": 1000, "lr": 3e-3,
    },
}  # fmt: skip


@dataclass
class LMConfig:
    """Everything that defines a language-model run (plain values; saved in every checkpoint).

    ``None`` sizes come from the preset. The optimizer is AdamW (``beta1``, ``beta2``, ``weight_decay``) with a
    linear warm-up over ``warmup`` steps and a cosine decay to ``min_lr_ratio * lr`` at the last step; gradients are
    clipped to norm ``grad_clip`` (0: off). ``batch_size`` is the global batch in blocks of ``seq_len`` tokens.
    The defaults are the CHTss LLM code's (llm/torchrun_main.py of Cannistraci-Hebb-Training-Soft-Rule- @ 1f91f31:
    ``--optimizer adam``, lines 802-803, betas (0.9, 0.999), no weight decay, so AdamW computes Adam exactly; cosine
    schedule to 0.1 lr, lines 206 and 220; ``--grad_clipping`` 0, line 219).
    """

    method: str = "chtss"
    method_overrides: dict[str, Any] = field(default_factory=dict)
    sparsity: float = 0.7
    preset: str = "cpu"
    d_model: int | None = None
    n_layers: int | None = None
    n_heads: int | None = None
    d_ff: int | None = None
    seq_len: int | None = None
    vocab_size: int | None = None
    batch_size: int | None = None
    steps: int | None = None
    warmup: int | None = None
    eval_every: int | None = None
    lr: float | None = None
    min_lr_ratio: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.0
    grad_clip: float = 0.0
    tie_embeddings: bool = False
    update_interval: int = 100
    text: str | None = None
    val_fraction: float = 0.05
    val_blocks: int = 200
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    snapshot_masks: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.preset not in LM_PRESETS:
            raise DstnetError(f"unknown preset {self.preset!r}; choose from {', '.join(LM_PRESETS)}")
        for key, value in LM_PRESETS[self.preset].items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        if not 0.0 <= self.sparsity < 1.0:
            raise DstnetError(f"sparsity must be in [0, 1), got {self.sparsity}")
        for name in ("d_model", "n_layers", "n_heads", "d_ff", "seq_len", "vocab_size", "batch_size", "steps",
                     "eval_every", "update_interval", "val_blocks"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DstnetError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.warmup < 0 or not self.lr > 0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            raise DstnetError("warmup must be >= 0, lr > 0 and min_lr_ratio in [0, 1]")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0 and self.weight_decay >= 0 and self.grad_clip >= 0):
            raise DstnetError("betas must be in [0, 1), weight decay and grad clip >= 0")
        if not 0.0 < self.val_fraction < 1.0:
            raise DstnetError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        check_backend(self.backend)
        check_training_seed(self.seed)
        self.text = resolved(self.text)

    @property
    def density(self) -> float:
        return 1.0 - self.sparsity

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LMConfig:
        return from_plain(cls, d)
