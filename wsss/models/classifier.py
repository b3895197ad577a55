"""Classifiers whose class maps are CAMs.

* ``DRSClassifier``: VGG16-D1 (or a narrow variant) with DRS placed in any subset of
  layer1..layer6 (DRS Tables 1-2); with ``drs="none"`` it is a plain CAM network, which SSENet
  can train too (SSE's ``vgg16_*_ser``).
* ``ResNetClassifier``: SSENet's ResNet-38 head (docs/method.md, "Backbone: ResNet-38":
  Dropout2d 0.5, a bias-free 1x1 conv ``fc8``), on ResNet-38 or torchvision's ResNet-50/101 at
  output stride 8.

Both return ``{"cam", "logits"}`` and expose ``levels(x)`` (three feature maps for
AffinityNet), ``level_channels`` and ``output_stride``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn as nn

from wsss.models.drs import DRS
from wsss.models.vgg import ARCHS, GroupSpec, build_groups, init_he_fan_out
from wsss.options import LAYERS  # the six group names (DRS Table 2's rows)

if TYPE_CHECKING:
    from wsss.models.resnet38 import ResNet38

Controller = Literal["none", "constant", "learnable"]


class DRSClassifier(nn.Module):
    """Six layer groups, then a 1x1 conv to C class maps; logits are their GAP.

    There is no ReLU after the last conv (DRS ``vgg.py:221``): ``P = sigmoid(GAP(F))``. In a
    group listed in ``drs_layers`` every activation is a DRS module, elsewhere a plain ReLU.

    Args:
        specs: The six layer groups (``vgg.ARCHS``).
        num_classes: Foreground classes C (20 on VOC).
        drs: Controller kind; ``none`` puts a ReLU everywhere.
        drs_delta: The constant controller's delta.
        drs_layers: Groups whose activations are DRS.
        convs: Pretrained convolutions for the first groups (torchvision's VGG16).
    """

    # added by name (LAYERS) in __init__; declared for the type checker
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential
    layer5: nn.Sequential
    layer6: nn.Sequential

    def __init__(self, *, specs: Sequence[GroupSpec], num_classes: int, drs: Controller = "none",
                 drs_delta: float = 0.55, drs_layers: Collection[str] = LAYERS,
                 convs: Sequence[nn.Conv2d] | None = None) -> None:
        super().__init__()
        unknown = set(drs_layers) - set(LAYERS)
        if unknown:
            raise ValueError(f"unknown DRS layers {sorted(unknown)}; allowed {LAYERS}")
        self.drs_layers = frozenset(drs_layers) if drs != "none" else frozenset()

        def activation(group: int, channels: int) -> nn.Module:
            if LAYERS[group] not in self.drs_layers:
                return nn.ReLU(inplace=True)
            return DRS(channels, drs_delta, learnable=drs == "learnable")

        groups = build_groups(specs, activation, convs)
        for name, group in zip(LAYERS, groups, strict=True):
            self.add_module(name, group)
        self.classifier = nn.Conv2d(specs[-1].channels, num_classes, 1)  # extra_conv4
        init_he_fan_out(self.layer6)
        init_he_fan_out(self.classifier)
        if convs is None:  # nothing pretrained: He init for the backbone too
            for name in LAYERS[:5]:
                init_he_fan_out(getattr(self, name))

        self.level_channels = tuple(spec.channels for spec in specs[3:])
        self.output_stride = 2 ** sum(s.pool in ("max2", "max3s2") for s in specs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for name in LAYERS:
            x = getattr(self, name)(x)
        return x

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of layer4, layer5 and layer6 (AffinityNet's inputs)."""
        out = []
        for name in LAYERS:
            x = getattr(self, name)(x)
            if name in LAYERS[3:]:
                out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, 3, H, W) -> {"cam": (B, C, H/s, W/s) raw class maps, "logits": (B, C)}."""
        cam = self.classifier(self.features(x))
        return {"cam": cam, "logits": cam.mean(dim=(2, 3))}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """DRS ``vgg.py:254``: backbone weights / biases (x1 / x2), new weights / biases
        (x10 / x20); the new part is layer6, the last conv and every DRS controller."""
        groups: dict[str, list[nn.Parameter]] = {"backbone_w": [], "backbone_b": [],
                                                 "new_w": [], "new_b": []}
        for name, p in self.named_parameters():
            new = name.startswith(("layer6", "classifier")) or ".fc." in name
            kind = "b" if name.endswith("bias") else "w"
            groups[f"{'new' if new else 'backbone'}_{kind}"].append(p)
        return groups


class TorchvisionResNet(nn.Module):
    """torchvision ResNet-50/101 to layer4, layer3-4 dilated (output stride 8), frozen BN.

    ``levels`` are layer2, layer3 and layer4's outputs (512, 1024, 2048 channels).
    """

    level_channels = (512, 1024, 2048)
    channels = 2048
    output_stride = 8

    def __init__(self, depth: int) -> None:
        super().__init__()
        from torchvision.models.resnet import Bottleneck, ResNet

        blocks = {101: [3, 4, 23, 3], 50: [3, 4, 6, 3]}[depth]
        net = ResNet(Bottleneck, blocks, replace_stride_with_dilation=[False, True, True])
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1)
        self.layer2, self.layer3, self.layer4 = net.layer2, net.layer3, net.layer4

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        c2 = self.layer2(self.stem(x))
        c3 = self.layer3(c2)
        return [c2, c3, self.layer4(c3)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.levels(x)[-1]

    def train(self, mode: bool = True) -> TorchvisionResNet:
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                m.requires_grad_(False)
        return self


class ResNetClassifier(nn.Module):
    """trunk -> Dropout2d(0.5) -> bias-free 1x1 conv ``fc8`` (xavier): raw class maps."""

    def __init__(self, trunk: ResNet38 | TorchvisionResNet, num_classes: int,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.trunk = trunk
        self.dropout7 = nn.Dropout2d(dropout)
        self.fc8 = nn.Conv2d(trunk.channels, num_classes, 1, bias=False)
        nn.init.xavier_uniform_(self.fc8.weight)
        self.level_channels = trunk.level_channels
        self.output_stride = trunk.output_stride

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.trunk.levels(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cam = self.fc8(self.dropout7(self.trunk(x)))
        return {"cam": cam, "logits": cam.mean(dim=(2, 3))}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """psa: pretrained weights x1, biases x2 (none here), fc8 x10; frozen parts skipped."""
        groups: dict[str, list[nn.Parameter]] = {"backbone_w": [], "backbone_b": [],
                                                 "new_w": [], "new_b": []}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            kind = "b" if name.endswith("bias") else "w"
            groups[f"{'new' if name.startswith('fc8') else 'backbone'}_{kind}"].append(p)
        return groups


RESNETS = ("resnet38", "resnet50", "resnet101")


def build_trunk(arch: str) -> ResNet38 | TorchvisionResNet:
    """The ResNet trunk of a ``RESNETS`` classifier (what ImageNet weights initialise)."""
    from wsss.models.resnet38 import ResNet38

    if arch not in RESNETS:
        raise ValueError(f"{arch!r} has no ResNet trunk; allowed {list(RESNETS)}")
    return ResNet38() if arch == "resnet38" else TorchvisionResNet(int(arch[6:]))
Classifier = DRSClassifier | ResNetClassifier


def build_classifier(arch: str, num_classes: int, *, drs: Controller = "none",
                     drs_delta: float = 0.55, drs_layers: Collection[str] = LAYERS,
                     convs: Sequence[nn.Conv2d] | None = None) -> Classifier:
    if arch in RESNETS:
        if drs != "none":
            raise ValueError(f"DRS is defined on VGG layer groups, not on {arch}")
        return ResNetClassifier(build_trunk(arch), num_classes)
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; allowed {sorted(ARCHS) + list(RESNETS)}")
    return DRSClassifier(specs=ARCHS[arch], num_classes=num_classes, drs=drs,
                         drs_delta=drs_delta, drs_layers=drs_layers, convs=convs)
