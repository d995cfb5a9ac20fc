"""The MLP trainer's optimizer: SGD with momentum and weight decay, fused where torch has the kernel."""

import pytest
import torch

from netsci_dst.train import mlp
from netsci_dst.train.mlp import momentum_sgd


def hand_sgd(w: list[float], grads: list[list[float]], lr: float, m: float, wd: float) -> list[float]:
    """The update written out: d = g + wd * w; b = d (first step) or m * b + d; w -= lr * b."""
    b = None
    for g in grads:
        d = [gi + wd * wi for gi, wi in zip(g, w, strict=True)]
        b = d if b is None else [m * bi + di for bi, di in zip(b, d, strict=True)]
        w = [wi - lr * bi for wi, bi in zip(w, b, strict=True)]
    return w


@pytest.mark.parametrize("no_fused", [False, True])
def test_momentum_sgd_is_the_papers_update_fused_or_not(monkeypatch, no_fused):
    if no_fused:  # a torch without a fused kernel for the CPU (before 2.4): the foreach implementation instead
        monkeypatch.setattr(mlp, "fused_sgd_devices", lambda: {"cuda"})
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64))
    opt = momentum_sgd([w], lr=0.1, momentum=0.9, weight_decay=0.01)
    group = opt.param_groups[0]
    assert (group["fused"], group["foreach"]) == ((None, True) if no_fused else (True, None))
    grads = [[0.5, 0.25, -1.0], [-0.3, 0.0, 2.0], [1.0, 1.0, 1.0]]
    for g in grads:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    expected = hand_sgd([1.0, -2.0, 0.5], grads, lr=0.1, m=0.9, wd=0.01)
    assert w.detach().tolist() == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_fused_sgd_is_known_for_the_cpu_from_torch_2_4():
    major, minor = (int(v) for v in torch.__version__.split(".")[:2])
    assert ("cpu" in mlp.fused_sgd_devices()) == ((major, minor) >= (2, 4))


def test_a_resumed_optimizer_keeps_the_implementation_it_started_with():
    w = torch.nn.Parameter(torch.ones(3))
    started = torch.optim.SGD([w], lr=0.1, momentum=0.9, foreach=True)  # a checkpoint from before fused SGD
    resumed = momentum_sgd([w], lr=0.1, momentum=0.9, weight_decay=0.0)
    resumed.load_state_dict(started.state_dict())
    assert (resumed.param_groups[0]["fused"], resumed.param_groups[0]["foreach"]) == (None, True)
