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

from typing import Any

from netsci_dst.errors import DstnetError

__all__ = ["LLAMA_PROJECTIONS", "DSTCallback"]

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
    :attr:`engine` afterwards; :attr:`logged` keeps the topology metrics of every logging step.
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
        from netsci_dst.dst.engine import DSTEngine

        if model is None or optimizer is None:
            raise DstnetError("DSTCallback: the Trainer gave no model or optimizer at the start of training")
        if state.global_step > 0 and self.engine is None:
            raise DstnetError(
                "DSTCallback cannot resume a Trainer checkpoint yet: the engine's topology state is not saved with it; "
                "train from the start"
            )
        optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper holds the torch optimizer
        if self.engine is None:
            self.engine = DSTEngine(
                model,
                optimizer,
                self.method,
                density=self.density,
                total_steps=int(state.max_steps),
                sparse_layers=self.sparse_layers,
                **self.engine_options,
            )
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any):
        """Add the engine's topology metrics (``dst/density``, ``dst/anp``, ...) to the Trainer's printed and
        reported logs, and keep them in :attr:`logged` with the step."""
        if self.engine is not None and logs is not None:
            metrics = {f"dst/{k}": v for k, v in self.engine.topology_metrics().items() if v is not None}
            logs.update(metrics)
            self.logged.append({"step": int(state.global_step), **metrics})
        return control
