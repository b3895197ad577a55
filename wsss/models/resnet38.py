"""ResNet-38 "A1", SSENet's and psa's backbone (docs/method.md, "Backbone: ResNet-38"), output
stride 8.

Wu, Shen & van den Hengel, "Wider or Deeper: Revisiting the ResNet Model for Visual
Recognition", Pattern Recognition 2019, arXiv:1611.10080 (model A1, converted by psa).

Module names follow psa's ``network/resnet38d.py`` so the public converted weights
(``ilsvrc-cls_rna-a1_cls1000_ep-0001.pth``, keys ``conv1a.weight``, ``b2.bn_branch2a...``)
load strictly. Pre-activation blocks: BN-ReLU first, the shortcut taken from that output when
the shape changes. ``levels`` returns the three features AffinityNet reads: b5's and b6's
BN-ReLU inputs (512 and 1024 channels) and the final BN-ReLU (4096).

Training mode follows the reference ``train()``: every BatchNorm stays in eval mode with
frozen affine parameters, and ``conv1a``, ``b2``, ``b2_1``, ``b2_2`` do not train.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

FROZEN = ("conv1a", "b2", "b2_1", "b2_2")


class ResBlock(nn.Module):
    """Two 3x3 convs (the first may stride or use ``first_dilation``)."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, stride: int = 1,
                 first_dilation: int | None = None, dilation: int = 1) -> None:
        super().__init__()
        first = dilation if first_dilation is None else first_dilation
        self.same_shape = c_in == c_out and stride == 1
        self.bn_branch2a = nn.BatchNorm2d(c_in)
        self.conv_branch2a = nn.Conv2d(c_in, c_mid, 3, stride, padding=first, dilation=first,
                                       bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(c_mid)
        self.conv_branch2b1 = nn.Conv2d(c_mid, c_out, 3, padding=dilation, dilation=dilation,
                                        bias=False)
        if not self.same_shape:
            self.conv_branch1 = nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (output, the BN-ReLU'd input)."""
        pre = F.relu(self.bn_branch2a(x))
        shortcut = x if self.same_shape else self.conv_branch1(pre)
        y = self.conv_branch2b1(F.relu(self.bn_branch2b1(self.conv_branch2a(pre))))
        return shortcut + y, pre


class BottleneckBlock(nn.Module):
    """1x1 -> 3x3 (dilated) -> 1x1 with Dropout2d before the last two convs (b6, b7)."""

    def __init__(self, c_in: int, c_out: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.bn_branch2a = nn.BatchNorm2d(c_in)
        self.conv_branch2a = nn.Conv2d(c_in, c_out // 4, 1, bias=False)
        self.bn_branch2b1 = nn.BatchNorm2d(c_out // 4)
        self.dropout_2b1 = nn.Dropout2d(dropout)
        self.conv_branch2b1 = nn.Conv2d(c_out // 4, c_out // 2, 3, padding=dilation,
                                        dilation=dilation, bias=False)
        self.bn_branch2b2 = nn.BatchNorm2d(c_out // 2)
        self.dropout_2b2 = nn.Dropout2d(dropout)
        self.conv_branch2b2 = nn.Conv2d(c_out // 2, c_out, 1, bias=False)
        self.conv_branch1 = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pre = F.relu(self.bn_branch2a(x))
        y = F.relu(self.bn_branch2b1(self.conv_branch2a(pre)))
        y = self.conv_branch2b1(self.dropout_2b1(y))
        y = self.conv_branch2b2(self.dropout_2b2(F.relu(self.bn_branch2b2(y))))
        return self.conv_branch1(pre) + y, pre


class ResNet38(nn.Module):
    channels = 4096
    level_channels = (512, 1024, 4096)
    output_stride = 8

    def __init__(self) -> None:
        super().__init__()
        self.conv1a = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.b2 = ResBlock(64, 128, 128, stride=2)
        self.b2_1, self.b2_2 = ResBlock(128, 128, 128), ResBlock(128, 128, 128)
        self.b3 = ResBlock(128, 256, 256, stride=2)
        self.b3_1, self.b3_2 = ResBlock(256, 256, 256), ResBlock(256, 256, 256)
        self.b4 = ResBlock(256, 512, 512, stride=2)
        for i in range(1, 6):
            setattr(self, f"b4_{i}", ResBlock(512, 512, 512))
        self.b5 = ResBlock(512, 512, 1024, first_dilation=1, dilation=2)
        self.b5_1, self.b5_2 = ResBlock(1024, 512, 1024, dilation=2), ResBlock(
            1024, 512, 1024, dilation=2)
        self.b6 = BottleneckBlock(1024, 2048, dilation=4, dropout=0.3)
        self.b7 = BottleneckBlock(2048, 4096, dilation=4, dropout=0.5)
        self.bn7 = nn.BatchNorm2d(4096)
        for name in FROZEN:
            getattr(self, name).requires_grad_(False)

    def levels(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.conv1a(x)
        for name in ("b2", "b2_1", "b2_2", "b3", "b3_1", "b3_2", "b4", "b4_1", "b4_2", "b4_3",
                     "b4_4", "b4_5"):
            x, _ = getattr(self, name)(x)
        x, conv4 = self.b5(x)
        x, _ = self.b5_1(x)
        x, _ = self.b5_2(x)
        x, conv5 = self.b6(x)
        x, _ = self.b7(x)
        return [conv4, conv5, F.relu(self.bn7(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.levels(x)[-1]

    def train(self, mode: bool = True) -> ResNet38:
        super().train(mode)
        for m in self.modules():  # frozen BN: running statistics and affine both fixed
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                m.weight.requires_grad_(False)
                m.bias.requires_grad_(False)
        return self
