"""The language-model task: a sparse LLaMA-style decoder on a text corpus, trained by the one
:class:`~netsci_dst.train.loop.Trainer`.

[CHTss] (Zhang et al., arXiv 2501.19107) trains LLaMA-60M/130M at 30% connectivity with every projection of every
block sparse (q/k/v/o, gate/up/down; the embedding and the head dense), a bipartite receptive field (BRF) start and
node-based CH2-L3n regrowth. This task trains :class:`~netsci_dst.models.llama.LlamaModel` on the blocks of a token
stream (:mod:`netsci_dst.data.text`) with AdamW, a linear warm-up and a cosine decay, gradient clipping, and the
method's DST engine over the ``llm`` recipes (:mod:`netsci_dst.dst.methods`); the percolation structure comes from
the LLaMA module names (q/k and gate/up coupled, v -> o, gate/up -> down). Every ``eval_every`` steps the validation
loss and perplexity ``exp(loss)`` on the first ``val_blocks`` validation blocks; the best checkpoint has the lowest
validation loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from netsci_dst.errors import DstnetError
from netsci_dst.train.configs import LMConfig
from netsci_dst.train.loop import TokenizedTask, Trainer, register_task, topology_text
from netsci_dst.train.settings import pick_device

__all__ = ["LMTask", "LMTrainer", "cosine_lr"]


def cosine_lr(step: int, lr: float, warmup: int, total: int, min_ratio: float) -> float:
    """The learning rate of optimizer step ``step`` (0-based): ``lr (step + 1) / warmup`` during the warm-up, then
    a cosine from ``lr`` down to ``min_ratio lr`` at step ``total - 1`` (the schedule of the LLaMA-pretraining code
    the CHTss LLM experiments build on)."""
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(total - 1 - warmup, 1)
    progress = min((step - warmup) / span, 1.0)
    return lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


@register_task
class LMTask(TokenizedTask):
    """A LLaMA-style decoder of ``cfg``'s preset and overrides on ``cfg.text`` (default: the bundled captions)."""

    kind = "lm"
    config_class = LMConfig
    best_metric = "val_loss"
    best_higher = False
    best_key = "best_val_loss"
    best_range = (0.0, math.inf)
    nan_hint = "lower --lr?"

    def __init__(self, cfg: LMConfig, tokenizer: Any = None, method: Any = None) -> None:
        from netsci_dst.data.text import encode_stream, load_corpus
        from netsci_dst.data.translation import cached_text_tokenizer
        from netsci_dst.dst.engine import DSTEngine
        from netsci_dst.dst.methods import get_method
        from netsci_dst.models.llama import LlamaConfig, LlamaModel

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        self.corpus = load_corpus(cfg.text, cfg.val_fraction)
        self.tokenizer = (
            tokenizer if tokenizer is not None else cached_text_tokenizer(self.corpus.train, cfg.vocab_size)
        )
        self.train_stream = torch.from_numpy(encode_stream(self.corpus.train, self.tokenizer))
        self.val_stream = torch.from_numpy(encode_stream(self.corpus.val, self.tokenizer))
        self.n_blocks = (len(self.train_stream) - 1) // cfg.seq_len
        if self.n_blocks < cfg.batch_size:
            raise DstnetError(
                f"the corpus gives {self.n_blocks} training blocks of {cfg.seq_len} tokens, fewer than one batch of "
                f"{cfg.batch_size}: use a larger corpus or a smaller --seq-len/--batch-size"
            )
        if len(self.val_stream) < cfg.seq_len + 1:
            raise DstnetError(f"the validation split has {len(self.val_stream)} tokens, fewer than one block")
        if method is not None:  # resuming: the recipe the run was started with
            self.method = method
        else:
            self.method = get_method(cfg.method, family="llm", **cfg.method_overrides)
            if "update_interval" not in cfg.method_overrides:
                self.method = self.method.replace(update_interval=cfg.update_interval)
        self.model_config = LlamaConfig(
            vocab_size=self.tokenizer.vocab_size,
            d_model=cfg.d_model,
            n_layers=cfg.n_layers,
            n_heads=cfg.n_heads,
            d_ff=cfg.d_ff,
            max_seq_len=cfg.seq_len,
            tie_embeddings=cfg.tie_embeddings,
        ).to_dict()
        torch.manual_seed(cfg.seed)
        self.model = LlamaModel(LlamaConfig.from_dict(self.model_config)).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay
        )
        self.total_steps = cfg.steps
        self.grad_clip = cfg.grad_clip
        self.engine = DSTEngine(
            self.model,
            self.optimizer,
            self.method,
            density=cfg.density,
            total_steps=cfg.steps,
            sparse_layers=self.model.sparse_layer_names() if self.method.sparse else None,
            structure=self.model.percolation_structure() if self.method.sparse else None,
            seed=cfg.seed,
            backend=cfg.backend,
        )
        self._batches: list[torch.Tensor] = []
        self._batches_epoch = -1

    # ------------------------------------------------------------------------------------------- training
    def epoch_batches(self, epoch: int) -> Sequence[torch.Tensor]:
        """Block indices, ``batch_size`` per batch, in an order drawn from a generator seeded with
        ``seed * 1,000,003 + epoch``; the incomplete last batch is dropped."""
        if self._batches_epoch != epoch:
            gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + epoch)
            order = torch.randperm(self.n_blocks, generator=gen)
            full = self.n_blocks // self.cfg.batch_size * self.cfg.batch_size
            self._batches = list(order[:full].split(self.cfg.batch_size))
            self._batches_epoch = epoch
        return self._batches

    def _blocks(self, stream: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        length = self.cfg.seq_len
        rows = stream[(index * length).unsqueeze(1) + torch.arange(length + 1)]
        rows = rows.to(self.device)
        return rows[:, :-1], rows[:, 1:]

    def token_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy of a batch of blocks."""
        logits = self.model(inputs)
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    def loss(self, batch: torch.Tensor) -> tuple[torch.Tensor, int, dict[str, float]]:
        inputs, targets = self._blocks(self.train_stream, batch)
        return self.token_loss(inputs, targets), targets.numel(), {}

    def learning_rate(self, step: int) -> float:
        cfg = self.cfg
        return cosine_lr(step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)

    def train_metrics(self, loss_sum: float, n: int, extras: dict[str, float]) -> dict[str, float]:
        loss = loss_sum / max(n, 1)
        return {"train_loss": loss, "train_ppl": math.exp(min(loss, 50.0))}

    # ------------------------------------------------------------------------------------------- evaluation
    def evaluate_now(self, step: int, epoch_ended: bool) -> bool:
        return step % self.cfg.eval_every == 0

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Validation loss per token and perplexity on the first ``val_blocks`` validation blocks."""
        was_training = self.model.training
        self.model.eval()
        n_val = min((len(self.val_stream) - 1) // self.cfg.seq_len, self.cfg.val_blocks)
        total, tokens = 0.0, 0
        for start in range(0, n_val, self.cfg.batch_size):
            index = torch.arange(start, min(start + self.cfg.batch_size, n_val))
            inputs, targets = self._blocks(self.val_stream, index)
            total += self.token_loss(inputs, targets).item() * targets.numel()
            tokens += targets.numel()
        self.model.train(was_training)
        loss = total / max(tokens, 1)
        return {"val_loss": loss, "val_ppl": math.exp(min(loss, 50.0))}

    def unigram_perplexity(self) -> float:
        """The validation perplexity of the training corpus's unigram frequencies: the bar to clear."""
        from netsci_dst.data.text import unigram_perplexity

        return unigram_perplexity(self.train_stream.numpy(), self.val_stream.numpy(), self.tokenizer.vocab_size)

    def summary(self, records: list[dict[str, Any]], best: float) -> dict[str, Any]:
        return {
            "method": self.cfg.method,
            "sparsity": self.cfg.sparsity,
            "preset": self.cfg.preset,
            "corpus": self.corpus.source,
            "parameters": self.engine.dense_parameter_count(),
            "steps": records[-1]["step"] if records else 0,
            "tokens": (records[-1]["step"] if records else 0) * self.cfg.batch_size * self.cfg.seq_len,
            "density": self.engine.overall_density(),
            "best_val_loss": best if records else None,
            "best_val_ppl": math.exp(min(best, 50.0)) if records else None,
            "final_val_ppl": records[-1]["val_ppl"] if records else None,
            "unigram_ppl": self.unigram_perplexity(),
            "anp": records[-1]["anp"] if records else None,
        }

    def format_record(self, r: dict[str, Any]) -> str:
        return (
            f"step {r['step']:>6}  loss {r['train_loss']:.3f}  val loss {r['val_loss']:.3f}  "
            f"val ppl {r['val_ppl']:.1f}  {topology_text(r)}"
        )


class LMTrainer(Trainer):
    """``LMTrainer(cfg, run_dir)``: the one :class:`~netsci_dst.train.loop.Trainer` on an :class:`LMTask`; its
    :meth:`resume` accepts language-model runs only."""

    task_class = LMTask

    def __init__(self, cfg: LMConfig, run_dir: str | Path, tokenizer: Any = None, method: Any = None) -> None:
        super().__init__(LMTask(cfg, tokenizer, method), run_dir)
