"""Multi30k loading, the joint subword tokenizer, token batching and collation (netsci_dst.data.translation)."""

from __future__ import annotations

import gzip
from itertools import pairwise

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from netsci_dst.data.translation import (
    SubwordTokenizer,
    bundled_multi30k_dir,
    cached_tokenizer,
    collate,
    encode_pairs,
    load_multi30k,
    token_batches,
)
from netsci_dst.errors import DstnetError

FIRST_PAIR = (
    "Two young, White males are outside near many bushes.",
    "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche.",
)


@pytest.fixture(scope="module")
def train_pairs():
    return load_multi30k(split="train", limit=300)


@pytest.fixture(scope="module")
def tok(train_pairs):
    return SubwordTokenizer.train([s for pair in train_pairs for s in pair], vocab_size=500)


# ---- load_multi30k -------------------------------------------------------------------------------------------------


def test_bundled_split_sizes_and_first_pair():
    assert sorted(p.name for p in bundled_multi30k_dir().iterdir() if p.name.endswith(".gz")) == [
        f"{prefix}.{lang}.gz" for prefix in ("test_2016_flickr", "train", "val") for lang in ("de", "en")
    ]
    train = load_multi30k()
    assert len(train) == 29_000
    assert train[0] == FIRST_PAIR
    assert len(load_multi30k(split="val")) == 1_014
    assert len(load_multi30k(split="test")) == 1_000
    assert all(s and t and s == s.rstrip() and t == t.rstrip() for s, t in train)


def test_swap_languages_and_limit():
    swapped = load_multi30k(split="val", src="de", tgt="en")
    val = load_multi30k(split="val")
    assert swapped == [(t, s) for s, t in val]
    assert load_multi30k(limit=5) == load_multi30k()[:5]
    assert load_multi30k(limit=0) == []


def _write(folder, name, lines, gz):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if gz:
        with gzip.open(folder / f"{name}.gz", "wb") as f:
            f.write(data)
    else:
        (folder / name).write_bytes(data)


def test_generated_folder_plain_and_gzip(tmp_path):
    _write(tmp_path, "val.en", ["a dog .  ", "two cats"], gz=False)
    _write(tmp_path, "val.de", ["ein hund .", "zwei katzen\r"], gz=True)
    assert load_multi30k(tmp_path, split="val") == [("a dog .", "ein hund ."), ("two cats", "zwei katzen")]
    # U+2028 inside a line is not a line break: the corpus stays aligned
    _write(tmp_path, "test_2016_flickr.en", ["x\u2028y", "z"], gz=True)
    _write(tmp_path, "test_2016_flickr.de", ["u", "v"], gz=True)
    assert load_multi30k(str(tmp_path), split="test") == [("x\u2028y", "u"), ("z", "v")]


def test_misaligned_files(tmp_path):
    _write(tmp_path, "train.en", ["a", "b", "c"], gz=True)
    _write(tmp_path, "train.de", ["a", "b"], gz=True)
    with pytest.raises(DstnetError, match=r"train\.en has 3 lines but train\.de has 2"):
        load_multi30k(tmp_path)


def test_missing_file_and_folder(tmp_path):
    _write(tmp_path, "train.en", ["a"], gz=True)
    with pytest.raises(DstnetError, match=r"missing train\.de\[\.gz\]"):
        load_multi30k(tmp_path)
    with pytest.raises(DstnetError, match=r"missing val\.en\[\.gz\]"):
        load_multi30k(tmp_path, split="val")
    with pytest.raises(DstnetError, match="no such data folder"):
        load_multi30k(tmp_path / "nope")


