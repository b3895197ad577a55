"""The files every stage writes and the loaders a later stage reads them with.

One place names each output, so stages never import each other to share a file name:

==================  =============================================  ==========================
stage               output (inside its cache folder)               read by
==================  =============================================  ==========================
pretrain            ``backbone.pt``                                classify, refine, affinity,
                                                                   segment
classify            ``classifier.pt``                              cams
cams, refine        ``maps/<name>.npz`` (present classes only)     refine, pseudo_labels,
                                                                   crf_labels, random_walk
crf_labels          ``marginals/<name>.npz`` (la then ha)          affinity
affinity            ``affinity.pt``                                random_walk
pseudo_labels,      ``labels/<name>.png`` (palettised, 255 =       segment
random_walk         ignore)
segment             ``segmenter.pt``                               evaluate
==================  =============================================  ==========================

Weights files hold ``{"state_dict", "num_classes", ...}``; a model is rebuilt from the config
(``*_from_config``) and loaded strictly. Every write is atomic (temp file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from wsss.data.layout import voc_palette
from wsss.models.affinity import AffinityNet
from wsss.models.classifier import Classifier, build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.models.refine import Refiner, build_refiner
from wsss.runtime import load_torch, place, shareable

BACKBONE = "backbone.pt"
CLASSIFIER = "classifier.pt"
REFINER = "refiner.pt"
AFFINITY = "affinity.pt"
SEGMENTER = "segmenter.pt"
MAPS = "maps"
MARGINALS = "marginals"
LABELS = "labels"
_PALETTE = voc_palette()


# ---------------------------------------------------------------------------------------------
# networks: built from the config, loaded from a stage folder


def classifier_from_config(cfg: Any, num_classes: int) -> Classifier:
    c = cfg.classifier
    return build_classifier(c.arch, num_classes, drs=c.drs, drs_delta=c.drs_delta,
                            drs_layers=c.drs_layers)


def refiner_from_config(cfg: Any, num_classes: int) -> Refiner:
    return build_refiner(cfg.classifier.arch, num_classes)


def affinity_from_config(cfg: Any, num_classes: int) -> AffinityNet:
    return AffinityNet(build_classifier(cfg.classifier.arch, num_classes), cfg.affinity.dims)


def segmenter_from_config(cfg: Any, num_classes: int) -> nn.Module:
    s = cfg.segment
    return build_segmenter(s.arch, num_classes + 1, rates=s.aspp_rates, msc=s.msc)


def load_model(path: Path, build: Callable[[int], nn.Module], device: torch.device, *,
               channels_last: bool = False) -> Any:
    """A stage's published network in eval mode on ``device``."""
    saved = load_torch(path)
    model = build(saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    return place(model, device, channels_last).eval()


def load_backbone(model: nn.Module, path: Path, *, layers: tuple[str, ...] | None = None) -> int:
    """Copy the pretrain stage's tensors into ``model`` (optionally only some groups).

    Every tensor must exist in ``model`` with the same shape; returns how many were copied.
    """
    saved = load_torch(path)["state_dict"]
    if layers is not None:
        saved = {k: v for k, v in saved.items() if k.split(".")[0] in layers}
    own = model.state_dict()
    for key, value in saved.items():
        if key not in own:
            raise KeyError(f"{path}: tensor {key} has no place in {type(model).__name__}")
        if own[key].shape != value.shape:
            raise ValueError(f"{path}: {key} is {tuple(value.shape)}, model wants "
                             f"{tuple(own[key].shape)} (another arch or class count?)")
    own.update(saved)
    model.load_state_dict(own)
    return len(saved)


# ---------------------------------------------------------------------------------------------
# per-image arrays


def _atomic_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        shareable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def maps_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.npz"


def save_maps(path: Path, maps: np.ndarray, classes: Sequence[int],
              store: Literal["uint8", "float16"] = "uint8") -> None:
    """The present classes' maps (K x H x W for ``classes``, 0-based foreground ids):
    ``uint8`` = floor(x * 255) as DRS saves them, or ``float16`` for unbounded refined maps."""
    if store == "uint8":
        data = np.floor(np.clip(maps, 0.0, 1.0) * 255.0).astype(np.uint8)  # DRS: uint8(x*255)
    else:
        data = maps.astype(np.float16)
    _atomic_npz(path, classes=np.asarray(classes, dtype=np.int16), maps=data)


def load_maps(path: Path, num_classes: int) -> np.ndarray:
    """C x H x W float32; absent classes are zero; uint8 maps come back as x / 255."""
    with np.load(path) as f:
        classes, data = f["classes"], f["maps"]
    maps = data.astype(np.float32)
    if data.dtype == np.uint8:
        maps /= 255.0
    full = np.zeros((num_classes, *maps.shape[1:]), dtype=np.float32)
    full[classes] = maps
    return full


def save_marginals(path: Path, classes: list[int], la: np.ndarray, ha: np.ndarray) -> None:
    """The la and ha CRF marginals ((K+1) x H x W each, background first), as uint8 maps."""
    save_maps(path, np.concatenate([la, ha]), classes, "uint8")


def load_marginals(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (classes (K,), la (K+1, H, W), ha (K+1, H, W)) as float32 in [0, 1]."""
    with np.load(path) as f:
        classes, data = f["classes"], f["maps"].astype(np.float32) / 255.0
    half = len(data) // 2
    return classes, data[:half], data[half:]


def save_label_png(labels: np.ndarray, path: Path) -> None:
    """H x W uint8 class ids (255 = ignore) as a VOC-palette PNG, written atomically."""
    img = Image.fromarray(labels, "P")
    img.putpalette(_PALETTE)
    tmp = path.with_name(f".{path.name}")
    img.save(tmp, format="PNG")
    tmp.rename(path)
