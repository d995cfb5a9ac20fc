import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.methods import get_method
from netsci_dst.dst.percolation import percolate
from netsci_dst.errors import DstnetError
from netsci_dst.models.decoding import beam_search, default_max_len, greedy_decode
from netsci_dst.models.transformer import PAPER_CONFIG, Transformer, TransformerConfig

PAD, BOS, EOS, A, B = 0, 1, 2, 3, 4


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    values = dict(vocab_size=13, d_model=16, n_heads=2, d_ff=24, n_encoder_layers=2, n_decoder_layers=2, max_len=40)
    values.update(kw)
    return Transformer(TransformerConfig(**values))


def random_tokens(gen, batch, length, vocab=13):
    return torch.randint(3, vocab, (batch, length), generator=gen)


# ----------------------------------------------------------------------------------------------------------------
# config


def test_config_round_trip_and_validation():
    cfg = TransformerConfig(vocab_size=100, **PAPER_CONFIG)
    assert (cfg.d_model, cfg.n_heads, cfg.d_ff, cfg.n_encoder_layers, cfg.n_decoder_layers) == (512, 8, 1024, 6, 6)
    d = cfg.to_dict()
    assert all(isinstance(v, (int, float)) for v in d.values())
    assert TransformerConfig.from_dict(d) == cfg
    for bad in (
        dict(d_model=10, n_heads=4),
        dict(d_model=0),
        dict(n_encoder_layers=0),
        dict(dropout=1.0),
        dict(attention_dropout=-0.1),
        dict(pad_id=100),
        dict(max_len=True),
    ):
        with pytest.raises(DstnetError):
            TransformerConfig(vocab_size=100, **bad)
    with pytest.raises(DstnetError):
        TransformerConfig.from_dict({**d, "bogus": 1})


# ----------------------------------------------------------------------------------------------------------------
# forward pass


def test_shapes_and_init():
    m = tiny()
    gen = torch.Generator().manual_seed(1)
    src, tgt = random_tokens(gen, 3, 7), random_tokens(gen, 3, 5)
    assert m(src, tgt).shape == (3, 5, 13)
    memory, padding = m.encode(src)
    assert memory.shape == (3, 7, 16) and padding.dtype == torch.bool and not padding.any()
    assert m.decode(tgt, memory, padding).shape == (3, 5, 13)
    assert torch.all(m.src_embedding.weight[PAD] == 0) and torch.all(m.tgt_embedding.weight[PAD] == 0)
    q = m.encoder.layers[0].self_attn.q_proj
    assert torch.all(q.bias == 0) and q.weight.abs().max() <= math.sqrt(6 / 32) and q.weight.std() > 0.1
    with pytest.raises(DstnetError):
        m(random_tokens(gen, 1, 41), tgt[:1])  # longer than max_len


def test_causal_masking():
    m = tiny().eval()
    gen = torch.Generator().manual_seed(2)
    src, tgt = random_tokens(gen, 2, 6), random_tokens(gen, 2, 6)
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] - 3 + 1) % 10 + 3
    with torch.no_grad():
        a, b = m(src, tgt), m(src, changed)
    assert torch.allclose(a[:, :4], b[:, :4], atol=1e-6, rtol=0)
    assert not torch.allclose(a[:, 4:], b[:, 4:])


def test_source_padding_does_not_change_logits():
    m = tiny().eval()
    gen = torch.Generator().manual_seed(3)
    src, tgt = random_tokens(gen, 2, 5), random_tokens(gen, 2, 4)
    padded = torch.cat([src, torch.full((2, 4), PAD)], dim=1)
    ragged = padded.clone()
    ragged[1, 3:] = PAD  # second sentence shorter
    with torch.no_grad():
        assert torch.allclose(m(src, tgt), m(padded, tgt), atol=1e-5)
        assert torch.allclose(m(src[1:, :3], tgt[1:]), m(ragged[1:], tgt[1:]), atol=1e-5)
        assert torch.allclose(m(src[:1], tgt[:1]), m(ragged[:1], tgt[:1]), atol=1e-5)
        # a source made only of padding must not produce NaN (nor poison the rest of the batch)
        all_pad = ragged.clone()
        all_pad[0] = PAD
        out = m(all_pad, tgt)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[1], m(ragged, tgt)[1].detach(), atol=1e-5)


def test_dropout_only_in_training():
    m = tiny(dropout=0.5, attention_dropout=0.5)
    gen = torch.Generator().manual_seed(4)
    src, tgt = random_tokens(gen, 2, 5), random_tokens(gen, 2, 4)
    m.train()
    assert not torch.allclose(m(src, tgt), m(src, tgt))
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(src, tgt), m(src, tgt))