def test_bad_gzip_bad_utf8_empty(tmp_path):
    (tmp_path / "train.en.gz").write_bytes(b"this is not gzip data")
    _write(tmp_path, "train.de", ["a"], gz=True)
    with pytest.raises(DstnetError, match=r"train\.en\.gz: not a readable gzip file"):
        load_multi30k(tmp_path)
    # truncated gzip stream
    good = gzip.compress(b"a\nb\nc\n" * 100)
    (tmp_path / "train.en.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DstnetError, match="not a readable gzip file"):
        load_multi30k(tmp_path)
    (tmp_path / "train.en.gz").unlink()
    (tmp_path / "train.en").write_bytes(b"ok\n\xff\xfe bad\n")
    with pytest.raises(DstnetError, match=r"train\.en: not UTF-8 text \(line 2"):
        load_multi30k(tmp_path)
    (tmp_path / "train.en").write_bytes(b"")
    with pytest.raises(DstnetError, match=r"train\.en: empty file"):
        load_multi30k(tmp_path)


def test_bad_arguments():
    with pytest.raises(DstnetError, match="unknown split 'dev'.*train, val, test"):
        load_multi30k(split="dev")
    with pytest.raises(DstnetError, match="both 'en'"):
        load_multi30k(src="en", tgt="en")
    with pytest.raises(DstnetError, match="limit"):
        load_multi30k(limit=-1)


# ---- SubwordTokenizer ----------------------------------------------------------------------------------------------


def test_special_ids_and_size(tok):
    assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
    assert tok.decode([0, 1, 2, 3]) == ""  # stops at </s> at once
    assert 100 < tok.vocab_size <= 500


def test_round_trip_on_val(tok):
    val = load_multi30k(split="val", limit=200)
    texts = [s for pair in val for s in pair]
    batch = tok.encode_batch(texts)
    checked = 0
    for text, ids in zip(texts, batch, strict=True):
        assert ids == tok.encode(text)
        assert tok.bos_id not in ids and tok.eos_id not in ids and tok.pad_id not in ids
        if tok.unk_id in ids:  # a character never seen in the 300 training pairs
            continue
        assert tok.decode(ids) == tok.normalize(text)
        checked += 1
    assert checked >= 300
    assert tok.decode_batch(batch[:10]) == [tok.decode(ids) for ids in batch[:10]]


def test_normalize_lowercases_and_collapses_whitespace(tok):
    text = "  Zwei  junge\tMänner\u00a0am  Strand. "
    assert tok.normalize(text) == "zwei junge männer am strand."
    assert tok.decode(tok.encode(text)) == "zwei junge männer am strand."


def test_decode_stops_at_eos_and_skips_pad_bos(tok):
    a, b = tok.encode("a dog"), tok.encode("in the park")
    ids = [tok.bos_id, *a, tok.eos_id, *b, tok.eos_id, tok.pad_id]
    assert tok.decode(ids) == "a dog"
    assert tok.decode([tok.bos_id, *a, tok.pad_id, tok.pad_id]) == "a dog"
    width = max(len(a), len(b)) + 2
    padded = torch.tensor([[*x, tok.eos_id] + [tok.pad_id] * (width - len(x) - 1) for x in (a, b)])
    assert tok.decode_batch(padded) == ["a dog", "in the park"]


def test_unknown_characters_and_special_strings(tok):
    ids = tok.encode("a dog 中")
    assert ids[-1] == tok.unk_id
    text = tok.decode(ids)
    assert text.startswith("a dog") and text.endswith("<unk>")  # visible, not silently dropped
    # special-token strings inside text are ordinary characters, never special ids
    assert tok.eos_id not in tok.encode("a </s> b") and tok.pad_id not in tok.encode("<pad>")


def test_training_is_deterministic(train_pairs, tok):
    texts = [s for pair in train_pairs for s in pair]
    again = SubwordTokenizer.train(texts, vocab_size=500)
    assert again.to_str() == tok.to_str()
    other = SubwordTokenizer.train(texts[:200], vocab_size=500)
    assert other.to_str() != tok.to_str()


def test_serialization_round_trips(tok, tmp_path):
    texts = [s for pair in load_multi30k(split="test", limit=50) for s in pair]
    ids = tok.encode_batch(texts)
    restored = SubwordTokenizer.from_str(tok.to_str())
    assert restored.encode_batch(texts) == ids and restored.vocab_size == tok.vocab_size
    path = tmp_path / "sub" / "tok.json"
    tok.save(path)
    loaded = SubwordTokenizer.load(path)
    assert loaded.encode_batch(texts) == ids
    assert [loaded.decode(x) for x in ids] == [tok.decode(x) for x in ids]
    assert loaded.encode("a </s>") == tok.encode("a </s>")  # the special-string setting survives loading


def test_load_errors(tmp_path):
    with pytest.raises(DstnetError, match="no such tokenizer file"):
        SubwordTokenizer.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"version": "1.0", "model": ')
    with pytest.raises(DstnetError, match=r"bad\.json: not a valid tokenizer JSON"):
        SubwordTokenizer.load(tmp_path / "bad.json")
    with pytest.raises(DstnetError, match="not a valid tokenizer JSON"):
        SubwordTokenizer.from_str("[]")


# ---- cached_tokenizer ----------------------------------------------------------------------------------------------


def test_cached_tokenizer_reuses_and_repairs(train_pairs, tmp_path, monkeypatch):
    pairs = train_pairs[:100]
    first = cached_tokenizer(pairs, vocab_size=300, cache=tmp_path)
    (path,) = tmp_path.glob("*.json")
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]

    def refuse(*args, **kwargs):
        raise AssertionError("retrained although cached")

    with monkeypatch.context() as m:
        m.setattr(SubwordTokenizer, "train", classmethod(refuse))
        second = cached_tokenizer(pairs, vocab_size=300, cache=tmp_path)
    assert second.to_str() == first.to_str()

    # another vocabulary size or another corpus is another cache entry
    cached_tokenizer(pairs, vocab_size=250, cache=tmp_path)
    cached_tokenizer(pairs[:50], vocab_size=300, cache=tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 3

    path.write_text("{ truncated")
    repaired = cached_tokenizer(pairs, vocab_size=300, cache=tmp_path)
    assert repaired.to_str() == first.to_str()
    assert SubwordTokenizer.load(path).to_str() == first.to_str()


def test_cached_tokenizer_default_folder(train_pairs, tmp_path, monkeypatch):
    monkeypatch.setenv("DSTNET_CACHE", str(tmp_path))
    cached_tokenizer(train_pairs[:20], vocab_size=200)
    assert len(list((tmp_path / "tokenizers").glob("*.json"))) == 1


# ---- encode_pairs ------------------------------------------------------------------------------------------------


def test_encode_pairs_appends_eos_and_keeps_everything(tok):
    pairs = [("A dog.", "Ein Hund."), ("", ""), ("Two men 中", "Zwei Männer")]
    src, tgt = encode_pairs(pairs, tok)
    assert len(src) == len(tgt) == 3
    for (s, t), a, b in zip(pairs, src, tgt, strict=True):
        assert a.dtype == np.int64 and b.dtype == np.int64
        assert a.tolist() == [*tok.encode(s), tok.eos_id]
        assert b.tolist() == [*tok.encode(t), tok.eos_id]
    assert src[1].tolist() == [tok.eos_id]


# ---- token_batches -----------------------------------------------------------------------------------------------


def _padded(batch, src_len, tgt_len):
    return len(batch) * max(max(src_len[i] for i in batch), max(tgt_len[i] for i in batch) + 1)


@settings(max_examples=150, deadline=None)
@given(
    lengths=st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=0, max_size=120),
    max_tokens=st.integers(1, 400),
    seed=st.integers(0, 2**32 - 1),
)
def test_token_batches_properties(lengths, max_tokens, seed):
    src_len = [s for s, _ in lengths]
    tgt_len = [t for _, t in lengths]
    for shuffle in (True, False):
        batches = token_batches(src_len, tgt_len, max_tokens, shuffle=shuffle, seed=seed)
        assert all(b.dtype.kind == "i" and len(b) > 0 for b in batches)
        flat = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
        assert sorted(flat.tolist()) == list(range(len(lengths)))
        for b in batches:
            if len(b) > 1:
                assert _padded(b, src_len, tgt_len) <= max_tokens
        if not shuffle:
            keys = [(src_len[i], tgt_len[i]) for i in flat]
            assert keys == sorted(keys)
            if len(set(keys)) == len(keys):
                assert flat.tolist() == sorted(range(len(lengths)), key=lambda i: (src_len[i], tgt_len[i]))
    again = token_batches(src_len, tgt_len, max_tokens, shuffle=True, seed=seed)
    assert [b.tolist() for b in again] == [b.tolist() for b in token_batches(src_len, tgt_len, max_tokens, seed=seed)]


