"""Percolation structures recognised from module names (LLaMA, BERT, GPT-2, dstnet), and the shape-chain warning."""

import warnings

import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.structures import infer_structure, is_sequential_container
from netsci_dst.errors import DstnetError


class Block(nn.Module):
    """Children named after a family: ``Block({"self_attn.q_proj": (8, 8), ...})``."""

    def __init__(self, shapes):
        super().__init__()
        for name, (n_in, n_out) in shapes.items():
            parent = self
            *path, leaf = name.split(".")
            for part in path:
                if not hasattr(parent, part):
                    parent.add_module(part, nn.Module())
                parent = getattr(parent, part)
            parent.add_module(leaf, nn.Linear(n_in, n_out))


def llama_like(d=8, ff=12, n_blocks=2):
    shapes = {}
    for i in range(n_blocks):
        for p in "qkvo":
            shapes[f"model.layers.{i}.self_attn.{p}_proj"] = (d, d)
        shapes[f"model.layers.{i}.mlp.gate_proj"] = (d, ff)
        shapes[f"model.layers.{i}.mlp.up_proj"] = (d, ff)
        shapes[f"model.layers.{i}.mlp.down_proj"] = (ff, d)
    shapes["lm_head"] = (d, 20)
    return Block(shapes)


def bert_like(d=8, ff=8):
    shapes = {}
    for i in range(2):
        base = f"encoder.layer.{i}"
        for p in ("query", "key", "value"):
            shapes[f"{base}.attention.self.{p}"] = (d, d)
        shapes[f"{base}.attention.output.dense"] = (d, d)
        shapes[f"{base}.intermediate.dense"] = (d, ff)
        shapes[f"{base}.output.dense"] = (ff, d)
    return Block(shapes)


def test_llama_names_give_coupled_qk_and_gate_up_and_their_chains():
    names = [n for n, m in llama_like().named_modules() if isinstance(m, nn.Linear) and n != "lm_head"]
    structure, family = infer_structure(names)
    assert family == "llama"
    b0 = "model.layers.0"
    assert (f"{b0}.self_attn.q_proj", f"{b0}.self_attn.k_proj") in structure.coupled
    assert (f"{b0}.mlp.gate_proj", f"{b0}.mlp.up_proj") in structure.coupled
    assert set(structure.chains) >= {
        (f"{b0}.self_attn.v_proj", f"{b0}.self_attn.o_proj"),
        (f"{b0}.mlp.gate_proj", f"{b0}.mlp.down_proj"),
        (f"{b0}.mlp.up_proj", f"{b0}.mlp.down_proj"),
    }
    assert len(structure.coupled) == 4 and len(structure.chains) == 6  # two blocks, nothing across blocks


def test_bert_selected_by_regex_percolates_along_its_blocks_not_one_chain():
    """All BERT projections here are 8x8, so the shapes would chain q -> k -> v -> o -> ffn1 -> ffn2 (wrong)."""
    model = bert_like()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = DSTEngine(model, opt, "chtss", density=0.3, total_steps=10, sparse_layers=r"encoder\.", seed=0)
    assert not [w for w in caught if "shapes fit" in str(w.message)]  # the names settle it
    assert engine.structure_source == "names (bert)"
    b = "encoder.layer.0"
    assert (f"{b}.attention.self.query", f"{b}.attention.self.key") in engine.structure.coupled
    assert (f"{b}.attention.self.value", f"{b}.attention.output.dense") in engine.structure.chains
    assert (f"{b}.attention.self.query", f"{b}.attention.self.key") not in engine.structure.chains


def test_gpt2_names_chain_only_the_mlp():
    names = ["h.0.attn.c_attn", "h.0.attn.c_proj", "h.0.mlp.c_fc", "h.0.mlp.c_proj"]
    structure, family = infer_structure(names)
    assert family == "gpt2" and structure.chains == (("h.0.mlp.c_fc", "h.0.mlp.c_proj"),) and structure.coupled == ()


def test_unknown_names_are_not_half_recognised():
    assert infer_structure(["model.layers.0.self_attn.q_proj", "my.special.layer"]) is None
    assert infer_structure([]) is None


