"""The LLaMA-style decoder: Hugging Face names, the percolation structure they imply, RoPE, causality."""

import pytest
import torch

from netsci_dst.dst.percolation import percolate
from netsci_dst.errors import DstnetError
from netsci_dst.models.llama import LlamaConfig, LlamaModel, RMSNorm, rotary_tables


def tiny(**changes):
    torch.manual_seed(0)
    config = dict(vocab_size=11, d_model=4, n_layers=2, n_heads=2, d_ff=4, max_seq_len=8)
    return LlamaModel(LlamaConfig(**{**config, **changes}))


def test_the_sparse_layers_and_their_structure_are_llamas():
    model = tiny()
    names = model.sparse_layer_names()
    projections = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                   "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]  # fmt: skip
    assert names == [f"layers.{i}.{p}" for i in range(2) for p in projections]
    s = model.percolation_structure()
    for i in range(2):
        b = f"layers.{i}"
        assert (f"{b}.self_attn.q_proj", f"{b}.self_attn.k_proj") in s.coupled
        assert (f"{b}.mlp.gate_proj", f"{b}.mlp.up_proj") in s.coupled
        assert (f"{b}.self_attn.v_proj", f"{b}.self_attn.o_proj") in s.chains
        assert (f"{b}.mlp.gate_proj", f"{b}.mlp.down_proj") in s.chains
        assert (f"{b}.mlp.up_proj", f"{b}.mlp.down_proj") in s.chains
    assert len(s.chains) == 6 and len(s.coupled) == 4  # nothing across blocks: the residual stream is not percolated


def test_percolation_on_a_hand_built_two_block_model_gives_the_expected_masks():
    model = tiny()
    s = model.percolation_structure()
    masks = {name: torch.ones(4, 4, dtype=torch.bool) for name in s.layers}
    b0, b1 = "layers.0", "layers.1"
    masks[f"{b0}.self_attn.q_proj"][0] = False  # q unit 0 dead: k unit 0 goes too (coupled)
    masks[f"{b0}.self_attn.v_proj"][2] = False  # v unit 2 dead: o loses input 2
    masks[f"{b1}.mlp.gate_proj"][1] = False  # gate unit 1 dead: up unit 1 and down input 1 go
    masks[f"{b1}.mlp.down_proj"][:, 3] = False  # no consumer for unit 3: gate and up rows 3 go
    out, removed = percolate(masks, s)
    expected = {name: torch.ones(4, 4, dtype=torch.bool) for name in s.layers}
    expected[f"{b0}.self_attn.q_proj"][0] = False
    expected[f"{b0}.self_attn.k_proj"][0] = False
    expected[f"{b0}.self_attn.v_proj"][2] = False
    expected[f"{b0}.self_attn.o_proj"][:, 2] = False
    for name in (f"{b1}.mlp.gate_proj", f"{b1}.mlp.up_proj"):
        expected[name][[1, 3]] = False
    expected[f"{b1}.mlp.down_proj"][:, [1, 3]] = False
    for name in s.layers:
        assert torch.equal(out[name], expected[name]), name
    assert removed[f"{b0}.self_attn.k_proj"] == 4 and removed[f"{b0}.self_attn.o_proj"] == 4
    assert removed[f"{b1}.mlp.up_proj"] == 8 and removed[f"{b1}.mlp.gate_proj"] == 4  # row 3 (row 1 was empty)
    assert removed[f"{b1}.mlp.down_proj"] == 4  # column 1 (column 3 was empty)
    assert sum(removed[n] for n in s.layers if n.startswith(b0 + ".mlp") or n.startswith(b1 + ".self_attn")) == 0


def test_rotary_scores_depend_only_on_the_distance_between_positions():
    cos, sin = rotary_tables(8, 32, 10000.0)
    torch.manual_seed(1)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)

    def rotate(x, p):
        half = torch.cat([-x[4:], x[:4]])
        return x * cos[p].double() + half * sin[p].double()

    for m, n, shift in [(3, 1, 5), (10, 10, 7), (0, 6, 20)]:
        a = rotate(q, m) @ rotate(k, n)
        b = rotate(q, m + shift) @ rotate(k, n + shift)
        assert a.item() == pytest.approx(b.item(), abs=1e-5)
    assert torch.equal(rotate(q, 0), q)  # position 0 is not rotated


def test_the_model_is_causal_and_the_head_can_be_tied():
    model = tiny().eval()
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    changed = tokens.clone()
    changed[0, 4] = 9
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert a.shape == (1, 5, 11)
    assert torch.allclose(a[:, :4], b[:, :4]) and not torch.allclose(a[:, 4], b[:, 4])
    tied = tiny(tie_embeddings=True)
    assert tied.lm_head.weight is tied.embed_tokens.weight
    with pytest.raises(DstnetError, match="longer than max_seq_len 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(DstnetError, match="even head size"):
        LlamaConfig(vocab_size=5, d_model=6, n_heads=2)


def test_rmsnorm_normalises_the_root_mean_square():
    norm = RMSNorm(4, eps=0.0)
    x = torch.tensor([[3.0, -4.0, 0.0, 0.0]])
    assert torch.allclose(norm(x), x / 2.5)  # rms = sqrt(25 / 4) = 2.5
