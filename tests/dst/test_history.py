"""The update record (netsci_dst.dst.history): one row type for the engine history, checkpoints and the ELM."""

import math

import pytest
import torch
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.history import LayerUpdate, layer_update, read_history, update_totals
from netsci_dst.errors import DstnetError


def test_layer_update_derives_overlap_and_density():
    row = layer_update(3, 120, "fc1", pruned=1, removed=10, percolated=2, regrown=8, both=2, links=40, cells=200,
                       active_in=9, active_out=7)  # fmt: skip
    assert row["overlap"] == 0.25 and row["density"] == 0.2
    assert set(row) == set(LayerUpdate.__annotations__)
    assert math.isnan(layer_update(1, 0, "x", pruned=0, removed=0, percolated=0, regrown=0, both=0, links=5,
                                   cells=10, active_in=1, active_out=1)["overlap"])  # fmt: skip


def test_rows_of_older_checkpoints_are_completed_exactly_and_bad_rows_are_one_line():
    old = [{"update": 1, "step": 10, "layer": "a", "removed": 6, "regrown": 7, "overlap": 3 / 7, "links": 20}]
    (row,) = read_history(old)
    assert row["both"] == 3 and row["overlap"] == 3 / 7 and row["percolated"] == 0 and math.isnan(row["density"])
    assert read_history([{**old[0], "regrown": torch.tensor(7)}])[0]["regrown"] == 7  # 0-d tensors from torch.load
    for bad, message in [
        ("not a list", "a list of rows expected"),
        ([3], "row 0 is int, not a record"),
        ([{"update": 1, "layer": "a", "removed": 1}], "row 0 lacks regrown"),
        ([{**old[0], "regrown": "7"}], "regrown = '7', not a number"),
        ([{**old[0], "both": 9}], "both = 9 outside"),
        ([{**old[0], "removed": 1.5}], "removed = 1.5, not a number"),
    ]:
        with pytest.raises(DstnetError, match=message):
            read_history(bad)


def test_update_totals_pool_the_layers():
    rows = [
        layer_update(2, 5, "a", pruned=0, removed=4, percolated=0, regrown=4, both=1, links=10, cells=100,
                     active_in=3, active_out=3),
        layer_update(2, 5, "b", pruned=0, removed=6, percolated=1, regrown=6, both=3, links=30, cells=100,
                     active_in=3, active_out=3),
    ]  # fmt: skip
    totals = update_totals(rows, {"a": 100, "b": 100})
    assert totals == {"update": 2, "step": 5, "removed": 10, "regrown": 10, "both": 4, "overlap": 0.4, "links": 40,
                      "density": 0.2}  # fmt: skip


def test_the_engine_history_is_made_of_these_rows_and_survives_a_checkpoint():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    engine = DSTEngine(model, opt, "chts", density=0.3, total_steps=20, update_interval=2, sparse_layers=["0", "2"])
    for _ in range(6):
        opt.zero_grad()
        model(torch.randn(4, 20)).sum().backward()
        opt.step()
    assert engine.n_updates == 3 and len(engine.history) == 6
    for row in engine.history:
        assert set(row) == set(LayerUpdate.__annotations__)
        assert row["removed"] >= row["pruned"] + row["percolated"] and 0 <= row["both"] <= row["regrown"]
        assert row["links"] == int(engine.masks[row["layer"]].sum()) or row["update"] < 3
    assert read_history(engine.state_dict()["history"]) == engine.history
    summary = engine.last_update_summary()
    last = [r for r in engine.history if r["update"] == 3]
    assert summary["both"] == sum(r["both"] for r in last) and summary["regrown"] == sum(r["regrown"] for r in last)