def test_decode_step_matches_decode():
    m = tiny().eval()
    gen = torch.Generator().manual_seed(5)
    src, tgt = random_tokens(gen, 3, 6), random_tokens(gen, 3, 7)
    src[2, 4:] = PAD
    with torch.no_grad():
        memory, padding = m.encode(src)
        full = m.decode(tgt, memory, padding)
        cache = m.init_cache(memory, padding)
        steps = torch.stack([m.decode_step(tgt[:, t], cache) for t in range(tgt.shape[1])], dim=1)
    assert torch.allclose(full, steps, atol=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# sparse layers and percolation


def test_sparse_layer_names():
    m = tiny(n_encoder_layers=2, n_decoder_layers=3)
    names = m.sparse_layer_names()
    attn = [n for n in names if "_attn." in n]
    ffn = [n for n in names if ".ffn." in n]
    assert len(attn) == 4 * 2 + 8 * 3 and len(ffn) == 2 * (2 + 3) and len(names) == len(attn) + len(ffn)
    modules = dict(m.named_modules())
    assert all(isinstance(modules[n], nn.Linear) for n in names)
    assert names[:6] == [
        "encoder.layers.0.self_attn.q_proj",
        "encoder.layers.0.self_attn.k_proj",
        "encoder.layers.0.self_attn.v_proj",
        "encoder.layers.0.self_attn.out_proj",
        "encoder.layers.0.ffn.w_1",
        "encoder.layers.0.ffn.w_2",
    ]
    assert "decoder.layers.2.cross_attn.k_proj" in names and "generator" not in names
    assert not any("embedding" in n for n in names)
    linears = [n for n, mod in m.named_modules() if isinstance(mod, nn.Linear)]
    assert set(linears) - set(names) == {"generator"}
    s = m.percolation_structure()
    assert list(s.layers) == names
    assert ("decoder.layers.1.cross_attn.q_proj", "decoder.layers.1.cross_attn.k_proj") in s.coupled
    assert ("decoder.layers.1.self_attn.v_proj", "decoder.layers.1.self_attn.out_proj") in s.chains
    assert ("encoder.layers.1.ffn.w_1", "encoder.layers.1.ffn.w_2") in s.chains
    assert len(s.coupled) == 2 + 2 * 3 and len(s.chains) == (2 + 2 * 3) + (2 + 3)


def test_percolation_structure_exact_masks():
    m = tiny(d_model=8, n_heads=2, d_ff=12, n_encoder_layers=1, n_decoder_layers=1)
    full = {
        n: torch.ones_like(mod.weight, dtype=torch.bool) for n, mod in m.named_modules() if n in m.sparse_layer_names()
    }
    masks = {n: t.clone() for n, t in full.items()}
    enc, cross, ffn = "encoder.layers.0.self_attn", "decoder.layers.0.cross_attn", "decoder.layers.0.ffn"
    masks[f"{enc}.q_proj"][1] = False  # q row 1 empty -> k row 1 goes
    masks[f"{cross}.k_proj"][3] = False  # k row 3 empty -> q row 3 goes
    masks[f"{enc}.v_proj"][2] = False  # v row 2 empty -> out_proj column 2 goes
    masks[f"{enc}.out_proj"][:, 5] = False  # out_proj column 5 empty -> v row 5 goes
    masks[f"{ffn}.w_1"][4] = False  # w_1 row 4 empty -> w_2 column 4 goes
    masks[f"{ffn}.w_2"][:, 7] = False  # w_2 column 7 empty -> w_1 row 7 goes
    masks[f"{enc}.out_proj"][6] = False  # an empty out_proj row (feeds the residual stream) changes nothing else
    new, removed = percolate(masks, m.percolation_structure())

    expected = {n: t.clone() for n, t in masks.items()}
    expected[f"{enc}.k_proj"][1] = False
    expected[f"{cross}.q_proj"][3] = False
    expected[f"{enc}.out_proj"][:, 2] = False
    expected[f"{enc}.v_proj"][5] = False
    expected[f"{ffn}.w_2"][:, 4] = False
    expected[f"{ffn}.w_1"][7] = False
    for name in full:
        assert torch.equal(new[name], expected[name]), name
    untouched = [n for n in full if not n.startswith((enc, cross, ffn))]
    assert untouched and all(torch.equal(new[n], full[n]) for n in untouched)
    assert removed[f"{enc}.k_proj"] == 8 and removed[f"{ffn}.w_1"] == 8 and removed[f"{ffn}.w_2"] == 8


@pytest.mark.parametrize("method", ["set", "chts"])
def test_engine_integration_keeps_masks_and_coupling(method, monkeypatch):
    import netsci_dst.dst.engine as engine_module

    m = tiny(d_model=16, n_heads=2, d_ff=24, n_encoder_layers=1, n_decoder_layers=1, dropout=0.0)
    structure = m.percolation_structure()
    percolated = []

    def spy(masks, s):
        out = percolate(masks, s)
        percolated.append((s, out[0]))
        return out

    monkeypatch.setattr(engine_module, "percolate", spy)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    engine = DSTEngine(
        m,
        opt,
        get_method(method, family="transformer"),
        density=0.3,
        total_steps=20,
        sparse_layers=m.sparse_layer_names(),
        structure=structure,
        update_interval=5,
        percolation=True,  # SET's preset has no percolation
    )
    gen = torch.Generator().manual_seed(6)
    modules = dict(m.named_modules())
    for _ in range(20):
        src, tgt = random_tokens(gen, 4, 6), random_tokens(gen, 4, 6)
        logits = m(src, tgt[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 13), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        for name, mask in engine.masks.items():
            assert torch.all(modules[name].weight[~mask] == 0), name
            assert 0 < mask.sum() < mask.numel()
        if method == "chts":  # BSW init and CH regrowth only link active units: the live masks stay coupled
            for q, k in structure.coupled:
                assert torch.equal(engine.masks[q].any(1), engine.masks[k].any(1)), (q, k)
    # updates at steps 5, 10 (and 15 for SET, which evolves to the end; the others stop at T_end = 15)
    n = 3 if method == "set" else 2
    assert engine.n_updates == n and len(percolated) == n
    for s, masks in percolated:  # what percolation hands to regrowth: q/k coupled, v -> out and w_1 -> w_2 chained
        assert s is structure
        for q, k in structure.coupled:
            assert torch.equal(masks[q].any(1), masks[k].any(1)), (q, k)
        for producer, consumer in structure.chains:
            assert torch.equal(masks[producer].any(1), masks[consumer].any(0)), (producer, consumer)


# ----------------------------------------------------------------------------------------------------------------
# decoding on a stub whose next-token distribution we control


class Stub(nn.Module):
    """next-token probabilities = fn(source row, generated prefix) -> {token: prob}; the rest share ``eps``."""

    def __init__(self, fn, vocab=6, max_len=64, eps=1e-4):
        super().__init__()
        self.config = SimpleNamespace(max_len=max_len, pad_id=PAD, vocab_size=vocab)
        self.fn, self.vocab, self.eps = fn, vocab, eps

    def encode(self, src):
        return src.unsqueeze(-1).float(), src == PAD

    def logprobs(self, src_row, prefix):
        p = torch.full((self.vocab,), self.eps)
        for token, prob in self.fn(src_row, prefix).items():
            p[token] = prob
        return (p / p.sum()).log()

    def decode(self, tgt_in, memory, padding):
        n, t = tgt_in.shape
        out = torch.empty(n, t, self.vocab)
        for i in range(n):
            src_row = memory[i, :, 0].long().tolist()
            for j in range(t):
                out[i, j] = self.logprobs(src_row, tgt_in[i, 1 : j + 1].tolist())
        return out

    def total_logprob(self, src_row, seq):
        return sum(float(self.logprobs(src_row, seq[:i])[tok]) for i, tok in enumerate([*seq, EOS]))


def trap(src_row, prefix):
    if not prefix:
        return {A: 0.6, B: 0.4}
    if prefix[0] == A:
        return {EOS: 0.34, A: 0.33, B: 0.33}
    return {EOS: 0.99}


def test_beam_beats_greedy_on_trap():
    stub = Stub(trap)
    src = torch.tensor([[5, EOS]])
    g = greedy_decode(stub, src, BOS, EOS)
    assert g == [[A]]
    for alpha in (0.0, 0.6):
        b = beam_search(stub, src, BOS, EOS, beam_size=2, length_penalty=alpha)
        assert b == [[B]]
        assert stub.total_logprob([5, EOS], b[0]) > stub.total_logprob([5, EOS], g[0]) + 0.5
    assert beam_search(stub, src, BOS, EOS, beam_size=1) == g


def test_beam_keeps_searching_while_best_hypothesis_is_live():
    # poor hypotheses ([B], then junk) end early while A A A A is still live; stopping after beam_size finished
    # hypotheses would return [B]
    def fn(src_row, prefix):
        if not prefix:
            return {A: 0.9, B: 0.09}
        if all(t == A for t in prefix):
            return {A: 0.97} if len(prefix) < 4 else {EOS: 0.99}
        return {EOS: 0.99}

    stub = Stub(fn)
    src = torch.tensor([[5, EOS]])
    for alpha in (0.0, 0.6):
        assert beam_search(stub, src, BOS, EOS, beam_size=2, length_penalty=alpha) == [[A] * 4]


def count_then_eos(src_row, prefix):
    """A, repeated (first source token - 3) times, then eos."""
    return {EOS: 0.9} if len(prefix) >= src_row[0] - 3 else {A: 0.9}


def test_eos_stops_each_sentence():
    stub = Stub(count_then_eos)
    src = torch.tensor([[3, 9, EOS], [4, 9, EOS], [6, EOS, PAD]])
    expected = [[], [A], [A, A, A]]
    assert greedy_decode(stub, src, BOS, EOS) == expected
    for k in (1, 2, 3):
        assert beam_search(stub, src, BOS, EOS, beam_size=k) == expected


def test_max_len():
    stub = Stub(lambda s, p: {A: 0.9})  # never ends
    src = torch.tensor([[5, 5, EOS, PAD], [5, 5, 5, EOS]])
    assert greedy_decode(stub, src, BOS, EOS, max_len=5) == [[A] * 5] * 2
    assert beam_search(stub, src, BOS, EOS, beam_size=2, max_len=5) == [[A] * 5] * 2
    assert default_max_len(stub, src) == 4 + 50
    assert [len(s) for s in greedy_decode(stub, src[:1], BOS, EOS)] == [3 + 50]
    stub.config.max_len = 20
    assert default_max_len(stub, src) == 20
    assert [len(s) for s in beam_search(stub, src, BOS, EOS, beam_size=2)] == [20, 20]
    with pytest.raises(DstnetError):
        greedy_decode(stub, src, BOS, EOS, max_len=21)
    with pytest.raises(DstnetError):
        beam_search(stub, src, BOS, EOS, beam_size=0)


def test_length_penalty_prefers_longer_finished_hypothesis():
    # eos now (p .4) vs A then eos (p .6 * .6 = .36): plain log-prob picks [];
    # GNMT alpha=1 divides log p by (5 + |Y|) / 6: log(.4) / 1 = -0.92 < log(.36) / (7 / 6) = -0.88, so [A]
    def fn(src_row, prefix):
        return {EOS: 0.4, A: 0.6} if not prefix else {EOS: 0.6, A: 0.39}

    stub = Stub(fn)
    src = torch.tensor([[5, EOS]])
    assert beam_search(stub, src, BOS, EOS, beam_size=2, length_penalty=0.0) == [[]]
    assert beam_search(stub, src, BOS, EOS, beam_size=2, length_penalty=1.0) == [[A]]


# ----------------------------------------------------------------------------------------------------------------
# decoding with the real model


def test_beam1_equals_greedy_and_cache_matches_recompute():
    m = tiny(seed=7, vocab_size=9)
    gen = torch.Generator().manual_seed(8)
    src = random_tokens(gen, 4, 6, vocab=9)
    src[1, 3:] = PAD
    src[:, -1] = torch.where(src[:, -1] == PAD, PAD, EOS)
    m.train()
    g = greedy_decode(m, src, BOS, EOS, max_len=15)
    assert m.training  # mode restored
    assert g == greedy_decode(m, src, BOS, EOS, max_len=15, use_cache=False)
    assert any(len(s) > 0 for s in g) and all(len(s) <= 15 for s in g)
    assert beam_search(m, src, BOS, EOS, beam_size=1, max_len=15) == g
    assert m.training
    m.eval()
    b3 = beam_search(m, src, BOS, EOS, beam_size=3, max_len=15)
    assert not m.training
    assert b3 == beam_search(m, src, BOS, EOS, beam_size=3, max_len=15, use_cache=False)
    assert all(EOS not in s and BOS not in s for s in b3)


def test_copy_task_learned_and_greedy_reproduces():
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=12,
        d_model=32,
        n_heads=2,
        d_ff=64,
        n_encoder_layers=1,
        n_decoder_layers=1,
        dropout=0.0,
        attention_dropout=0.0,
        max_len=16,
    )
    m = Transformer(cfg)
    gen = torch.Generator().manual_seed(9)
    seqs = torch.randint(3, 12, (8, 6), generator=gen)
    src = torch.cat([seqs, torch.full((8, 1), EOS)], dim=1)
    tgt_in = torch.cat([torch.full((8, 1), BOS), seqs], dim=1)
    tgt_out = torch.cat([seqs, torch.full((8, 1), EOS)], dim=1)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    m.train()
    for _ in range(300):
        loss = nn.functional.cross_entropy(m(src, tgt_in).reshape(-1, 12), tgt_out.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert greedy_decode(m, src, BOS, EOS) == seqs.tolist()
    assert beam_search(m, src, BOS, EOS, beam_size=2) == seqs.tolist()
