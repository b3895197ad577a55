"""Localization maps: multi-scale inference, fusion and normalisation.

Zhou et al., "Learning Deep Features for Discriminative Localization" (CAM), CVPR 2016,
arXiv:1512.04150: a classifier whose logits are the GAP of C class maps localises each class
with its map. Two recipes share one function (docs/method.md: "Localization maps", "CAMs and
confident regions", "Numerical details that change results: fusion"):

* DRS (``fusion="max"``): per scale, ReLU -> upsample (align_corners=True) -> divide by the
  per-class spatial max (+1e-5) -> x label; the scales are fused by an element-wise max.
* SSENet/psa (``fusion="sum"``): ReLU -> upsample -> sum over scales and flips -> one
  normalisation -> x label. SSE's head first upsamples the raw maps to the pass's input size
  and applies the ReLU there (``head_upsample``); psa applies it at the output stride. SSE
  makes each scale with PIL bicubic (``input_resize="bicubic"``: antialiased, as PIL).

How maps are stored is ``wsss.artifacts``' business (``save_maps`` / ``load_maps``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-5
Fusion = Literal["max", "sum"]


def normalize_cam(cam: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """(B, C, H, W) non-negative maps divided by their per-image, per-class max (+eps)."""
    return cam / (cam.amax(dim=(2, 3), keepdim=True) + eps)


@torch.no_grad()
def multi_scale_maps(
    net: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    scales: Sequence[float] = (1.0,),
    fusion: Fusion = "max",
    flip: bool = False,
    align_corners: bool = True,
    out_size: tuple[int, int] | None = None,
    relu: bool = True,
    normalize: bool = True,
    head_upsample: bool = False,
    input_resize: Literal["bilinear", "bicubic"] = "bilinear",
) -> torch.Tensor:
    """Fused class maps of a batch, (B, C, H_out, W_out), multiplied by ``labels`` (B, C).

    ``net(x)`` returns raw class maps at any stride. Each scale resizes the input with
    ``input_resize`` (align_corners=False; bilinear as DRS's ``F.interpolate``); with
    ``head_upsample`` the raw maps are first upsampled to that input (SSE's head); the maps
    are upsampled to ``out_size`` (default: the input size) with ``align_corners``. With
    ``relu`` and ``normalize`` off (refined maps), values are fused raw.
    """
    passes = _passes(net, images, scales, flip, head_upsample, input_resize, relu)
    return _fuse(passes, labels, out_size or tuple(images.shape[2:]), fusion, align_corners,
                 normalize)


@torch.no_grad()
def multi_scale_maps_per_image(
    net: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    out_sizes: Sequence[tuple[int, int]],
    *,
    scales: Sequence[float] = (1.0,),
    fusion: Fusion = "max",
    flip: bool = False,
    align_corners: bool = True,
    relu: bool = True,
    normalize: bool = True,
    head_upsample: bool = False,
    input_resize: Literal["bilinear", "bicubic"] = "bilinear",
) -> list[torch.Tensor]:
    """As ``multi_scale_maps``, but every pass of image i is upsampled straight to
    ``out_sizes[i]`` before fusion ((C, H_i, W_i) each): DRS's pseudo-label generation from
    the refinement net (``pseudo_seg_label_gen.py``), not a fuse-then-resize."""
    passes = _passes(net, images, scales, flip, head_upsample, input_resize, relu)
    return [_fuse([(y[i:i + 1], f) for y, f in passes], labels[i:i + 1], tuple(size), fusion,
                  align_corners, normalize)[0] for i, size in enumerate(out_sizes)]


def _passes(net: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
            scales: Sequence[float], flip: bool, head_upsample: bool,
            input_resize: str, relu: bool) -> list[tuple[torch.Tensor, bool]]:
    """The raw maps of every (scale, flip) pass, each with whether its input was flipped."""
    _, _, h, w = images.shape
    passes = []
    for s in scales:
        size = (max(1, round(h * s)), max(1, round(w * s)))
        x = images if size == (h, w) else F.interpolate(
            images, size=size, mode=input_resize, align_corners=False,
            antialias=input_resize == "bicubic")
        for flipped in (False, True) if flip else (False,):
            y = net(torch.flip(x, dims=(3,)) if flipped else x)
            if head_upsample:
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            passes.append((F.relu(y) if relu else y, flipped))
    return passes


def _fuse(passes: list[tuple[torch.Tensor, bool]], labels: torch.Tensor,
          out_size: tuple[int, ...], fusion: Fusion, align_corners: bool,
          normalize: bool) -> torch.Tensor:
    """Upsample every pass to ``out_size``, undo its flip, fuse, multiply by the labels."""
    ups = []
    for y, flipped in passes:
        y = F.interpolate(y, size=out_size, mode="bilinear", align_corners=align_corners)
        ups.append(torch.flip(y, dims=(3,)) if flipped else y)
    if fusion == "max":
        per_pass = [normalize_cam(p) if normalize else p for p in ups]
        fused = torch.stack(per_pass).amax(dim=0)
    else:
        fused = torch.stack(ups).sum(dim=0)
        fused = normalize_cam(fused) if normalize else fused
    return fused * labels[:, :, None, None]


def resize_maps(maps: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    """(C, h, w) -> (C, H, W) bilinear."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return F.interpolate(maps[None], size=size, mode="bilinear", align_corners=align_corners)[0]


def background_sweep_predictions(maps: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """(T, H, W) uint8: argmax over [t, maps] for each constant background score t.

    Ties go to the background (index 0), as ``argmax`` takes the first maximum.
    """
    best = maps.max(axis=0)
    cls = maps.argmax(axis=0).astype(np.uint8) + 1
    return np.stack([np.where(best > t, cls, 0).astype(np.uint8) for t in thresholds])
