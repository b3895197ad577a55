"""The files every stage writes and the loaders a later stage reads them with.

One place names each output, so stages never import each other to share a file name:

==================  =============================================  ==========================
stage               output (inside its cache folder)               read by
==================  =============================================  ==========================
pretrain            ``backbone.pt``                                classifier, refine, affinity,
                                                                   segment
classifier            ``classifier.pt``                              cams
cams, refine        ``maps/<name>.wmap`` (present classes only)    refine, pseudo_labels,
                                                                   crf_labels, random_walk
crf_labels          ``marginals/<name>.wmap`` (la then ha)         affinity
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
import struct
import tempfile
import zlib
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
from wsss.models.deeplab import Segmenter, build_segmenter
from wsss.models.refine import Refiner, build_refiner
from wsss.options import PipelineConfig
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


def classifier_from_config(cfg: PipelineConfig, num_classes: int) -> Classifier:
    c = cfg.classifier
    return build_classifier(c.arch, num_classes, drs=c.drs, drs_delta=c.drs_delta,
                            drs_layers=c.drs_layers)


def refiner_from_config(cfg: PipelineConfig, num_classes: int) -> Refiner:
    return build_refiner(cfg.classifier.arch, num_classes)


def affinity_from_config(cfg: PipelineConfig, num_classes: int) -> AffinityNet:
    return AffinityNet(build_classifier(cfg.classifier.arch, num_classes), cfg.affinity.dims)


def segmenter_from_config(cfg: PipelineConfig, num_classes: int) -> Segmenter:
    s = cfg.segment
    return build_segmenter(s.arch, num_classes + 1, rates=s.aspp_rates, msc=s.msc)


class TensorOutput(nn.Module):
    """A network whose forward returns one tensor: a classifier's maps (its ``cam``), any
    other network's own output (what traced formats such as MLflow's ``pt2`` take)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) -> (B, C, h, w)
        out = self.net(x)
        return out["cam"] if isinstance(out, dict) else out


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


# A map file: a 12-byte header (magic, format version, dtype code, K, H, W), the K class
# ids (int16), then the K x H x W array zlib-compressed. Reading one is ~4x faster than an
# ``.npz`` (no zip directory, no header parsed as Python), which a warm study that only
# re-thresholds cached maps pays per image (docs/performance.md); zlib's checksum catches a
# damaged payload.
_MAGIC, _HEADER = b"WMAP", struct.Struct("<4sBBHHH")
_DTYPES: dict[int, np.dtype] = {0: np.dtype(np.uint8), 1: np.dtype("<f2")}


def maps_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.wmap"


def write_map_file(path: Path, classes: Sequence[int], data: np.ndarray) -> None:
    """K class ids and a K x H x W uint8 or float16 array, written atomically."""
    codes = {v: k for k, v in _DTYPES.items()}
    code = codes.get(np.dtype(data.dtype).newbyteorder("<"))
    if code is None:
        raise ValueError(f"{path}: maps are stored as uint8 or float16, not {data.dtype}")
    k, h, w = data.shape
    if len(classes) != k:
        raise ValueError(f"{path}: {len(classes)} class ids for {k} maps")
    payload = zlib.compress(np.ascontiguousarray(data, dtype=_DTYPES[code]).tobytes(), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_HEADER.pack(_MAGIC, 1, code, k, h, w))
            f.write(np.asarray(classes, dtype="<i2").tobytes())
            f.write(payload)
        shareable(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_map_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """-> (class ids (K,) int16, K x H x W array as stored); a clear error names a damaged
    or foreign file."""
    blob = Path(path).read_bytes()
    try:
        magic, version, code, k, h, w = _HEADER.unpack_from(blob)
        if magic != _MAGIC or version != 1 or code not in _DTYPES:
            raise ValueError("not a map file of this version")
        classes = np.frombuffer(blob, "<i2", k, _HEADER.size).astype(np.int16)
        data = np.frombuffer(zlib.decompress(blob[_HEADER.size + 2 * k:]), _DTYPES[code])
        return classes, data.reshape(k, h, w)
    except (struct.error, zlib.error, ValueError) as err:
        raise ValueError(f"{path}: damaged map file ({err})") from err


def save_maps(path: Path, maps: np.ndarray, classes: Sequence[int],
              store: Literal["uint8", "float16"] = "uint8") -> None:
    """The present classes' maps (K x H x W for ``classes``, 0-based foreground ids):
    ``uint8`` = floor(x * 255) as DRS saves them, or ``float16`` for unbounded refined maps."""
    if store == "uint8":
        data = np.floor(np.clip(maps, 0.0, 1.0) * 255.0).astype(np.uint8)  # DRS: uint8(x*255)
    else:
        data = maps.astype(np.float16)
    write_map_file(path, classes, data)


def load_maps(path: Path, num_classes: int) -> np.ndarray:
    """C x H x W float32; absent classes are zero; uint8 maps come back as x / 255."""
    classes, data = read_map_file(path)
    maps = data.astype(np.float32)
    if data.dtype == np.uint8:
        maps /= 255.0
    full = np.zeros((num_classes, *maps.shape[1:]), dtype=np.float32)
    full[classes] = maps
    return full


def save_marginals(path: Path, classes: list[int], la: np.ndarray, ha: np.ndarray) -> None:
    """The la and ha CRF marginals ((K+1) x H x W each, background first), as uint8 maps;
    each map's class id is stored beside it (background -1)."""
    ids = [-1, *classes]
    save_maps(path, np.concatenate([la, ha]), ids + ids, "uint8")


def load_marginals(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (classes (K,), la (K+1, H, W), ha (K+1, H, W)) as float32 in [0, 1]."""
    ids, data = read_map_file(path)
    data = data.astype(np.float32) / 255.0
    half = len(data) // 2
    return ids[1:half], data[:half], data[half:]


def save_label_png(labels: np.ndarray, path: Path) -> None:
    """H x W uint8 class ids (255 = ignore) as a VOC-palette PNG, written atomically."""
    img = Image.fromarray(labels, "P")
    img.putpalette(_PALETTE)
    tmp = path.with_name(f".{path.name}")
    img.save(tmp, format="PNG")
    tmp.rename(path)
