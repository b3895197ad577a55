from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsss.models.drs import DRS


def test_delta_one_is_a_plain_relu() -> None:
    """In value and gradient: every element is at or under the cap (the peak itself is a
    tie, and ties stay with the input), so nothing reaches the cap."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 5)
    x[0, 1] = -1.0  # an all-zero channel
    grad = torch.randn(2, 3, 5, 5)
    ours, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = DRS(3, delta=1.0)(ours)
    y.backward(grad)
    F.relu(ref).backward(grad)
    torch.testing.assert_close(y, F.relu(x))
    torch.testing.assert_close(ours.grad, ref.grad)


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


@pytest.mark.parametrize("learnable", [False, True])
def test_gradients_match_the_authors_max_pool_and_min(learnable: bool) -> None:
    """Reference: ``AdaptiveMaxPool2d`` (the peak's gradient to one element) and ``min``;
    inputs with all-zero channels and repeated peaks (ties), where ``amax`` would differ."""
    torch.manual_seed(0)
    drs = DRS(6, 0.55, learnable=learnable)
    x = torch.randn(3, 6, 7, 7)
    x[:, :2] = -1.0  # all-zero after the ReLU
    x[:, 2, :2, :2] = 3.0  # four tied peaks
    grad = torch.randn(3, 6, 7, 7)
    ours = x.clone().requires_grad_()
    drs(ours).backward(grad)

    ref = x.clone().requires_grad_()
    r = F.relu(ref)
    peak = torch.nn.AdaptiveMaxPool2d(1)(r)
    g = (torch.sigmoid(drs.fc(r.mean(dim=(2, 3))))[:, :, None, None] if learnable
         else drs.delta)
    fc_grad = drs.fc.weight.grad.clone() if learnable else None
    if learnable:
        drs.fc.weight.grad = None
    torch.minimum(r, g * peak).backward(grad)
    torch.testing.assert_close(ours.grad, ref.grad)
    if learnable:  # the gate's weights, whose gradient the module computes by hand
        torch.testing.assert_close(fc_grad, drs.fc.weight.grad)
    if not learnable:  # (the gate's GAP reaches every element)
        # the four tied peaks lie above the cap: only the cap's gradient reaches them, and
        # it goes to one of them (``amax`` would give each a quarter)
        tied = ours.grad[:, 2, :2, :2].flatten(1)
        assert ((tied != 0).sum(dim=1) == 1).all()


@pytest.mark.parametrize("learnable", [False, True])
def test_channels_last_gives_the_same_values_and_gradients(learnable: bool) -> None:
    """The scatter at the peak must land in the gradient whatever its layout (a reshape of
    a channels-last tensor is a copy, and a scatter into it would be lost)."""
    torch.manual_seed(0)
    drs = DRS(6, 0.55, learnable=learnable)
    x = torch.randn(3, 6, 7, 5)
    x[:, 0] = -1.0
    x[:, 2, :2, :2] = 3.0
    grad = torch.randn(3, 6, 7, 5)
    results = []
    for x_format in (torch.contiguous_format, torch.channels_last):
        for grad_format in (torch.contiguous_format, torch.channels_last):
            xx = x.clone().contiguous(memory_format=x_format).requires_grad_()
            y = drs(xx)
            y.backward(grad.contiguous(memory_format=grad_format))
            gate = drs.fc.weight.grad.clone() if learnable else torch.zeros(())
            if learnable:
                drs.fc.weight.grad = None
            assert y.is_contiguous(memory_format=x_format)
            results.append((y.detach(), xx.grad, gate))
    for other in results[1:]:
        torch.testing.assert_close(other, results[0])