def test_token_batches_seeds_and_greedy_fill():
    rng = np.random.default_rng(1)
    src_len = rng.integers(3, 30, size=2000).tolist()
    tgt_len = rng.integers(3, 30, size=2000).tolist()
    a = token_batches(src_len, tgt_len, 500, seed=0)
    b = token_batches(src_len, tgt_len, 500, seed=0)
    c = token_batches(src_len, tgt_len, 500, seed=1)
    assert [x.tolist() for x in a] == [x.tolist() for x in b]
    assert [x.tolist() for x in a] != [x.tolist() for x in c]
    # ties are broken differently too, not only the batch order
    assert {tuple(sorted(x.tolist())) for x in a} != {tuple(sorted(x.tolist())) for x in c}
    plain = token_batches(src_len, tgt_len, 500, shuffle=False)
    assert [x.tolist() for x in plain] == [x.tolist() for x in token_batches(src_len, tgt_len, 500, shuffle=False)]
    # greedy: no batch could have taken the first pair of the next one
    for cur, nxt in pairwise(plain):
        assert _padded(np.append(cur, nxt[0]), src_len, tgt_len) > 500


def test_token_batches_exact_and_oversized():
    # lengths (src, tgt): padded size = n * max(src, tgt + 1)
    src_len = [2, 9, 2, 3, 50]
    tgt_len = [2, 1, 3, 1, 2]
    batches = token_batches(src_len, tgt_len, 12, shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 2, 3], [1], [4]]  # 3*4 = 12 fits, then 9 alone, 50 alone (> 12)
    assert token_batches([], [], 10) == []
    with pytest.raises(DstnetError, match="max_tokens"):
        token_batches([1], [1], 0)
    with pytest.raises(DstnetError, match="2 source lengths but 1 target"):
        token_batches([1, 2], [1], 10)


