from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from wsss import config
from wsss.models.deeplab import MSC, DeepLabV2, LargeFOV, build_segmenter
from wsss.stages.segment import schedule


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_largefov_vgg16_shape_stride_and_size() -> None:
    model = build_segmenter("largefov", 21).eval()
    assert isinstance(model, LargeFOV) and _count(model) == 20_505_429  # 14.7M VGG + fc6-8
    with torch.no_grad():
        assert model(torch.randn(1, 3, 161, 161)).shape == (1, 21, 21, 21)  # stride 8
    assert model.fc6.dilation == (12, 12) and model.fc7.kernel_size == (1, 1)
    assert model.layer5[0].dilation == (2, 2)
    assert torch.allclose(model.fc8.weight.std(), torch.tensor(0.01), atol=0.002)


def test_aspp_resnet101_stride_frozen_bn_and_groups() -> None:
    model = build_segmenter("aspp", 21)
    assert isinstance(model, DeepLabV2)
    assert [c.dilation[0] for c in model.aspp.convs] == [6, 12, 18, 24]
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)  # frozen BN even in train mode
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    groups = model.param_groups()
    frozen = {id(p) for m in bns for p in m.parameters()}
    assert not frozen & {id(p) for g in groups.values() for p in g}  # BN not optimised
    assert len(groups["new_w"]) == 4 and len(groups["new_b"]) == 4  # the ASPP convs
    before = bns[0].running_mean.clone()
    model(torch.randn(2, 3, 65, 65))
    torch.testing.assert_close(bns[0].running_mean, before)
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 65, 65)).shape == (1, 21, 9, 9)  # stride 8


def test_largefov_lr_groups() -> None:
    groups = build_segmenter("largefov_narrow", 9).param_groups()
    assert len(groups["new_w"]) == 1 and len(groups["new_b"]) == 1  # fc8 only
    assert all(p.dim() == 1 for p in groups["backbone_b"])  # biases (and BN affine): x2


def test_msc_outputs_in_training_and_max_fusion_in_eval() -> None:
    model = build_segmenter("largefov_narrow", 9, msc=True)
    assert isinstance(model, MSC)
    x = torch.randn(2, 3, 64, 64)
    outs = model.train()(x)
    assert isinstance(outs, list) and len(outs) == 4
    assert outs[0].shape == (2, 9, 16, 16) and outs[1].shape == (2, 9, 8, 8)
    model.eval()
    with torch.no_grad():
        fused = model(x)
        full = model.base(x)
    assert fused.shape == full.shape and (fused >= full - 1e-6).all()


def test_schedules_at_chosen_iterations() -> None:
    step = schedule(config.resolve({}).segment)  # LargeFOV: x0.1 at 4000 and 5000
    assert [step(i) for i in (0, 3999, 4000, 4999, 5000)] == \
        pytest.approx([1, 1, 0.1, 0.1, 0.01])
    poly = schedule(config.resolve({"segment/arch": "aspp"}).segment)  # updated every 10
    assert poly(15) == pytest.approx((1 - 10 / 20000) ** 0.9)
    assert poly(19) == poly(10) and poly(20000) == 0.0
