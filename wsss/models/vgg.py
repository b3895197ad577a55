"""VGG16-D1 (DRS's backbone) and its narrow variants, as six named layer groups.

VGG16-D1 (DRS ``models/vgg.py``, docs/method.md, "Classifier: VGG16-D1 with DRS"): torchvision's
VGG16 convolutions with pool4 a 3x3/stride-1 max-pool, conv5 dilated by 2 and no pool5 (output
stride 8), followed by three extra 3x3 convs. The groups are the rows of DRS Table 2::

    layer1 conv1_x (64)   layer2 conv2_x (128)   layer3 conv3_x (256)
    layer4 conv4_x (512)  layer5 conv5_x (512, dilated)   layer6 the 3 extra convs (512)

Each conv is followed by an activation (ReLU, or DRS where the group is in the placement),
then the group's pool. The narrow variants keep the six groups with one conv each and
fewer channels, so their receptive field (about 32 px, or 62 px for ``narrow_os8``) stays
smaller than the synthetic objects (docs/synthetic.md: the first-order factor).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch.nn as nn

Pool = Literal["none", "max2", "max3s1", "max3s2"]


@dataclass(frozen=True)
class GroupSpec:
    channels: int
    convs: int
    pool: Pool  # after the group
    dilation: int = 1
    batchnorm: bool = False  # conv-BN-act: the narrow nets train from scratch (VGG16-D1 has none)


def _pools(*groups: tuple[int, Pool]) -> tuple[tuple[int, Pool], ...]:
    return groups


VGG16_D1 = (
    GroupSpec(64, 2, "max2"), GroupSpec(128, 2, "max2"), GroupSpec(256, 3, "max2"),
    GroupSpec(512, 3, "max3s1"), GroupSpec(512, 3, "none", dilation=2), GroupSpec(512, 3, "none"),
)
NARROW = tuple(  # 64-px synthetic images: receptive field 32 px, output stride 4
    GroupSpec(c, 1, pool, batchnorm=True)
    for c, pool in _pools((16, "none"), (16, "max2"), (32, "none"), (32, "max2"), (64, "none"),
                    (64, "none"))
)
NARROW_OS8 = tuple(  # 128-px synthetic images: receptive field 62 px, output stride 8
    GroupSpec(c, 1, pool, batchnorm=True)
    for c, pool in _pools((16, "max2"), (32, "max2"), (32, "none"), (64, "max2"), (64, "none"),
                    (64, "none"))
)
ARCHS = {"vgg16_d1": VGG16_D1, "narrow": NARROW, "narrow_os8": NARROW_OS8}
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)  # vgg16.features


def _pool(kind: Pool) -> list[nn.Module]:
    if kind == "max2":
        return [nn.MaxPool2d(2, 2)]
    if kind == "max3s1":
        return [nn.MaxPool2d(3, stride=1, padding=1)]
    if kind == "max3s2":  # DeepLab v1 (Caffe): 3x3 / stride 2 / pad 1
        return [nn.MaxPool2d(3, stride=2, padding=1)]
    return []


def build_groups(
    specs: Sequence[GroupSpec],
    activation: Callable[[int, int], nn.Module],
    convs: Sequence[nn.Conv2d] | None = None,
    in_channels: int = 3,
) -> list[nn.Sequential]:
    """Six ``nn.Sequential`` groups; ``activation(group_index, channels)`` makes each act.

    ``convs`` reuses existing convolutions (torchvision's VGG16, with its weights) for the
    first groups in order; dilation and padding are set from the spec.
    """
    given = list(convs or [])
    groups, c_in = [], in_channels
    for g, spec in enumerate(specs):
        layers: list[nn.Module] = []
        for _ in range(spec.convs):
            conv = given.pop(0) if given else nn.Conv2d(c_in, spec.channels, 3)
            if (conv.in_channels, conv.out_channels) != (c_in, spec.channels):
                raise ValueError(f"layer{g + 1}: conv is {conv.in_channels}->"
                                 f"{conv.out_channels}, spec wants {c_in}->{spec.channels}")
            conv.dilation, conv.padding = (spec.dilation,) * 2, (spec.dilation,) * 2
            norm = [nn.BatchNorm2d(spec.channels)] if spec.batchnorm else []
            layers += [conv, *norm, activation(g, spec.channels)]
            c_in = spec.channels
        groups.append(nn.Sequential(*layers, *_pool(spec.pool)))
    return groups


def torchvision_vgg16_convs(state_dict: dict | None = None) -> list[nn.Conv2d]:
    """The 13 convolutions of torchvision's VGG16, loaded from ``state_dict`` if given."""
    from torchvision.models import vgg16

    model = vgg16(weights=None)
    if state_dict is not None:
        model.load_state_dict(state_dict)  # strict: a wrong file fails loudly
    return [model.features[i] for i in TORCHVISION_CONV_INDICES]


def init_he_fan_out(module: nn.Module) -> None:
    """DRS ``extra_conv*`` init: N(0, sqrt(2 / (k * k * out_channels))), zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