# ---- collate -----------------------------------------------------------------------------------------------------


def test_collate_exact():
    src = [np.array([5, 6, 2]), np.array([7, 2]), np.array([9, 9, 9, 9, 2])]
    tgt = [np.array([8, 2]), np.array([4, 5, 6, 2]), np.array([2])]
    s, ti, to = collate(src, tgt, np.array([1, 0]), pad_id=0, bos_id=1)
    assert all(x.dtype == torch.long for x in (s, ti, to))
    assert s.tolist() == [[7, 2, 0], [5, 6, 2]]
    assert ti.tolist() == [[1, 4, 5, 6], [1, 8, 0, 0]]
    assert to.tolist() == [[4, 5, 6, 2], [8, 2, 0, 0]]
    s, ti, to = collate(src, tgt, np.array([2]), pad_id=0, bos_id=1)
    assert (s.tolist(), ti.tolist(), to.tolist()) == ([[9, 9, 9, 9, 2]], [[1]], [[2]])


def test_real_pipeline_small(tok, train_pairs):
    src, tgt = encode_pairs(train_pairs, tok)
    batches = token_batches([len(x) for x in src], [len(x) for x in tgt], 600, seed=3)
    assert sum(len(b) for b in batches) == len(train_pairs)
    s, ti, to = collate(src, tgt, batches[0], tok.pad_id, tok.bos_id)
    assert s.shape[0] == ti.shape[0] == to.shape[0] == len(batches[0])
    assert ti.shape == to.shape and s.numel() <= 600 and ti.numel() <= 600
    assert (ti[:, 0] == tok.bos_id).all()
    shifted = ti[:, 1:] != tok.pad_id
    assert (ti[:, 1:][shifted] == to[:, :-1][shifted]).all()
    assert ((to == tok.eos_id).sum(dim=1) == 1).all()
    assert tok.decode(to[0]) == tok.normalize(train_pairs[batches[0][0]][1]) or tok.unk_id in to[0]
