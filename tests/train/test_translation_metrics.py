"""The inoam schedule, BLEU, and the structure ANP of the Transformer trainer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from netsci_dst.analysis.anp import anp_structure
from netsci_dst.dst.percolation import Structure
from netsci_dst.errors import DstnetError
from netsci_dst.train.lr import inoam, noam
from netsci_dst.train.translation_eval import bleu


def test_noam_peaks_at_warmup_with_the_closed_form_value():
    d, w = 512, 100
    peak = noam(w, d, w, factor=2.0)
    assert peak == pytest.approx(2.0 * 512**-0.5 * 100**-0.5)
    assert noam(w // 2, d, w, 2.0) == pytest.approx(peak / 2)  # linear warm-up
    assert noam(4 * w, d, w, 2.0) == pytest.approx(peak / 2)  # inverse square root decay
    with pytest.raises(ValueError):
        noam(0, d, w)


def test_inoam_rewarms_linearly_over_the_steps_after_an_update():
    d, w = 64, 10
    # no update yet: plain noam
    assert inoam(7, d, w, last_update_step=None) == noam(7, d, w)
    # the update ran after step 100: steps 101..120 ramp 1/20 .. 20/20, then noam again
    ramp = [inoam(100 + k, d, w, last_update_step=100, rewarmup=20) / noam(100 + k, d, w) for k in range(1, 23)]
    assert ramp[:20] == pytest.approx([k / 20 for k in range(1, 21)])
    assert ramp[20:] == pytest.approx([1.0, 1.0])
    assert inoam(105, d, w, last_update_step=100, rewarmup=0) == noam(105, d, w)


def test_bleu_of_a_reference_against_itself_is_100_and_falls_with_errors():
    refs = ["a man rides a red bike down the street .", "two dogs play in the snow ."]
    assert bleu(refs, refs) == pytest.approx(100.0)
    worse = bleu(["a man rides a blue bike down the road .", "two dogs play in the snow ."], refs)
    assert 0.0 < worse < 100.0
    assert bleu(["x y z", "q"], refs) < 5.0
    with pytest.raises(DstnetError):
        bleu(["a"], refs)


def test_anp_structure_counts_coupled_and_chained_units():
    structure = Structure(
        layers=("q", "k", "v", "o", "w1", "w2"),
        chains=(("v", "o"), ("w1", "w2")),
        coupled=(("q", "k"),),
    )
    eye = np.eye(4, dtype=bool)
    masks = {name: eye.copy() for name in structure.layers}
    masks["q"][1] = False  # q/k unit 1: dead in q, so dead as a unit
    masks["k"][2] = False  # unit 2 dead in k
    masks["o"][:, 3] = False  # v unit 3 feeds nothing
    masks["w1"][0] = False  # w1 unit 0 has no input
    out = anp_structure(masks, structure)
    assert out["sizes"] == {"q": 4, "v": 4, "w1": 4}
    assert out["active"] == {"q": 2, "v": 3, "w1": 3}
    assert out["overall"] == pytest.approx(8 / 12)
    assert math.isclose(out["per_group"]["q"], 0.5)
