"""Percolation structures recognised from module names (LLaMA, BERT, GPT-2, dstnet), and the shape-chain warning."""

import warnings

import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.structures import infer_structure, is_sequential_container


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
