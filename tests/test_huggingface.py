"""DST on Hugging Face models built locally from a config (no download); skipped without the `hf` extra."""

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the optional 'hf' extra (transformers) is not installed")

from netsci_dst.dst.engine import DSTEngine  # noqa: E402
from netsci_dst.dst.methods import get_method  # noqa: E402
from netsci_dst.huggingface import LLAMA_PROJECTIONS, DSTCallback  # noqa: E402


def tiny_llama():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=32,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config)


def test_the_engine_runs_chtss_on_a_llama_for_causal_lm_with_the_llama_structure():
    model = tiny_llama()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    engine = DSTEngine(
        model, opt, get_method("chtss", family="llm").replace(percolation=True), density=0.3, total_steps=40,
        update_interval=5, sparse_layers=LLAMA_PROJECTIONS,
    )  # fmt: skip
    assert engine.structure_source == "names (llama)" and len(engine.layers) == 14
    b = "model.layers.0"
    assert (f"{b}.self_attn.q_proj", f"{b}.self_attn.k_proj") in engine.structure.coupled
    assert (f"{b}.mlp.up_proj", f"{b}.mlp.down_proj") in engine.structure.chains
    tokens = torch.randint(0, 64, (4, 12))
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert engine.n_updates == 5 and losses[-1] < losses[0]  # steps 5..25: evolution ends at 0.75 of 40
    assert engine.overall_density() == pytest.approx(0.3, abs=0.01)
    for name in engine.layers:
        module = model.get_submodule(name)
        assert bool((module.weight[~module.weight_mask] == 0).all())
    # a plain HF model again: no mask buffers, loads strictly into a fresh one
    fresh = tiny_llama()
    fresh.load_state_dict(engine.export(), strict=True)
    with torch.no_grad():
        assert torch.allclose(fresh(input_ids=tokens).logits, model(input_ids=tokens).logits, atol=1e-6)


def test_the_trainer_callback_runs_dst_inside_a_hugging_face_trainer(tmp_path):
    model = tiny_llama()
    data = [{"input_ids": ids, "labels": ids} for ids in torch.randint(0, 64, (32, 12))]
    callback = DSTCallback("set", density=0.3, update_interval=4, seed=0)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=12, per_device_train_batch_size=4, learning_rate=3e-3,
        logging_steps=4, report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])
    trainer.train()
    engine = callback.engine
    assert engine is not None and engine.n_updates == 2  # steps 4 and 8 (SET's evolution ends at 0.75 of 12)
    assert engine.overall_density() == pytest.approx(0.3, abs=1e-3)
    for name in engine.layers:
        module = model.get_submodule(name)
        assert bool((module.weight[~module.weight_mask] == 0).all())
    assert [h["step"] for h in callback.logged][:3] == [4, 8, 12]
    assert [h["dst/updates"] for h in callback.logged][:3] == [1, 2, 2]
    assert callback.logged[-1]["dst/density"] == pytest.approx(0.3, abs=1e-3)
