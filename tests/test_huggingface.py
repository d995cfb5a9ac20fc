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


def _trainer(tmp_path, model, callback, max_steps, **extra):
    data = [
        {"input_ids": ids, "labels": ids}
        for ids in torch.randint(0, 64, (32, 12), generator=torch.Generator().manual_seed(1))
    ]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=max_steps, per_device_train_batch_size=4, learning_rate=3e-3,
        logging_steps=4, report_to=[], use_cpu=True, disable_tqdm=True, seed=0, data_seed=0, **extra,
    )  # fmt: skip
    return transformers.Trainer(model=model, args=args, train_dataset=data, callbacks=[callback])


def tiny_gpt2():
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=32)
    return transformers.GPT2LMHeadModel(config)


MODELS = {  # (builder, the sparse layers): LLaMA's nn.Linear projections, GPT-2's transposed Conv1D
    "llama": (tiny_llama, LLAMA_PROJECTIONS),
    "gpt2": (tiny_gpt2, r"\.(attn\.c_attn|mlp\.c_fc|mlp\.c_proj)$"),
}


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_a_hugging_face_trainer_checkpoint_resumes_the_same_topology(tmp_path, kind):
    """Each Trainer checkpoint carries the engine's state; resuming it continues the topology, weights and
    optimizer state of the run that never stopped (on the CPU: exactly)."""
    from netsci_dst.huggingface import ENGINE_FILE

    build, layers = MODELS[kind]
    straight = DSTCallback("chtss", density=0.3, update_interval=4, seed=0, sparse_layers=layers)
    model_a = build()
    _trainer(tmp_path / "a", model_a, straight, 16, save_strategy="no").train()

    first = DSTCallback("chtss", density=0.3, update_interval=4, seed=0, sparse_layers=layers)
    _trainer(tmp_path / "b", build(), first, 16, save_strategy="steps", save_steps=6).train()
    checkpoint = tmp_path / "b" / "checkpoint-6"  # after the update at step 4, before the one at step 8
    assert (checkpoint / ENGINE_FILE).is_file()

    resumed = DSTCallback("chtss", density=0.3, update_interval=4, seed=0, sparse_layers=layers)
    model_c = build()
    _trainer(tmp_path / "b", model_c, resumed, 16, save_strategy="no").train(resume_from_checkpoint=True)  # the last
    assert resumed.engine.n_updates == straight.engine.n_updates == 2
    for name in straight.engine.layers:
        assert torch.equal(resumed.engine.masks[name], straight.engine.masks[name]), name
    state_a, state_c = model_a.state_dict(), model_c.state_dict()
    for key in state_a:
        torch.testing.assert_close(state_c[key], state_a[key], rtol=0, atol=1e-6)


def test_resuming_a_trainer_checkpoint_without_the_engine_state_is_one_line(tmp_path):
    from netsci_dst.errors import DstnetError
    from netsci_dst.huggingface import ENGINE_FILE

    _trainer(
        tmp_path / "b", tiny_llama(), DSTCallback("set", density=0.3, seed=0), 8, save_strategy="steps", save_steps=4
    ).train()
    (tmp_path / "b" / "checkpoint-4" / ENGINE_FILE).unlink()
    trainer = _trainer(tmp_path / "b", tiny_llama(), DSTCallback("set", density=0.3, seed=0), 8, save_strategy="no")
    with pytest.raises(DstnetError, match="dstnet_engine.pt is missing"):
        trainer.train(resume_from_checkpoint=str(tmp_path / "b" / "checkpoint-4"))
