"""Export: a plain state_dict with masks applied that loads strictly into a fresh model, from either backend."""

import pytest
import torch
from click.testing import CliRunner
from netsci_dst.cli import main
from torch import nn

from netsci_dst.dst.engine import DSTEngine
from netsci_dst.dst.export import export_state_dict, load_export, save_export
from netsci_dst.errors import DstnetError
from netsci_dst.models.mlp import MLP
from netsci_dst.train.mlp import MLPTrainer, TrainConfig

SIZES = (12, 24, 20, 4)


def trained(backend):
    torch.manual_seed(0)
    model = MLP(SIZES)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    engine = DSTEngine(
        model, opt, "set", density=0.3, total_steps=12, update_interval=3, seed=1, backend=backend,
        sparse_layers=model.sparse_layer_names(),
    )  # fmt: skip
    g = torch.Generator().manual_seed(2)
    for _ in range(12):
        x, y = torch.randn(16, 12, generator=g), torch.randint(0, 4, (16,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model, engine


def test_hand_made_state_gets_masks_applied_and_buffers_dropped():
    state = {
        "a.weight": torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "a.weight_mask": torch.tensor([[True, False], [False, True]]),
        "a.bias": torch.tensor([5.0, 6.0]),
        "b.weight": torch.tensor([[7.0, 8.0]]),
    }
    out = export_state_dict(state)
    assert list(out) == ["a.weight", "a.bias", "b.weight"]
    assert out["a.weight"].tolist() == [[1.0, 0.0], [0.0, 4.0]] and out["b.weight"].tolist() == [[7.0, 8.0]]
    csr = export_state_dict(state, csr=True)["a.weight"]
    assert csr.layout == torch.sparse_csr and csr.values().tolist() == [1.0, 4.0]
    assert state["a.weight"][0, 1] == 2.0  # the input is left alone


@pytest.mark.parametrize("suffix,csr", [(".pt", False), (".pt", True), (".safetensors", False)])
@pytest.mark.parametrize("backend", ["dense", "sparse"])
def test_round_trip_into_a_fresh_model_gives_the_same_outputs(tmp_path, backend, suffix, csr):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors", reason="the safetensors package is an optional extra")
    model, engine = trained(backend)
    path = save_export(model.state_dict(), tmp_path / f"net{suffix}", csr=csr)
    fresh = MLP(SIZES)
    fresh.load_state_dict(load_export(path), strict=True)
    x = torch.randn(5, 12, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), rtol=1e-6, atol=1e-6)
    for name in engine.layers:
        assert torch.equal(
            fresh.get_submodule(name).weight.detach() != 0, engine.masks[name] & (engine.weight(name) != 0)
        )
    assert set(engine.export()) == set(fresh.state_dict())


def test_bad_names_and_files_are_one_line_errors(tmp_path):
    model, _ = trained("dense")
    with pytest.raises(DstnetError, match="use a .pt or .safetensors"):
        save_export(model.state_dict(), tmp_path / "net.npz")
    with pytest.raises(DstnetError, match="dense tensors only"):
        save_export(model.state_dict(), tmp_path / "net.safetensors", csr=True)
    junk = tmp_path / "junk.pt"
    junk.write_text("not a pickle")
    with pytest.raises(DstnetError, match="not a readable export"):
        load_export(junk)


def test_the_cli_exports_a_run(tmp_path):
    cfg = TrainConfig(method="set", sparsity=0.9, sizes=(784, 32, 32, 10), train_limit=100, test_limit=50, epochs=1,
                      progress=False)  # fmt: skip
    run = tmp_path / "run"
    MLPTrainer(cfg, run).train()
    out = tmp_path / "set.pt"
    r = CliRunner().invoke(main, ["export", str(run), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "2 sparse layers" in r.output
    fresh = MLP((784, 32, 32, 10))
    fresh.load_state_dict(load_export(out), strict=True)
    r = CliRunner().invoke(main, ["export", str(tmp_path), "-o", str(out)])
    assert r.exit_code == 2 and "no checkpoints/latest.pt" in r.output
    r = CliRunner().invoke(main, ["export", str(run / "checkpoints" / "latest.pt"), "--best", "-o", str(out)])
    assert r.exit_code == 2 and "--best selects" in r.output


def test_a_write_the_storage_refuses_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    """torch reports a refused open as RuntimeError ("open file failed"): one DstnetError line, no partial file."""

    def refuse(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:747] . open file failed\nsecond line")

    monkeypatch.setattr(torch, "save", refuse)
    with pytest.raises(DstnetError, match=r"out\.pt: cannot write \(\[enforce fail.*open file failed\)$"):
        save_export({"w": torch.zeros(2)}, tmp_path / "out.pt")
    assert list(tmp_path.iterdir()) == []
