"""SER (SSENet Eq. 2 as the reference computes it) on constructed tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from wsss.models.ser import ser_loss, ser_normalize, ser_step, small_size


@pytest.mark.parametrize(("size", "rate", "want"), [
    ((448, 448), 0.3, (134, 134)), ((500, 333), 0.3, (150, 99)), ((64, 64), 0.2, (12, 12))])
def test_small_branch_size_is_floor_of_input_times_rate(size, rate, want) -> None:
    assert small_size(size, rate) == want


def test_normalisation_is_per_image_and_class_with_absent_classes_zero() -> None:
    cam = torch.randn(2, 3, 8, 8) * 5
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    norm = ser_normalize(cam, labels)
    peak = norm.amax(dim=(2, 3))
    positive = F.relu(cam).amax(dim=(2, 3)) > 1e-3
    assert torch.all(norm >= 0)
    assert torch.allclose(peak[(labels > 0) & positive], torch.ones(()), atol=1e-4)
    assert torch.all(norm[labels == 0] == 0)


def test_ser_loss_is_zero_for_an_exactly_downsampled_map_and_positive_otherwise() -> None:
    torch.manual_seed(0)
    large = torch.rand(2, 4, 40, 40)
    labels = torch.ones(2, 4)
    small = F.interpolate(large, size=(12, 12), mode="bilinear", align_corners=False)
    assert ser_loss(small, large, labels).item() < 1e-12
    assert ser_loss(torch.rand(2, 4, 12, 12), large, labels).item() > 1e-3


def test_a_pointwise_network_is_scale_equivariant_and_a_padded_conv_is_not() -> None:
    torch.manual_seed(0)
    images, labels = torch.randn(2, 3, 32, 32), torch.tensor([[1.0, 0, 1], [0, 1, 0]])
    pointwise = nn.Conv2d(3, 3, 1)  # commutes with bilinear resizing: an equivariant "CAM"
    out = ser_step(pointwise, images, labels, rate=0.5)
    assert out.ser.item() < 1e-10
    spatial = nn.Conv2d(3, 3, 5, padding=2)
    assert ser_step(spatial, images, labels, rate=0.5).ser.item() > 1e-4


def test_total_loss_combines_both_branches_and_eta_and_gradients_reach_both() -> None:
    torch.manual_seed(0)
    net = nn.Conv2d(3, 4, 3, padding=1)
    images, labels = torch.randn(2, 3, 24, 24), torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0]])
    out = ser_step(net, images, labels, rate=0.3, weight=2.5)
    assert torch.allclose(out.loss, (out.cls + out.cls_small) / 2 + 2.5 * out.ser)
    assert out.logits.shape == (2, 4)
    out.ser.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0
    base = ser_step(net, images, labels, rate=None)
    assert base.ser is None and torch.equal(base.loss, base.cls)
