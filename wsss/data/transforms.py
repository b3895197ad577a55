"""Joint transforms: one sampled geometric transform moves image, mask, saliency and maps.

A sample is a dict of numpy arrays:

* ``image``: H x W x 3 uint8 (RGB)
* ``mask``: H x W uint8 class ids (255 = ignore), resized with nearest
* ``saliency``: H x W uint8 0-255, resized bilinearly (or nearest, per transform)
* ``maps``: C x H x W float32 localization maps, resized bilinearly

Every transform takes ``(sample, rng)`` with an explicit ``numpy.random.Generator``, so an
augmentation depends only on (seed, epoch, index), never on worker count or order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance

if TYPE_CHECKING:
    from wsss.options import ClassifierConfig

Sample = dict[str, Any]
Interp = Literal["nearest", "bilinear", "bicubic"]
_PIL = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
        "bicubic": Image.Resampling.BICUBIC}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MEAN_RGB_UINT8 = tuple(round(m * 255) for m in IMAGENET_MEAN)  # pads to 0 after normalisation


def resize_sample(
    sample: Sample, size: tuple[int, int], *, image_interp: Interp = "bilinear",
    saliency_interp: Interp = "bilinear", align_corners: bool = False,
) -> Sample:
    """Resize every entry to ``size`` = (H, W); masks always use nearest."""
    h, w = size
    out = dict(sample)
    if "image" in sample:
        img = Image.fromarray(sample["image"]).resize((w, h), _PIL[image_interp])
        out["image"] = np.asarray(img)
    if "mask" in sample:
        mask = Image.fromarray(sample["mask"]).resize((w, h), Image.Resampling.NEAREST)
        out["mask"] = np.asarray(mask)
    if "saliency" in sample:
        sal = Image.fromarray(sample["saliency"]).resize((w, h), _PIL[saliency_interp])
        out["saliency"] = np.asarray(sal)
    if "maps" in sample and tuple(sample["maps"].shape[1:]) != (h, w):
        maps = torch.from_numpy(np.ascontiguousarray(sample["maps"], dtype=np.float32))
        maps = F.interpolate(maps[None], size=(h, w), mode="bilinear",
                             align_corners=align_corners)[0]
        out["maps"] = maps.numpy()
    return out


def image_size(sample: Sample) -> tuple[int, int]:
    for key in ("image", "mask", "saliency"):
        if key in sample:
            return sample[key].shape[:2]
    return sample["maps"].shape[1:]


class Compose:
    def __init__(self, transforms: Sequence[Any]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        for t in self.transforms:
            sample = t(sample, rng)
        return sample


class ResizeSquare:
    """DRS: squash to ``size`` x ``size``, ignoring aspect ratio (transforms.py:161)."""

    def __init__(self, size: int, saliency_interp: Interp = "nearest") -> None:
        self.size, self.saliency_interp = size, saliency_interp

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        return resize_sample(sample, (self.size, self.size), saliency_interp=self.saliency_interp)


class RandomResizeLong:
    """SSENet/psa: long side drawn uniformly from [low, high], aspect kept, bicubic."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        target = int(rng.integers(self.low, self.high + 1))
        h, w = image_size(sample)
        scale = target / max(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        return resize_sample(sample, size, image_interp="bicubic")


class RandomScale:
    """DeepLab: scale both sides by a factor drawn from [low, high]."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        s = float(rng.uniform(self.low, self.high))
        h, w = image_size(sample)
        return resize_sample(sample, (max(1, round(h * s)), max(1, round(w * s))))


class HorizontalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        if rng.random() >= self.p:
            return sample
        return {k: _flip(k, v) for k, v in sample.items()}


def _flip(key: str, value: Any) -> Any:
    if key in ("image", "mask", "saliency"):
        return np.ascontiguousarray(value[:, ::-1])
    if key == "maps":
        return np.ascontiguousarray(value[:, :, ::-1])
    return value


class RandomCrop:
    """Crop ``size`` x ``size`` at a random offset, padding first where the sample is smaller.

    Padding: image with ``image_fill`` (mean colour = 0 after normalisation, as SSENet; black
    as AffinityNet), mask with 255, saliency and maps with 0.
    """

    def __init__(self, size: int, image_fill: Sequence[int] = MEAN_RGB_UINT8) -> None:
        self.size, self.image_fill = size, tuple(image_fill)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        h, w = image_size(sample)
        ph, pw = max(self.size, h), max(self.size, w)
        # where a smaller sample sits inside the padded canvas, then where the crop starts
        oy, ox = int(rng.integers(0, ph - h + 1)), int(rng.integers(0, pw - w + 1))
        cy, cx = int(rng.integers(0, ph - self.size + 1)), int(rng.integers(0, pw - self.size + 1))
        out = dict(sample)
        for key, fill in (("image", self.image_fill), ("mask", 255), ("saliency", 0)):
            if key in sample:
                arr = sample[key]
                canvas = np.empty((ph, pw) + arr.shape[2:], dtype=arr.dtype)
                canvas[...] = fill
                canvas[oy : oy + h, ox : ox + w] = arr
                out[key] = canvas[cy : cy + self.size, cx : cx + self.size]
        if "maps" in sample:
            maps = sample["maps"]
            canvas = np.zeros((maps.shape[0], ph, pw), dtype=maps.dtype)
            canvas[:, oy : oy + h, ox : ox + w] = maps
            out["maps"] = canvas[:, cy : cy + self.size, cx : cx + self.size]
        return out


class ColorJitter:
    """Photometric, image only: brightness, contrast, saturation and hue in a random order."""

    def __init__(self, brightness: float = 0.3, contrast: float = 0.3, saturation: float = 0.3,
                 hue: float = 0.1) -> None:
        self.b, self.c, self.s, self.h = brightness, contrast, saturation, hue

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        img = Image.fromarray(sample["image"])
        ops = [
            lambda im, f: ImageEnhance.Brightness(im).enhance(f),
            lambda im, f: ImageEnhance.Contrast(im).enhance(f),
            lambda im, f: ImageEnhance.Color(im).enhance(f),
        ]
        factors = [rng.uniform(max(0, 1 - a), 1 + a) for a in (self.b, self.c, self.s)]
        hue_shift = rng.uniform(-self.h, self.h)
        for i in rng.permutation(4):
            img = _shift_hue(img, hue_shift) if i == 3 else ops[i](img, factors[i])
        return {**sample, "image": np.asarray(img)}


def _shift_hue(img: Image.Image, shift: float) -> Image.Image:
    hsv = np.array(img.convert("HSV"))
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(round(shift * 255))) % 256
    return Image.fromarray(hsv, "HSV").convert("RGB")


def to_tensor(image: np.ndarray, mean: Sequence[float] = IMAGENET_MEAN,
              std: Sequence[float] = IMAGENET_STD) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x H x W float32, scaled to [0, 1] then normalised."""
    x = torch.tensor(image).permute(2, 0, 1).float().div_(255.0)  # copies: PIL arrays are read-only
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (x - m) / s


def square_transform(c: ClassifierConfig) -> Compose:
    """DRS order (LoadData.py) from a classifier config: square resize, flip, colour jitter,
    random crop."""
    steps: list[Any] = [ResizeSquare(c.resize), HorizontalFlip(0.5)]
    if any(c.jitter):
        steps.append(ColorJitter(*c.jitter))
    steps.append(RandomCrop(c.crop))
    return Compose(steps)


def classifier_transform(c: ClassifierConfig) -> Compose:
    """DRS's square transform, or with ``scale_range`` SSENet's (train_cls_ser.py): random
    long side (bicubic, aspect kept), flip, colour jitter, crop padded with the mean colour."""
    if not c.scale_range[1]:
        return square_transform(c)
    steps: list[Any] = [RandomResizeLong(*c.scale_range), HorizontalFlip(0.5)]
    if any(c.jitter):
        steps.append(ColorJitter(*c.jitter))
    steps.append(RandomCrop(c.crop))
    return Compose(steps)
