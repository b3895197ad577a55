from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from wsss.config import LAYERS
from wsss.models.classifier import build_classifier
from wsss.models.drs import DRS
from wsss.models.refine import build_refiner
from wsss.models.vgg import torchvision_vgg16_convs


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _drs_per_group(model: nn.Module) -> dict[str, int]:
    return {g: sum(isinstance(m, DRS) for m in getattr(model, g).modules()) for g in LAYERS}


def test_parameter_counts_match_the_paper() -> None:
    assert _count(build_classifier("vgg16_d1", 20, drs="none")) == 21_804_372
    assert _count(build_classifier("vgg16_d1", 20, drs="constant", drs_delta=0.55)) == 21_804_372
    assert _count(build_classifier("vgg16_d1", 20, drs="learnable")) == 24_401_236
    assert _count(build_refiner("vgg16_d1", 20)) == 21_804_372


def test_lr_groups_match_the_reference() -> None:
    groups = build_classifier("vgg16_d1", 20, drs="learnable").param_groups()
    # docs/method.md, "Classifier: VGG16-D1 with DRS": [13, 13, 20, 4]; the 16 DRS controllers sit
    # with the new weights (x10)
    assert [len(groups[k]) for k in ("backbone_w", "backbone_b", "new_w", "new_b")] == \
        [13, 13, 20, 4]


@pytest.mark.parametrize(("layers", "expected"), [
    (LAYERS, {"layer1": 2, "layer2": 2, "layer3": 3, "layer4": 3, "layer5": 3, "layer6": 3}),
    (("layer5", "layer6"), {"layer1": 0, "layer2": 0, "layer3": 0, "layer4": 0, "layer5": 3,
                            "layer6": 3}),
    (("layer1", "layer2", "layer3", "layer4"), {"layer1": 2, "layer2": 2, "layer3": 3,
                                                "layer4": 3, "layer5": 0, "layer6": 0}),
])
def test_placement_builds_drs_exactly_in_the_listed_groups(layers, expected) -> None:
    model = build_classifier("vgg16_d1", 20, drs="constant", drs_layers=layers)
    assert _drs_per_group(model) == expected
    relus = sum(isinstance(m, nn.ReLU) for m in model.modules())
    assert relus == 16 - sum(expected.values())  # every other activation is a plain ReLU


def test_no_drs_means_no_drs_modules_whatever_the_layers() -> None:
    model = build_classifier("narrow", 8, drs="none", drs_layers=LAYERS)
    assert sum(_drs_per_group(model).values()) == 0


def test_vgg16_d1_output_stride_and_logits() -> None:
    model = build_classifier("vgg16_d1", 20, drs="learnable").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 160, 160))
    assert out["cam"].shape == (1, 20, 20, 20)  # stride 8: pool4 3x3/s1, dilated conv5
    torch.testing.assert_close(out["logits"], out["cam"].mean(dim=(2, 3)))
    assert model.layer5[0].dilation == (2, 2) and model.layer4[-1].stride == 1


@pytest.mark.parametrize(("arch", "size", "cam"), [("narrow", 64, 16), ("narrow_os8", 128, 16)])
def test_narrow_variants_keep_six_groups(arch: str, size: int, cam: int) -> None:
    model = build_classifier(arch, 8, drs="constant", drs_delta=0.5)
    assert all(hasattr(model, g) for g in LAYERS)
    assert model(torch.randn(2, 3, size, size))["cam"].shape == (2, 8, cam, cam)
    assert sum(_drs_per_group(model).values()) == 6


def test_torchvision_weights_land_in_the_right_convs() -> None:
    from torchvision.models import vgg16

    torch.manual_seed(1)
    source = vgg16(weights=None).state_dict()
    model = build_classifier("vgg16_d1", 20, convs=torchvision_vgg16_convs(source))
    torch.testing.assert_close(model.layer1[0].weight, source["features.0.weight"])
    torch.testing.assert_close(model.layer5[4].weight, source["features.28.weight"])
    assert model.layer5[4].dilation == (2, 2)


def test_refiner_output_is_upsampled_and_unbounded() -> None:
    model = build_refiner("narrow", 8)
    out = model(torch.randn(2, 3, 64, 48))
    assert out.shape == (2, 8, 64, 48) and (out < 0).any()  # no ReLU on the output
