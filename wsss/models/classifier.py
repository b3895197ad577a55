"""VGG16-D1 classifier with DRS placed in any subset of layer1..layer6 (DRS Tables 1-2)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

import torch
import torch.nn as nn

from wsss.models.drs import DRS
from wsss.models.vgg import ARCHS, GroupSpec, build_groups, init_he_fan_out

Controller = Literal["none", "constant", "learnable"]
LAYER_NAMES = ("layer1", "layer2", "layer3", "layer4", "layer5", "layer6")


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

    def __init__(self, *, specs: Sequence[GroupSpec], num_classes: int, drs: Controller = "none",
                 drs_delta: float = 0.55, drs_layers: Collection[str] = LAYER_NAMES,
                 convs: Sequence[nn.Conv2d] | None = None) -> None:
        super().__init__()
        unknown = set(drs_layers) - set(LAYER_NAMES)
        if unknown:
            raise ValueError(f"unknown DRS layers {sorted(unknown)}; allowed {LAYER_NAMES}")
        self.drs_layers = frozenset(drs_layers) if drs != "none" else frozenset()

        def activation(group: int, channels: int) -> nn.Module:
            if LAYER_NAMES[group] not in self.drs_layers:
                return nn.ReLU(inplace=True)
            return DRS(channels, drs_delta, learnable=drs == "learnable")

        groups = build_groups(specs, activation, convs)
        for name, group in zip(LAYER_NAMES, groups, strict=True):
            self.add_module(name, group)
        self.classifier = nn.Conv2d(specs[-1].channels, num_classes, 1)  # extra_conv4
        init_he_fan_out(self.layer6)
        init_he_fan_out(self.classifier)
        if convs is None:  # nothing pretrained: He init for the backbone too
            for name in LAYER_NAMES[:5]:
                init_he_fan_out(getattr(self, name))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for name in LAYER_NAMES:
            x = getattr(self, name)(x)
        return x

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


def build_classifier(arch: str, num_classes: int, *, drs: Controller = "none",
                     drs_delta: float = 0.55, drs_layers: Collection[str] = LAYER_NAMES,
                     convs: Sequence[nn.Conv2d] | None = None) -> DRSClassifier:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; allowed {sorted(ARCHS)}")
    return DRSClassifier(specs=ARCHS[arch], num_classes=num_classes, drs=drs,
                         drs_delta=drs_delta, drs_layers=drs_layers, convs=convs)