def test_a_chain_inferred_only_from_shapes_warns_unless_the_layers_are_a_numbered_sequence():
    assert is_sequential_container(["layers.0", "layers.1", "layers.2"]) and is_sequential_container(["0", "2", "4"])
    assert not is_sequential_container(["a.0", "b.1"]) and not is_sequential_container(["proj", "out"])
    model = Block({"enc.proj": (6, 8), "enc.mix": (8, 8), "dec.out": (8, 8), "head": (8, 3)})
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(UserWarning, match="only because their shapes fit"):
        engine = DSTEngine(model, opt, "cht", density=0.3, total_steps=10)
    assert engine.structure_source == "shapes"
    seq = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        DSTEngine(seq, torch.optim.SGD(seq.parameters(), lr=0.1), "set", density=0.3, total_steps=10)


class Conv1D(nn.Module):
    """Hugging Face's GPT-2 Conv1D, rewritten for the test (no download): ``y = x W + b``, ``W`` of shape (nx, nf)."""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.randn(nx, nf) * 0.02)
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], self.nf)


class GPT2Block(nn.Module):
    def __init__(self, d=16):
        super().__init__()
        self.attn = nn.Module()
        self.attn.c_attn, self.attn.c_proj = Conv1D(3 * d, d), Conv1D(d, d)
        self.mlp = nn.Module()
        self.mlp.c_fc, self.mlp.c_proj = Conv1D(4 * d, d), Conv1D(d, 4 * d)

    def forward(self, x):
        q, k, v = self.attn.c_attn(x).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(-1, -2) / 4.0, dim=-1) @ v
        x = x + self.attn.c_proj(att)
        return x + self.mlp.c_proj(torch.relu(self.mlp.c_fc(x)))


class TinyGPT2(nn.Module):
    def __init__(self, d=16, vocab=20):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.h = nn.ModuleList([GPT2Block(d), GPT2Block(d)])
        self.lm_head = nn.Linear(d, vocab)

    def forward(self, tokens):
        x = self.wte(tokens)
        for block in self.h:
            x = block(x)
        return self.lm_head(x)


def test_a_gpt2_style_conv1d_model_trains_with_chts_and_percolates_along_its_mlp_chain():
    from netsci_dst.dst.engine import DSTEngine, is_transposed

    torch.manual_seed(0)
    model = TinyGPT2()
    assert is_transposed(model.h[0].attn.c_attn) and not is_transposed(model.lm_head)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    engine = DSTEngine(model, opt, "chts", density=0.3, total_steps=40, update_interval=5, sparse_layers=r"^h\.")
    assert engine.structure_source == "names (gpt2)" and engine.backend == "dense"  # auto: Conv1D stays dense
    assert engine.structure.chains == (("h.0.mlp.c_fc", "h.0.mlp.c_proj"), ("h.1.mlp.c_fc", "h.1.mlp.c_proj"))
    fc = model.h[0].mlp.c_fc
    assert fc.weight_mask.shape == fc.weight.shape == (16, 64)  # stored as the weight is
    assert engine.masks["h.0.mlp.c_fc"].shape == (64, 16)  # seen as (n_out, n_in)
    tokens = torch.randint(0, 20, (8, 6))
    first = None
    for _ in range(20):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(tokens[:, :-1]).reshape(-1, 20), tokens[:, 1:].reshape(-1))
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert engine.n_updates == 4 and loss.item() < first  # updates at steps 5, 10, 15, 20
    for name in engine.layers:
        module = model.get_submodule(name)
        mask = module.weight_mask
        assert torch.equal(engine.masks[name], mask.T)
        assert bool((module.weight[~mask] == 0).all())  # off-link weights exactly 0 in the stored layout
        for buf in opt.state[module.weight].values():
            if buf.shape == mask.shape:
                assert bool((buf[~mask] == 0).all())  # and the AdamW moments too
        assert int(mask.sum()) == engine.history[-1]["links"] or name != engine.layers[-1]
    # percolation along c_fc -> c_proj: a hidden MLP unit with no input link has no output link either
    for block in ("h.0", "h.1"):
        fc, proj = engine.masks[f"{block}.mlp.c_fc"], engine.masks[f"{block}.mlp.c_proj"]
        assert torch.equal(fc.any(dim=1), proj.any(dim=0))
    with pytest.raises(DstnetError, match="the sparse backend replaces nn.Linear layers"):
        DSTEngine(TinyGPT2(), torch.optim.SGD(TinyGPT2().parameters(), lr=0.1), "set", density=0.3, total_steps=10,
                  sparse_layers=r"^h\.", backend="sparse")  # fmt: skip
