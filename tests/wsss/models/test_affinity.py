"""AffinityNet pairs, labels and loss on hand-built maps; ResNet-38's layout."""

from __future__ import annotations

import math

import pytest
import torch

from wsss.models.affinity import AffinityNet, affinity_loss, pair_labels
from wsss.models.classifier import build_classifier
from wsss.ops.pairs import OFFSETS, pair_affinities, pair_values

PSA_OFFSETS = [(0, 1), (0, 2), (0, 3), (0, 4)] + [
    (1, x) for x in range(-4, 5)] + [(2, x) for x in range(-4, 5)] + [
    (3, x) for x in range(-3, 4)] + [(4, x) for x in range(-2, 3)]


def test_the_34_offsets_of_the_radius_5_half_neighbourhood() -> None:
    assert len(OFFSETS) == 34
    assert list(OFFSETS) == PSA_OFFSETS
    assert all(dx * dx + dy * dy < 25 for dy, dx in OFFSETS)


def test_a_56x56_map_gives_the_reference_pair_count() -> None:
    src, dst = pair_values(torch.zeros(56, 56))
    assert src.shape == (1, 52, 48) and dst.shape == (34, 52, 48)
    assert dst.numel() == 84_864


def test_pair_values_point_at_the_offset_pixel() -> None:
    grid = torch.arange(10 * 12).reshape(10, 12)
    src, dst = pair_values(grid)
    for k, (dy, dx) in enumerate(OFFSETS):
        assert torch.equal(dst[k] - src[0], torch.full_like(src[0], dy * 12 + dx))


def test_affinity_is_one_for_equal_features_and_exp_of_mean_l1() -> None:
    f = torch.zeros(1, 2, 5, 9)
    f[0, :, 0, 5] = torch.tensor([1.0, 3.0])  # the (0, 1) neighbour of the only "from" pixel
    aff = pair_affinities(f)
    assert aff.shape == (1, 34, 1, 1)
    assert aff[0, 0].item() == pytest.approx(math.exp(-2.0))
    assert torch.allclose(aff[0, 1:], torch.ones(33, 1, 1))


def test_pair_labels_on_a_hand_built_map() -> None:
    label = torch.zeros(1, 5, 9, dtype=torch.long)  # one "from" pixel at (0, 4): background
    label[0, 0, 5] = 3  # (0, 1): another class -> negative
    label[0, 0, 6] = 255  # (0, 2): unknown -> no pair
    masks = pair_labels(label)
    assert masks["bg"].sum() == 32 and masks["neg"].sum() == 1 and masks["fg"].sum() == 0
    label[0, 0, 4] = 3  # now the "from" pixel is class 3
    masks = pair_labels(label)
    assert masks["fg"].sum() == 1 and masks["neg"].sum() == 32 and masks["bg"].sum() == 0


def test_affinity_loss_terms() -> None:
    label = torch.zeros(1, 5, 9, dtype=torch.long)
    label[0, 0, 5] = 3
    aff = torch.full((1, 34, 1, 1), 0.8)
    loss, parts = affinity_loss(aff, label)
    bg = -math.log(0.8 + 1e-5) * 32 / (32 + 1e-5)
    neg = -math.log(1 + 1e-5 - 0.8) * 1 / (1 + 1e-5)
    assert parts["bg"].item() == pytest.approx(bg, rel=1e-5)
    assert parts["fg"].item() == 0.0
    assert parts["neg"].item() == pytest.approx(neg, rel=1e-5)
    assert loss.item() == pytest.approx(bg / 4 + neg / 2, rel=1e-5)


@pytest.mark.parametrize(("arch", "size"), [("narrow", 64), ("narrow_os8", 128)])
def test_affinity_net_on_the_narrow_backbones(arch: str, size: int) -> None:
    net = AffinityNet(build_classifier(arch, 20), dims=(8, 16, 32)).eval()
    x = torch.randn(2, 3, size, size)
    side = size // net.output_stride
    assert net(x).shape == (2, 56, side, side)
    aff = net.affinities(x)
    assert aff.shape == (2, 34, side - 4, side - 8)
    assert torch.all((aff > 0) & (aff <= 1))
    groups = net.param_groups()
    assert groups["new_w"] == [*(h.weight for h in net.heads), net.f9.weight]
    assert not any(p is net.backbone.classifier.weight for p in groups["backbone_w"])


def test_resnet38_layout_names_stride_and_frozen_parts() -> None:
    model = build_classifier("resnet38", 20)
    names = model.state_dict()
    for key in ("trunk.conv1a.weight", "trunk.b2.bn_branch2a.running_mean",
                "trunk.b4_5.conv_branch2b1.weight", "trunk.b5.conv_branch1.weight",
                "trunk.b6.conv_branch2b2.weight", "trunk.b7.conv_branch1.weight",
                "trunk.bn7.weight", "fc8.weight"):
        assert key in names
    assert "fc8.bias" not in names
    convs = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)
             and not n.endswith("conv_branch1")]
    assert len(convs) == 38  # conv1a + 15 x 2 (b2-b5) + 2 x 3 (b6, b7) + fc8: the "38"
    model.train()
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(p.requires_grad for p in model.trunk.b2_2.parameters())
    assert model.trunk.b3.conv_branch2a.weight.requires_grad
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 48, 48))
    assert out["cam"].shape == (1, 20, 6, 6) and out["logits"].shape == (1, 20)
    levels = model.levels(torch.randn(1, 3, 32, 32))
    assert [t.shape[1] for t in levels] == [512, 1024, 4096]


def test_a_map_too_small_for_pairs_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="8x8 map has no pixel pairs"):
        pair_values(torch.zeros(8, 8))
