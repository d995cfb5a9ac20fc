"""Dynamic sparse training on Hugging Face ``transformers`` models (the optional extra: ``pip install dstnet[hf]``).

The :class:`~netsci_dst.dst.engine.DSTEngine` works on a Hugging Face model directly: its ``nn.Linear`` (and GPT-2's
``Conv1D``) layers are matrix layers, and the LLaMA, BERT and GPT-2 module names give the percolation structure
(:mod:`netsci_dst.dst.structures`). For a ``LlamaForCausalLM`` built from a config (no download)::

    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(...))
    engine = DSTEngine(model, optimizer, get_method("chtss", family="llm"), density=0.3,
                       total_steps=n_steps, sparse_layers=LLAMA_PROJECTIONS)

With the Hugging Face :class:`transformers.Trainer`, :class:`DSTCallback` builds the engine on the Trainer's own
model and optimizer when training begins (``callbacks=[DSTCallback("chtss", density=0.3)]``), so the Trainer's loop,
gradient clipping, schedule and logging stay as they are; the engine's update statistics are added to the logs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from netsci_dst.errors import DstnetError

__all__ = ["ENGINE_FILE", "LLAMA_PROJECTIONS", "DSTCallback"]

#: The engine's state in a Trainer checkpoint folder (``OUTPUT_DIR/checkpoint-STEP/``), written by
#: :meth:`DSTCallback.on_save` and read when the Trainer resumes that checkpoint.
ENGINE_FILE = "dstnet_engine.pt"

#: The seven projections of every LLaMA block (the CHTss LLM setting): embeddings and ``lm_head`` stay dense.
LLAMA_PROJECTIONS = r"\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)$"

try:
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover - exercised only without the extra
    TrainerCallback = object  # type: ignore[assignment,misc]
    _MISSING = True
else:
    _MISSING = False


class DSTCallback(TrainerCallback):  # type: ignore[misc]
    """A :class:`transformers.TrainerCallback` that runs a DST method through the Trainer's optimizer.

    Args:
        method: a recipe name (of ``family``) or a :class:`~netsci_dst.dst.methods.MethodConfig`.
        density: the fraction of links kept in every sparse layer.
        family: the recipe family of ``method`` (``"llm"`` by default: the authors' LLM settings).
        sparse_layers: which layers (names, a regular expression or a predicate; default: the LLaMA projections).
        **engine_options: anything else :class:`~netsci_dst.dst.engine.DSTEngine` takes (``seed``, ``backend``,
            ``structure``, ``update_interval``, ...).

    The engine is built at ``on_train_begin`` with ``total_steps = state.max_steps`` and is available as
    :attr:`engine` afterwards; :attr:`logged` keeps the topology metrics of every logging step. Each Trainer
    checkpoint also gets the engine's state (:data:`ENGINE_FILE`), so ``trainer.train(resume_from_checkpoint=...)``
    continues the same topology.
    """

    def __init__(
        self,
        method: Any = "chtss",
        density: float = 0.3,
        family: str = "llm",
        sparse_layers: Any = LLAMA_PROJECTIONS,
        **engine_options: Any,
    ) -> None:
        if _MISSING:
            raise DstnetError("DSTCallback needs the 'transformers' package: pip install 'dstnet[hf]'")
        from netsci_dst.dst.methods import get_method

        self.method = get_method(method, family=family) if isinstance(method, str) else method
        self.density = density
        self.sparse_layers = sparse_layers
        self.engine_options = engine_options
        self.engine: Any = None
        self.logged: list[dict[str, Any]] = []

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, optimizer: Any = None, **kw: Any):
        """Build the engine on the Trainer's model and optimizer; when the Trainer resumes a checkpoint
        (``trainer.train(resume_from_checkpoint=...)``), restore the topology saved there by :meth:`on_save`."""
        from netsci_dst.dst.engine import DSTEngine

        if model is None or optimizer is None:
            raise DstnetError("DSTCallback: the Trainer gave no model or optimizer at the start of training")
        optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper holds the torch optimizer
        if self.engine is not None:
            return control
        saved = None
        if state.global_step > 0:
            saved = self._saved_state(args, state)
            # the Trainer has loaded the weights and the optimizer state; building the engine draws a new topology
            # (zeroing what lies outside it), so they are put back once the saved topology is in place
            weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            optimizer_state = copy.deepcopy(optimizer.state_dict())  # tensors cloned
        self.engine = DSTEngine(
            model,
            optimizer,
            self.method,
            density=self.density,
            total_steps=int(state.max_steps),
            sparse_layers=self.sparse_layers,
            **self.engine_options,
        )
        if saved is not None:
            from netsci_dst.train.checkpoint import restored

            restored("DST engine state", lambda: self.engine.load_state_dict(saved))
            # the masks as the model stores them (a Conv1D's buffer is (n_in, n_out), the engine's view transposed)
            current = model.state_dict()
            weights.update({k: v.clone() for k, v in current.items() if k.endswith(".weight_mask")})
            restored("model", lambda: model.load_state_dict(weights))
            restored("optimizer state", lambda: self.engine.load_optimizer_state_dict(optimizer_state))
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any):
        """Save the engine's state (masks, update history, generator) as :data:`ENGINE_FILE` in the checkpoint
        folder the Trainer has just written, so that resuming it continues the same topology."""
        if self.engine is not None:
            folder = _checkpoint_folder(args, state)
            if folder.is_dir():
                import torch

                from netsci_dst.fileio import atomic_path

                with atomic_path(folder / ENGINE_FILE) as tmp:
                    torch.save(self.engine.state_dict(), tmp)
        return control

    def _saved_state(self, args: Any, state: Any) -> dict[str, Any]:
        from netsci_dst.train.checkpoint import load_engine_state

        # the Trainer does not tell callbacks where it resumed: TrainingArguments.resume_from_checkpoint when set,
        # else the checkpoint of this step in output_dir (where resume_from_checkpoint=True looks)
        given = getattr(args, "resume_from_checkpoint", None)
        folder = Path(given) if isinstance(given, str) and given else _checkpoint_folder(args, state)
        path = folder / ENGINE_FILE
        if not path.is_file():
            raise DstnetError(
                f"DSTCallback: resuming at step {state.global_step}, but {path} is missing: the checkpoint was not "
                "written with DSTCallback (its topology is unknown), or lies outside output_dir (then also set "
                "TrainingArguments.resume_from_checkpoint to it)"
            )
        return load_engine_state(path)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any):
        """Add the engine's topology metrics (``dst/density``, ``dst/anp``, ...) to the Trainer's printed and
        reported logs, and keep them in :attr:`logged` with the step."""
        if self.engine is not None and logs is not None:
            metrics = {f"dst/{k}": v for k, v in self.engine.topology_metrics().items() if v is not None}
            logs.update(metrics)
            self.logged.append({"step": int(state.global_step), **metrics})
        return control


def _checkpoint_folder(args: Any, state: Any) -> Path:
    """The folder the Trainer writes the checkpoint of ``state.global_step`` to (``OUTPUT_DIR/checkpoint-STEP``)."""
    return Path(args.output_dir) / f"checkpoint-{state.global_step}"
