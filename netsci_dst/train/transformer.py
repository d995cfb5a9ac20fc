"""The Transformer task: sparse encoder-decoder translation on Multi30k, as in the Cannistraci-Hebb papers, trained by
the one :class:`~netsci_dst.train.loop.Trainer`.

Recipe of [CHTs]/[CHTss] (Zhang et al. 2024-2025; the authors' OpenNMT-py runs): Adam (beta2 0.998, eps 1e-9) with
the "inoam" schedule (:mod:`netsci_dst.train.lr`), label smoothing 0.1, token-based batches, a topology update
every 100 steps through the same :class:`~netsci_dst.dst.engine.DSTEngine` as the MLP, with q/k coupled and
v -> o, w_1 -> w_2 chained for percolation. Validation (loss and greedy BLEU) every ``eval_every`` steps keeps the
best checkpoint; the test BLEU (beam search, beam 2) is computed on it at the end.

Presets: ``cpu`` (the default, sized to train in minutes on a laptop CPU: it is *not* the paper's model),
``paper`` (6+6 layers, 8 heads, d_model 512, FFN 1024, 5,000 steps: the CHTss Table 2 setting, for a GPU) and
``tiny`` (tests).

The batches of epoch ``e`` come from a generator seeded with ``(seed, e)`` and the learning rate is a pure function
of the step and the latest update, so runs resume bit-identically (:mod:`netsci_dst.train.loop`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from netsci_dst.errors import DstnetError
from netsci_dst.train.checkpoint import load_checkpoint, load_checkpoint_of_kind, restored
from netsci_dst.train.configs import PRESETS, TransformerConfig
from netsci_dst.train.loop import TokenizedTask, Trainer, register_task, topology_text
from netsci_dst.train.rundir import RunDir
from netsci_dst.train.settings import pick_device

__all__ = ["PRESETS", "TransformerConfig", "TransformerTask", "TransformerTrainer", "load_translation_checkpoint"]

#: What ``backend="auto"`` means here: measured on 2 CPU cores (cpu preset, chtss, 40 steps with one evaluation),
#: the sparse backend took 1.12x, 1.07x and 1.01x the dense one's time at 90%, 95% and 99% sparsity: attention,
#: embeddings and the vocabulary projection dominate this model's step, and it has 16 small sparse layers.
AUTO_BACKEND = "dense"


def build_model(model_config: dict[str, Any]) -> nn.Module:
    from netsci_dst.models.transformer import Transformer
    from netsci_dst.models.transformer import TransformerConfig as ModelConfig

    return Transformer(ModelConfig.from_dict(model_config))


def load_translation_checkpoint(path: str | Path, device: str = "auto") -> tuple[nn.Module, Any, dict[str, Any]]:
    """``(model in eval mode, tokenizer, checkpoint)`` from a Transformer checkpoint (a ``.pt`` file or a run
    directory, whose ``best.pt`` is used)."""
    from netsci_dst.data.translation import SubwordTokenizer

    path = Path(path)
    if path.is_dir():
        run = RunDir(path)
        path = run.best if run.best.exists() else run.latest
        if not path.exists():
            raise DstnetError(f"{path.parent.parent}: no checkpoints/best.pt or latest.pt in this run directory")
    ckpt = load_checkpoint_of_kind(path, "transformer", "a Transformer run")
    config = ckpt.get("config", {})
    for section in ("model", "train", "method"):
        if not isinstance(config.get(section), dict):
            raise DstnetError(f"{path}: corrupt checkpoint: its config has no {section!r} section")
    if not isinstance(ckpt.get("tokenizer"), str):
        raise DstnetError(f"{path}: corrupt checkpoint: it holds no tokenizer")
    try:
        model = restored("model", lambda: build_model(config["model"]))
        restored("model", lambda: model.load_state_dict(_with_masks(model, ckpt["model"])))
    except DstnetError as e:
        raise DstnetError(f"{path}: {e}") from None
    try:
        tokenizer = SubwordTokenizer.from_str(ckpt["tokenizer"])
    except DstnetError as e:
        raise DstnetError(f"{path}: corrupt checkpoint: {e}") from None
    vocab = model.config.vocab_size
    if tokenizer.max_id >= vocab:
        raise DstnetError(
            f"{path}: corrupt checkpoint: the tokenizer has id {tokenizer.max_id}, "
            f"beyond the model's {vocab} embeddings"
        )
    model.to(pick_device(device)).eval()
    return model, tokenizer, ckpt


def _with_masks(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Register the ``weight_mask`` buffers a sparse checkpoint carries, so ``load_state_dict`` accepts them."""
    for key, mask in state.items():
        if key.endswith(".weight_mask"):
            module = model.get_submodule(key[: -len(".weight_mask")])
            if not hasattr(module, "weight_mask"):
                module.register_buffer("weight_mask", torch.ones_like(mask, dtype=torch.bool))
    return state


