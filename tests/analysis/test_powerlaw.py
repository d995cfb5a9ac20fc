import json
import warnings

import numpy as np
import pytest
from scipy import stats

from netsci_dst.analysis.powerlaw import degree_gammas, fit_gamma
from netsci_dst.errors import DstnetError
from netsci_dst.graph import LayerStack


@pytest.mark.parametrize(("gamma", "seed"), [(2.5, 1), (2.5, 2), (3.5, 3)])
def test_recovers_exponent_of_discrete_power_law(gamma, seed):
    # zipf: p(k) = k^-gamma / zeta(gamma), k >= 1 -- a discrete power law with xmin = 1
    x = stats.zipf.rvs(gamma, size=5000, random_state=seed)
    r = fit_gamma(x)
    assert r["gamma"] == pytest.approx(gamma, abs=0.15)  # 3.5 > 3: the powerlaw 2.x default range would cap it
    assert not r["capped"] and r["method"] == "discrete"
    assert r["xmin"] >= 1 and 0 < r["n_tail"] <= 5000 and r["n"] == 5000
    assert 0 <= r["ks"] < 0.05
    assert r["vs_exponential"]["R"] > 0  # a power law beats an exponential tail
    assert set(r["vs_lognormal"]) == {"R", "p"}
    json.dumps(r)


def test_er_layer_hits_the_cap_and_has_no_gamma():
    rng = np.random.default_rng(0)
    r = fit_gamma(rng.binomial(1568, 0.01, size=1568))  # the input degrees of an ER layer at 1% density
    assert r["capped"] and r["gamma"] is None and r["sigma"] is None
    assert "bound 10" in r["reason"] and r["n_tail"] >= 50
    assert '"gamma": null' in json.dumps(r) and "10.0" not in json.dumps({k: r[k] for k in ("gamma", "sigma")})


def test_large_binomial_degrees_use_the_continuous_form_and_cap():
    rng = np.random.default_rng(1)
    r = fit_gamma(rng.binomial(2000, 0.3, size=300))
    assert r["method"] == "continuous" and r["capped"] and r["gamma"] is None
    assert 0 <= r["ks"] < 1


def test_small_layers_and_short_tails_get_no_gamma():
    rng = np.random.default_rng(3)
    small = fit_gamma(rng.binomial(32, 0.1, size=32) + 1)  # a 32-neuron layer of a tiny Transformer
    assert small["gamma"] is None and "need at least 50" in small["reason"] and small["n"] == 32
    # 80 neurons: the cut-off scan alone picks a tail of 10 degrees here (gamma 8.7); it may not go under 50
    seeds = [fit_gamma(np.random.default_rng(s).binomial(64, 0.1, size=80) + 1) for s in range(3)]
    assert all(r["n_tail"] >= 50 and r["xmin"] <= 7 for r in seeds)
    assert max(r["gamma"] for r in seeds) - min(r["gamma"] for r in seeds) < 1.0  # 4.4-5.0 (was 6.4-9.7)


def test_a_capped_layer_is_missing_in_the_json_of_every_layer():
    er = np.random.default_rng(0).random((1568, 1568)) < 0.01  # binomial input degrees: steeper than a power law
    rng = np.random.default_rng(6)
    heavy = np.zeros((400, 1568), dtype=bool)  # input neuron j sends about 400 / (j + 1) links: a power-law tail
    for j in range(1568):
        heavy[rng.choice(400, size=max(1, 400 // (j + 1)), replace=False), j] = True
    rows = json.loads(json.dumps(degree_gammas(LayerStack([er, heavy], ["er", "heavy"]))))
    assert rows[0]["inputs"]["capped"] and rows[0]["inputs"]["gamma"] is None
    assert rows[1]["inputs"]["gamma"] is not None and 1 < rows[1]["inputs"]["gamma"] < 10


def test_degenerate_inputs():
    few = fit_gamma([0, 0, 1, 2, 3])
    assert few["gamma"] is None and "positive" in few["reason"] and few["n"] == 3
    flat = fit_gamma([4] * 50 + [0] * 5)
    assert flat["gamma"] is None and "distinct" in flat["reason"]
    with pytest.raises(DstnetError):
        fit_gamma([1, -2, 3])
    with pytest.raises(DstnetError):
        fit_gamma([1, 2, 3], gamma_min=3.0, gamma_max=2.0)


def test_quiet_and_per_layer(capsys):
    rng = np.random.default_rng(2)
    m = rng.random((60, 50)) < 0.2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = degree_gammas(LayerStack([m, rng.random((40, 60)) < 0.2], ["a", "b"]))
    assert not caught
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert [r["layer"] for r in rows] == ["a", "b"]
    assert all(set(r) == {"layer", "inputs", "outputs"} for r in rows)
    assert rows[0]["inputs"]["n"] == int((m.sum(axis=0) > 0).sum())
    json.dumps(rows)
