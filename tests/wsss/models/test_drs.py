from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsss.models.drs import DRS


def test_delta_one_is_a_plain_relu() -> None:
    x = torch.randn(2, 3, 5, 5)
    torch.testing.assert_close(DRS(3, delta=1.0)(x), F.relu(x))


@pytest.mark.parametrize("delta", [0.9, 0.55, 0.4])
def test_every_channel_is_capped_at_delta_times_its_peak(delta: float) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    y = DRS(4, delta)(x)
    peak = F.relu(x).amax(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(y.amax(dim=(2, 3), keepdim=True), delta * peak)
    below = F.relu(x) <= delta * peak  # untouched where already below the cap
    torch.testing.assert_close(y[below], F.relu(x)[below])


def test_hand_computed_values() -> None:
    x = torch.tensor([[[[-1.0, 0.2], [0.6, 1.0]]]])  # one channel, peak 1
    y = DRS(1, 0.5)(x)
    torch.testing.assert_close(y, torch.tensor([[[[0.0, 0.2], [0.5, 0.5]]]]))


def test_learnable_controller_starts_near_half_and_caps_by_its_gate() -> None:
    torch.manual_seed(0)
    drs = DRS(16, learnable=True)
    assert drs.fc.bias is None and 0.005 < drs.fc.weight.std() < 0.02  # N(0, 0.01), bias-free
    x = torch.randn(4, 16, 9, 9)
    y = drs(x)
    ratio = y.amax(dim=(2, 3)) / F.relu(x).amax(dim=(2, 3))
    assert ((ratio > 0.45) & (ratio < 0.55)).all()  # sigmoid(~0) = 0.5 (the reference: 0.499-0.504)
    gate = torch.sigmoid(drs.fc(F.relu(x).mean(dim=(2, 3))))
    torch.testing.assert_close(y, torch.minimum(F.relu(x), gate[:, :, None, None]
                                                * F.relu(x).amax(dim=(2, 3), keepdim=True)))


def test_gradients_flow_through_the_learnable_controller() -> None:
    torch.manual_seed(0)
    drs = DRS(8, learnable=True)
    x = torch.randn(2, 8, 6, 6, requires_grad=True)
    drs(x).sum().backward()
    assert drs.fc.weight.grad is not None and drs.fc.weight.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_delta_out_of_range_is_rejected() -> None:
    for bad in (0.0, -0.1, 1.01):
        with pytest.raises(ValueError, match="delta"):
            DRS(4, bad)
