"""DeepLab segmentation networks: LargeFOV (VGG16) and v2 ASPP (ResNet-101), plus narrow
variants for the synthetic benchmark.

* Chen et al., "Semantic Image Segmentation with Deep Convolutional Nets and Fully Connected
  CRFs" (DeepLab-LargeFOV), ICLR 2015, https://arxiv.org/abs/1412.7062. VGG16 with 3x3/s2
  pools, pool4 and pool5 at stride 1, conv5 dilated by 2, a 3x3 average pool, then
  fc6 (3x3, dilation 12, 1024) - fc7 (1x1, 1024) - fc8 (1x1, C), dropout 0.5 (docs/method.md,
  "Segmentation networks").
* Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets, Atrous
  Convolution, and Fully Connected CRFs" (v2), TPAMI 2017, https://arxiv.org/abs/1606.00915.
  ResNet-101 at output stride 8, ASPP = sum of four 3x3 convs at rates 6/12/18/24, frozen
  BatchNorm, optional multi-scale inputs (MSC) fused by max (docs/method.md, "Segmentation
  networks").

Both return logits at output stride 8 (4 for ``narrow``); the caller upsamples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from wsss.models.vgg import NARROW, GroupSpec, build_groups, init_he_fan_out
from wsss.options import LAYERS

LARGEFOV_VGG16 = (
    GroupSpec(64, 2, "max3s2"), GroupSpec(128, 2, "max3s2"), GroupSpec(256, 3, "max3s2"),
    GroupSpec(512, 3, "max3s1"), GroupSpec(512, 3, "max3s1", dilation=2),
)
TRUNK = LAYERS[:5]  # the ImageNet-pretrained VGG groups, named as in the classifier


class LargeFOV(nn.Module):
    """DeepLab-LargeFOV: a VGG trunk (five groups) and the fc6-fc7-fc8 head."""

    def __init__(self, *, specs: Sequence[GroupSpec], num_classes: int, fc_channels: int = 1024,
                 fc6_dilation: int = 12, dropout: float = 0.5,
                 convs: Sequence[nn.Conv2d] | None = None) -> None:
        super().__init__()
        groups = build_groups(specs, lambda g, c: nn.ReLU(inplace=True), convs)
        for name, group in zip(TRUNK, groups, strict=True):
            self.add_module(name, group)
        if convs is None:
            init_he_fan_out(nn.Sequential(*groups))
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        c = specs[-1].channels
        self.fc6 = nn.Conv2d(c, fc_channels, 3, padding=fc6_dilation, dilation=fc6_dilation)
        self.fc7 = nn.Conv2d(fc_channels, fc_channels, 1)
        self.fc8 = nn.Conv2d(fc_channels, num_classes, 1)
        self.drop = nn.Dropout2d(dropout)
        init_he_fan_out(nn.Sequential(self.fc6, self.fc7))
        nn.init.normal_(self.fc8.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc8.bias)  # type: ignore[arg-type]  # bias=True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in TRUNK:
            x = getattr(self, name)(x)
        x = self.drop(F.relu(self.fc6(self.pool(x)), inplace=True))
        x = self.drop(F.relu(self.fc7(x), inplace=True))
        return self.fc8(x)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """LargeFOV solver: weights x1, biases x2 (no decay), fc8 weights x10, bias x20."""
        groups: dict[str, list[nn.Parameter]] = {"backbone_w": [], "backbone_b": [],
                                                 "new_w": [], "new_b": []}
        for name, p in self.named_parameters():
            new = name.startswith("fc8")
            kind = "b" if name.endswith("bias") else "w"
            groups[f"{'new' if new else 'backbone'}_{kind}"].append(p)
        return groups


class ASPP(nn.Module):
    """Four parallel 3x3 convs at different rates straight to class logits, summed."""

    def __init__(self, in_channels: int, num_classes: int, rates: Sequence[int]) -> None:
        super().__init__()
        convs = [nn.Conv2d(in_channels, num_classes, 3, padding=r, dilation=r) for r in rates]
        self.convs = nn.ModuleList(convs)
        for conv in convs:
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)  # type: ignore[arg-type]  # bias=True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([conv(x) for conv in self.convs]).sum(dim=0)


class DeepLabV2(nn.Module):
    """A torchvision ResNet trunk at output stride 8 with frozen BatchNorm, then ASPP."""

    def __init__(self, *, trunk: nn.Module, trunk_channels: int, num_classes: int,
                 rates: Sequence[int] = (6, 12, 18, 24)) -> None:
        super().__init__()
        self.trunk = trunk
        self.aspp = ASPP(trunk_channels, num_classes, rates)
        for m in self.trunk.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.requires_grad_(False)
                m.bias.requires_grad_(False)

    def train(self, mode: bool = True) -> DeepLabV2:
        super().train(mode)
        for m in self.trunk.modules():  # frozen BN: running statistics never move
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.aspp(self.trunk(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """DeepLab-v2 solver: trunk x1, ASPP weights x10, ASPP biases x20 (no decay)."""
        groups: dict[str, list[nn.Parameter]] = {"backbone_w": [], "backbone_b": [],
                                                 "new_w": [], "new_b": []}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue  # frozen BN is not in the optimiser
            new = name.startswith("aspp")
            kind = "b" if name.endswith("bias") else "w"
            groups[f"{'new' if new else 'backbone'}_{kind}"].append(p)
        return groups


def resnet_trunk(depth: int, width_per_group: int = 64) -> tuple[nn.Module, int]:
    """torchvision ResNet (Bottleneck) up to layer4, layer3-4 dilated: output stride 8."""
    from torchvision.models.resnet import Bottleneck, ResNet

    blocks = {101: [3, 4, 23, 3], 50: [3, 4, 6, 3], 14: [1, 1, 1, 1]}[depth]
    net = ResNet(Bottleneck, blocks, width_per_group=width_per_group,
                 replace_stride_with_dilation=[False, True, True])
    trunk = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool,
                          net.layer1, net.layer2, net.layer3, net.layer4)
    return trunk, 2048


class MSC(nn.Module):
    """Multi-scale inputs (DeepLab-v2 ``msc.py``): the base at 1x and ``scales``, max-fused.

    Training returns every output (each gets its own loss) plus the fused one; eval returns
    the fused logits at the 1x output size.
    """

    def __init__(self, base: LargeFOV | DeepLabV2, scales: Sequence[float] = (0.5, 0.75)) -> None:
        super().__init__()
        self.base, self.scales = base, tuple(scales)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        full = self.base(x)
        others = [self.base(F.interpolate(x, scale_factor=s, mode="bilinear",
                                          align_corners=False)) for s in self.scales]
        up = [F.interpolate(o, size=full.shape[2:], mode="bilinear", align_corners=False)
              for o in others]
        fused = torch.stack([full, *up]).amax(dim=0)
        return [full, *others, fused] if self.training else fused

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return self.base.param_groups()


Segmenter = LargeFOV | DeepLabV2 | MSC


def build_segmenter(arch: str, num_classes: int, *, rates: Sequence[int] = (6, 12, 18, 24),
                    msc: bool = False, convs: Sequence[nn.Conv2d] | None = None) -> Segmenter:
    """``largefov`` / ``aspp`` (VOC scale) or ``largefov_narrow`` / ``aspp_narrow``."""
    if arch == "largefov":
        model: LargeFOV | DeepLabV2 = LargeFOV(specs=LARGEFOV_VGG16, num_classes=num_classes,
                                               convs=convs)
    elif arch == "largefov_narrow":  # the classifier's narrow trunk; fc6 dilation 4, 96 ch
        # dropout 0.5 on a 96-channel head starves a 6-epoch run; 0.1 keeps the regulariser
        model = LargeFOV(specs=NARROW[:5], num_classes=num_classes, fc_channels=96,
                         fc6_dilation=4, dropout=0.1, convs=convs)
    elif arch == "aspp":
        trunk, channels = resnet_trunk(101)
        model = DeepLabV2(trunk=trunk, trunk_channels=channels, num_classes=num_classes,
                          rates=rates)
    elif arch == "aspp_narrow":
        trunk, channels = resnet_trunk(14, width_per_group=16)
        model = DeepLabV2(trunk=trunk, trunk_channels=channels, num_classes=num_classes,
                          rates=rates)
    else:
        raise ValueError(f"unknown segmenter {arch!r}")
    return MSC(model) if msc else model