@register_task
class TransformerTask(TokenizedTask):
    """The encoder-decoder Transformer of ``cfg`` (a preset and overrides) on Multi30k ``src -> tgt``, Adam with the
    inoam schedule and the method's DST engine; shuffled token batches, a validation (loss, greedy BLEU) every
    ``eval_every`` steps, the test BLEU (beam ``cfg.beam``) of the best-validation checkpoint at the end."""

    kind = "transformer"
    config_class = TransformerConfig
    best_metric = "val_bleu"
    best_key = "best_bleu"
    best_range = (0.0, 100.0)
    nan_hint = "lower --lr-factor?"

    def __init__(self, cfg: TransformerConfig, tokenizer: Any = None, method: Any = None) -> None:
        from netsci_dst.data.translation import cached_tokenizer, encode_pairs, load_multi30k
        from netsci_dst.dst.engine import DSTEngine
        from netsci_dst.dst.methods import get_method

        self.cfg = cfg
        self.device = pick_device(cfg.device)
        lang = {"src": cfg.src, "tgt": cfg.tgt}
        self.train_pairs = load_multi30k(cfg.data_dir, "train", limit=cfg.train_limit, **lang)
        self.val_pairs = load_multi30k(cfg.data_dir, "val", limit=cfg.val_limit, **lang)
        self.tokenizer = tokenizer if tokenizer is not None else cached_tokenizer(self.train_pairs, cfg.vocab_size)
        self.train_src, self.train_tgt = encode_pairs(self.train_pairs, self.tokenizer)
        self.val_src, self.val_tgt = encode_pairs(self.val_pairs, self.tokenizer)

        if method is not None:  # resuming: the recipe the run was started with, whatever the presets are now
            self.method = method
        else:
            self.method = get_method(cfg.method, family="transformer", **cfg.method_overrides)
            if "update_interval" not in cfg.method_overrides:
                self.method = self.method.replace(update_interval=cfg.update_interval)
        self.model_config = cfg.model_config(self.tokenizer.vocab_size, self.tokenizer.pad_id)
        torch.manual_seed(cfg.seed)
        self.model = build_model(self.model_config).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.0, betas=(0.9, cfg.beta2), eps=1e-9)
        self.total_steps = cfg.steps
        self.engine = DSTEngine(
            self.model,
            self.optimizer,
            self.method,
            density=cfg.density,
            total_steps=cfg.steps,
            sparse_layers=self.model.sparse_layer_names() if self.method.sparse else None,
            structure=self.model.percolation_structure() if self.method.sparse else None,
            seed=cfg.seed,
            backend=AUTO_BACKEND if cfg.backend == "auto" else cfg.backend,
        )
        self._batches: list[np.ndarray] = []
        self._batches_epoch = -1

    # ------------------------------------------------------------------------------------------- training
    def epoch_batches(self, epoch: int) -> Sequence[np.ndarray]:
        """The shuffled token batches of ``epoch`` (a pure function of the seed and the epoch)."""
        from netsci_dst.data.translation import token_batches

        if self._batches_epoch != epoch:
            self._batches = token_batches(
                [len(s) for s in self.train_src],
                [len(t) for t in self.train_tgt],
                self.cfg.max_tokens,
                shuffle=True,
                seed=self.cfg.seed * 1_000_003 + epoch,
            )
            self._batches_epoch = epoch
        return self._batches

    def loss(self, batch: np.ndarray) -> tuple[torch.Tensor, int, dict[str, float]]:
        from netsci_dst.data.translation import collate

        tok = self.tokenizer
        src, tgt_in, tgt_out = (
            t.to(self.device) for t in collate(self.train_src, self.train_tgt, batch, tok.pad_id, tok.bos_id)
        )
        n_tokens = int((tgt_out != tok.pad_id).sum())
        return self.token_loss(self.model(src, tgt_in), tgt_out), n_tokens, {}

    def learning_rate(self, step: int) -> float:
        """The inoam rate of step ``step + 1`` (1-based), re-warmed after the latest topology update."""
        from netsci_dst.train.lr import inoam

        history = self.engine.history
        last = int(history[-1]["step"]) if history else None
        cfg = self.cfg
        return inoam(step + 1, cfg.d_model, cfg.warmup, cfg.lr_factor, last_update_step=last, rewarmup=cfg.rewarmup)

    def token_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Label-smoothed cross-entropy per target token (padding ignored)."""
        return nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            target.reshape(-1),
            ignore_index=self.tokenizer.pad_id,
            label_smoothing=self.cfg.label_smoothing,
        )

    # ------------------------------------------------------------------------------------------- evaluation
    def evaluate_now(self, step: int, epoch_ended: bool) -> bool:
        return step % self.cfg.eval_every == 0

    def evaluate(self) -> dict[str, float]:
        return {"val_loss": self.validation_loss(), "val_bleu": self.bleu_on(self.val_pairs, beam=1)}

    @torch.no_grad()
    def validation_loss(self) -> float:
        """Mean label-smoothed loss per target token on the validation pairs (teacher forcing)."""
        from netsci_dst.data.translation import collate, token_batches

        was_training = self.model.training
        self.model.eval()
        total, tokens = 0.0, 0
        batches = token_batches(
            [len(s) for s in self.val_src], [len(t) for t in self.val_tgt], self.cfg.max_tokens, shuffle=False
        )
        tok = self.tokenizer
        for index in batches:
            src, tgt_in, tgt_out = (t.to(self.device) for t in collate(self.val_src, self.val_tgt, index, tok.pad_id,
                                                                        tok.bos_id))  # fmt: skip
            n = int((tgt_out != tok.pad_id).sum())
            total += self.token_loss(self.model(src, tgt_in), tgt_out).item() * n
            tokens += n
        self.model.train(was_training)
        return total / max(tokens, 1)

    def bleu_on(self, pairs: list[tuple[str, str]], beam: int, model: nn.Module | None = None) -> float:
        """Corpus BLEU of ``model`` (default: the trained one) translating ``pairs`` with beam width ``beam``."""
        from netsci_dst.train.translation_eval import bleu, translate

        hyps = translate(
            self.model if model is None else model, self.tokenizer, [s for s, _ in pairs], beam=beam,
            max_tokens=self.cfg.max_tokens, device=self.device,
        )  # fmt: skip
        return bleu(hyps, [self.tokenizer.normalize(t) for _, t in pairs])

    def finish(self, run: RunDir) -> dict[str, Any]:
        """Test BLEU (beam ``cfg.beam``) of the best-validation checkpoint."""
        from netsci_dst.data.translation import load_multi30k

        pairs = load_multi30k(self.cfg.data_dir, "test", self.cfg.src, self.cfg.tgt, limit=self.cfg.test_limit)
        model = self.model
        if run.best.exists():  # a separate model: the trained one (and its optimizer state) stays as it is
            model = build_model(self.model_config).to(self.device)
            state = load_checkpoint(run.best)["model"]
            restored("model in best.pt", lambda: model.load_state_dict(_with_masks(model, state)))
        t0 = time.perf_counter()
        score = self.bleu_on(pairs, beam=self.cfg.beam, model=model)
        return {"test_bleu": score, "beam": self.cfg.beam, "test_seconds": time.perf_counter() - t0}

    def summary(self, records: list[dict[str, Any]], best: float) -> dict[str, Any]:
        return {
            "method": self.cfg.method,
            "sparsity": self.cfg.sparsity,
            "preset": self.cfg.preset,
            "steps": records[-1]["step"] if records else 0,
            "density": self.engine.overall_density(),
            "best_val_bleu": best if records else None,
            "final_val_bleu": records[-1]["val_bleu"] if records else None,
            "anp": records[-1]["anp"] if records else None,
        }

    def format_record(self, r: dict[str, Any]) -> str:
        return (
            f"step {r['step']:>6}  loss {r['train_loss']:.3f}  val loss {r['val_loss']:.3f}  "
            f"val BLEU {r['val_bleu']:.2f}  {topology_text(r)}"
        )


class TransformerTrainer(Trainer):
    """``TransformerTrainer(cfg, run_dir)``: the one :class:`~netsci_dst.train.loop.Trainer` on a
    :class:`TransformerTask`; its :meth:`resume` accepts Transformer runs only."""

    task_class = TransformerTask

    def __init__(self, cfg: TransformerConfig, run_dir: str | Path, tokenizer: Any = None, method: Any = None) -> None:
        super().__init__(TransformerTask(cfg, tokenizer, method), run_dir)
