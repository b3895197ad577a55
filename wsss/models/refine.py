"""The DRS† refinement network: VGG16-D1 with plain ReLUs regressing localization maps.

Kim, Han & Kim, "Discriminative Region Suppression for Weakly-Supervised Semantic
Segmentation", AAAI 2021, arXiv:2103.07246, section "Localization Map Refinement
Learning" (docs/method.md, "Refinement network (DRS†)"): MSE against the arg-max-masked maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from wsss.models.vgg import ARCHS, GroupSpec, build_groups, init_he_fan_out
from wsss.options import LAYERS


class Refiner(nn.Module):
    """Same groups as the classifier with ReLUs, output upsampled to the input size.

    DRS ``vgg_refine.py``: extra convs from N(0, 0.01), zero bias; the C-channel output is
    upsampled bilinearly (align_corners=True) with no ReLU and no normalisation, so refined
    values can be negative or above 1. Trained with MSE against the arg-max-masked maps.
    """

    def __init__(self, *, specs: Sequence[GroupSpec], num_classes: int,
                 convs: Sequence[nn.Conv2d] | None = None) -> None:
        super().__init__()
        groups = build_groups(specs, lambda g, c: nn.ReLU(inplace=True), convs)
        for name, group in zip(LAYERS, groups, strict=True):
            self.add_module(name, group)
        self.classifier = nn.Conv2d(specs[-1].channels, num_classes, 1)
        if convs is None:
            for name in LAYERS[:5]:
                init_he_fan_out(getattr(self, name))
        for m in [*groups[5].modules(), self.classifier]:
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)  # type: ignore[arg-type]  # bias=True

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, C, H/s, W/s): the raw output, before any upsampling."""
        y = x
        for name in LAYERS:
            y = getattr(self, name)(y)
        return self.classifier(y)

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """x: (B, 3, H, W) -> (B, C, *size) unbounded maps: the raw output upsampled once,
        straight to ``size`` (default the input's), as DRS's ``vgg_refine.py`` does: to the
        input in training, to the original image when making pseudo labels."""
        return F.interpolate(self.head(x), size=size or tuple(x.shape[2:]), mode="bilinear",
                             align_corners=True)


def build_refiner(arch: str, num_classes: int,
                  convs: Sequence[nn.Conv2d] | None = None) -> Refiner:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; allowed {sorted(ARCHS)}")
    return Refiner(specs=ARCHS[arch], num_classes=num_classes, convs=convs)
