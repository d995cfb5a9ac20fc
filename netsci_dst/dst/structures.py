"""Percolation structures recognised from module names: LLaMA, BERT, GPT-2 and the encoder-decoder Transformer.

Percolation needs to know which sparse layers share neurons (ALGORITHMS.md §2.3; [CHTs] §3.2.2). In a Transformer
block they are not a chain: q and k are *coupled* (their output neuron ``j`` is one unit of the attention scores),
v feeds the output projection, and in a gated MLP gate and up are coupled and both feed down. Shapes cannot tell
this (q, k, v and o are all ``d x d``), names can. A *family* is a table of name suffixes; the layers of one block
share the prefix before the suffix:

==========  ==========================================  ===================================  =====================
family      suffixes (``PREFIX.<suffix>``)               coupled                              chains
==========  ==========================================  ===================================  =====================
llama       ``self_attn.{q,k,v,o}_proj``,                (q, k), (gate, up)                   v -> o, gate -> down,
            ``mlp.{gate,up,down}_proj``                                                       up -> down
bert        ``attention.self.{query,key,value}``,        (query, key)                         value -> attention
            ``attention.output.dense``,                                                       output, intermediate
            ``intermediate.dense``, ``output.dense``                                          -> output
gpt2        ``attn.c_attn``, ``attn.c_proj``,            (q, k, v fused in c_attn: none)      c_fc -> mlp.c_proj
            ``mlp.c_fc``, ``mlp.c_proj``
dstnet      ``{self_attn,cross_attn}.{q,k,v,out}_proj``,  (q, k)                               v -> out, w_1 -> w_2
            ``ffn.{w_1,w_2}``
==========  ==========================================  ===================================  =====================

(LLaMA: Hugging Face ``LlamaForCausalLM`` names and the CHTss authors' LLM code; BERT and GPT-2: Hugging Face
``BertModel`` and ``GPT2Model``.) Only the parts of a block that are among the sparse layers enter the structure;
a layer that no family explains makes the whole inference fail (``None``), so a model is never half-recognised.
A new family is one entry in :data:`FAMILIES`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from netsci_dst.dst.percolation import Structure

__all__ = ["FAMILIES", "Family", "infer_structure", "is_sequential_container"]


@dataclass(frozen=True)
class Family:
    """Name suffixes of one block and how they connect (``coupled`` groups and ``chains`` of suffix keys)."""

    name: str
    suffixes: dict[str, str]  # key -> module-name suffix
    coupled: tuple[tuple[str, ...], ...] = ()
    chains: tuple[tuple[str, str], ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family(
        "llama",
        {
            "q": "self_attn.q_proj",
            "k": "self_attn.k_proj",
            "v": "self_attn.v_proj",
            "o": "self_attn.o_proj",
            "gate": "mlp.gate_proj",
            "up": "mlp.up_proj",
            "down": "mlp.down_proj",
        },
        coupled=(("q", "k"), ("gate", "up")),
        chains=(("v", "o"), ("gate", "down"), ("up", "down")),
    ),
    Family(
        "bert",
        {
            "query": "attention.self.query",
            "key": "attention.self.key",
            "value": "attention.self.value",
            "attn_out": "attention.output.dense",
            "intermediate": "intermediate.dense",
            "out": "output.dense",
        },
        coupled=(("query", "key"),),
        chains=(("value", "attn_out"), ("intermediate", "out")),
    ),
    Family(
        "gpt2",
        {"c_attn": "attn.c_attn", "attn_proj": "attn.c_proj", "c_fc": "mlp.c_fc", "mlp_proj": "mlp.c_proj"},
        chains=(("c_fc", "mlp_proj"),),
    ),
    Family(
        "dstnet",
        {
            **{f"{a}_{p}": f"{a}.{p}_proj" for a in ("self_attn", "cross_attn") for p in ("q", "k", "v", "out")},
            "w_1": "ffn.w_1",
            "w_2": "ffn.w_2",
        },
        coupled=(("self_attn_q", "self_attn_k"), ("cross_attn_q", "cross_attn_k")),
        chains=(("self_attn_v", "self_attn_out"), ("cross_attn_v", "cross_attn_out"), ("w_1", "w_2")),
    ),
)


def _match(family: Family, name: str) -> tuple[str, str] | None:
    """``(block prefix, key)`` when ``name`` ends with one of the family's suffixes (the longest wins)."""
    best = None
    for key, suffix in family.suffixes.items():
        if name == suffix or name.endswith("." + suffix):
            if best is None or len(suffix) > len(family.suffixes[best]):
                best = key
    if best is None:
        return None
    suffix = family.suffixes[best]
    return name[: -len(suffix)].rstrip("."), best


def infer_structure(names: Sequence[str]) -> tuple[Structure, str] | None:
    """``(structure, family name)`` for sparse layers named after one of :data:`FAMILIES`, else ``None``.

    The first family that explains every name wins; within it, each block (shared prefix) contributes its couplings
    and chains among the layers present.
    """
    names = list(names)
    for family in FAMILIES:
        matches = [_match(family, n) for n in names]
        if not names or any(m is None for m in matches):
            continue
        blocks: dict[str, dict[str, str]] = {}
        for name, (prefix, key) in zip(names, matches, strict=True):  # type: ignore[misc]
            blocks.setdefault(prefix, {})[key] = name
        coupled, chains = [], []
        for parts in blocks.values():
            for group in family.coupled:
                members = tuple(parts[k] for k in group if k in parts)
                if len(members) > 1:
                    coupled.append(members)
            for a, b in family.chains:
                if a in parts and b in parts:
                    chains.append((parts[a], parts[b]))
        return Structure(layers=tuple(names), chains=tuple(chains), coupled=tuple(coupled)), family.name
    return None


def is_sequential_container(names: Sequence[str]) -> bool:
    """True when the layers are children of one container with integer names in increasing order (``layers.0``,
    ``layers.1``, ...; ``0``, ``2``, ``4`` in an ``nn.Sequential`` with activations between): a chain by
    construction, so inferring it from the shapes needs no warning."""
    parents, indices = set(), []
    for name in names:
        parent, _, child = name.rpartition(".")
        if not child.isdigit():
            return False
        parents.add(parent)
        indices.append(int(child))
    return len(parents) == 1 and indices == sorted(set(indices))
