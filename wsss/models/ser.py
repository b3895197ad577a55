"""SSENet's self-supervised scale equivariant regulariser (SER), docs/method.md, "SER training".

Wang et al., "Self-supervised Scale Equivariant Network for Weakly Supervised Semantic
Segmentation", arXiv:1909.03714: the loss is Eqs. 1-2 (eta = 1), the normalisation Eq. 3.

One weight-shared network sees the image twice: at its size (large branch) and bilinearly
downsampled by the rate r (small branch). Each branch's class maps are upsampled to its own
input size (the SSE head does this inside the model), the large branch's maps are then
downsampled to the small branch's size, and both are normalised per image and class::

    norm(z) = ReLU(ReLU(z) - 1e-5) / (max_hw ReLU(z) + 1e-5) * label
    loss    = (cls + cls_s) / 2 + eta * mean((norm(cam_s) - norm(cam_r))^2)

The small size is an explicit ``floor(in * r)`` (448 -> 134 at r = 0.3): PyTorch >= 1.6 with
``scale_factor`` would interpolate with r itself, unlike the PyTorch 0.4 reference
(docs/method.md, "Numerical details that change results").
Nothing is detached and each branch draws its own dropout masks, as the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

EPS = 1e-5
CamFn = Callable[[torch.Tensor], torch.Tensor]  # images -> raw class maps at any stride


def small_size(size: Sequence[int], rate: float) -> tuple[int, int]:
    """The small branch's input size: floor(in * r) per side, at least 1."""
    h, w = size
    return max(1, math.floor(h * rate)), max(1, math.floor(w * rate))


def ser_normalize(cam: torch.Tensor, labels: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """(B, C, H, W) raw maps -> per image and class max-normalised, absent classes zero."""
    pos = F.relu(cam)
    peak = pos.amax(dim=(2, 3), keepdim=True)
    return F.relu(pos - eps) / (peak + eps) * labels[:, :, None, None]


def ser_loss(cam_small: torch.Tensor, cam_large: torch.Tensor,
             labels: torch.Tensor) -> torch.Tensor:
    """MSE between the normalised small-branch maps and the normalised large-branch maps
    bilinearly resized to the small size (both at input resolution)."""
    resized = F.interpolate(cam_large, size=cam_small.shape[2:], mode="bilinear",
                            align_corners=False)
    return F.mse_loss(ser_normalize(cam_small, labels), ser_normalize(resized, labels))


@dataclass
class SerOutput:
    loss: torch.Tensor
    logits: torch.Tensor  # the large branch's (for accuracy / mAP)
    cls: torch.Tensor
    cls_small: torch.Tensor | None = None
    ser: torch.Tensor | None = None


def input_resolution_cam(cam_fn: CamFn, images: torch.Tensor) -> torch.Tensor:
    """The SSE head: raw maps upsampled (bilinear, align_corners=False) to the input size."""
    cam = cam_fn(images)
    return F.interpolate(cam, size=images.shape[2:], mode="bilinear", align_corners=False)


def ser_step(cam_fn: CamFn, images: torch.Tensor, labels: torch.Tensor, *,
             rate: float | None, weight: float = 1.0) -> SerOutput:
    """The SSENet training loss of one batch; ``rate=None`` is the single-branch baseline.

    Logits are the GAP of the input-resolution maps, as ``resnet38_cls_ser.py``.
    """
    cam = input_resolution_cam(cam_fn, images)
    logits = cam.mean(dim=(2, 3))
    cls = F.multilabel_soft_margin_loss(logits, labels)
    if rate is None:
        return SerOutput(cls, logits, cls)
    small = F.interpolate(images, size=small_size(images.shape[2:], rate), mode="bilinear",
                          align_corners=False)
    cam_s = input_resolution_cam(cam_fn, small)
    cls_s = F.multilabel_soft_margin_loss(cam_s.mean(dim=(2, 3)), labels)
    ser = ser_loss(cam_s, cam, labels)
    return SerOutput((cls + cls_s) / 2 + weight * ser, logits, cls, cls_s, ser)
