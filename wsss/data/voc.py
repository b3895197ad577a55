"""PASCAL VOC 2012 (+ SegmentationClassAug + saliency maps), read from its real layout.

::

    ROOT/JPEGImages/<name>.jpg
    ROOT/SegmentationClass/<name>.png      palettised, 0..20 + 255 on boundaries (VOC train/val)
    ROOT/SegmentationClassAug/<name>.png   index PNG, SBD + VOC (train_aug + val)
    ROOT/saliency_map/<name>.png           grayscale 0-255 (PoolNet, as DRS ships it)
    ROOT/ImageSets/Segmentation/<split>.txt
    ROOT/cls_labels.npy                    psa/SSENet {name: float32[20]} (optional)
    ROOT/wsss_dataset.json                 class names of a non-VOC set (synthetic; optional)

A split list may be in any of three line formats, detected per line (docs/method.md, "Data
formats"): ``name`` (VOC), ``name 0 14`` (DRS ``*_cls.txt``, 0-based foreground ids) or
``/JPEGImages/name.jpg /SegmentationClassAug/name.png`` (psa ``voc12/*.txt``).
Image-level labels come from the DRS list, from ``cls_labels.npy`` or from the masks
(``DataConfig.labels``); a record's ``labels`` are 0-based foreground ids.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from wsss.data.layout import IGNORE, META_FILE, VOC_CLASSES
from wsss.runtime import write_json

LabelSource = Literal["list", "npy", "masks"]


class DataError(ValueError):
    """Bad input data; the message names the offending file."""


@dataclass(frozen=True)
class Record:
    name: str
    labels: tuple[int, ...]  # 0-based foreground class ids (aeroplane = 0 on VOC)


@dataclass(frozen=True)
class VocLayout:
    """Where each part of a VOC-layout dataset lives, and its class names."""

    root: Path
    classes: tuple[str, ...] = VOC_CLASSES  # index 0 is background
    list_dir: Path | None = None
    cls_labels: Path | None = None
    saliency_dir: str = "saliency_map"

    @classmethod
    def open(cls, root: str | Path, *, list_dir: str = "", cls_labels: str = "",
             saliency_dir: str = "saliency_map") -> VocLayout:
        root = Path(root).expanduser().resolve()
        if not root.is_dir():
            raise DataError(f"{root}: dataset folder not found")
        classes = VOC_CLASSES
        meta = root / META_FILE
        if meta.exists():
            try:
                classes = tuple(json.loads(meta.read_text())["classes"])
            except (ValueError, KeyError) as err:
                raise DataError(f"{meta}: unreadable dataset metadata ({err})") from None
        return cls(root, classes, Path(list_dir) if list_dir else None,
                   Path(cls_labels) if cls_labels else None, saliency_dir)

    @property
    def num_classes(self) -> int:
        """Foreground classes (20 on VOC); the classifier's output width."""
        return len(self.classes) - 1

    def image_path(self, name: str) -> Path:
        return self.root / "JPEGImages" / f"{name}.jpg"

    def mask_path(self, name: str, gt_dir: str = "SegmentationClassAug") -> Path:
        return self.root / gt_dir / f"{name}.png"

    def saliency_path(self, name: str) -> Path:
        return self.root / self.saliency_dir / f"{name}.png"

    def list_path(self, split: str) -> Path:
        """A list name (``train_aug``), a DRS list name (``train_aug_cls``) or a path."""
        if split.endswith(".txt") or "/" in split:
            return Path(split)
        base = self.list_dir or self.root / "ImageSets" / "Segmentation"
        for candidate in (base / f"{split}_cls.txt", base / f"{split}.txt"):
            if candidate.exists():
                return candidate
        raise DataError(f"{base / (split + '.txt')}: split list not found "
                        f"(also looked for {split}_cls.txt)")

    def splits(self) -> list[str]:
        base = self.list_dir or self.root / "ImageSets" / "Segmentation"
        if not base.is_dir():
            return []
        stems = {p.stem.removesuffix("_cls") for p in base.glob("*.txt")}  # X and X_cls: one split
        return sorted(stems)

    def npy_path(self) -> Path:
        return self.cls_labels or self.root / "cls_labels.npy"


def read_split_list(path: Path) -> list[tuple[str, tuple[int, ...] | None]]:
    """Names and, for DRS lines, their 0-based label ids (None where the line has none).

    Every problem names the file and line: not UTF-8, a byte-order mark, a malformed line,
    an id listed twice with different labels. CRLF line ends are fine; an id listed twice
    with the same labels is read once.
    """
    if not path.is_file():
        raise DataError(f"{path}: split list not found")
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raise DataError(f"{path}:1: starts with a UTF-8 byte-order mark (save it without)")
    out: dict[str, tuple[int, ...] | None] = {}
    for lineno, bline in enumerate(raw.splitlines(), 1):
        try:
            line = bline.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}:{lineno}: not UTF-8 text") from None
        tokens = line.split()
        if not tokens:
            continue
        if "/" in tokens[0] or tokens[0].endswith((".jpg", ".png")):  # psa: paths
            name, ids = Path(tokens[0]).stem, None
        else:
            try:
                ids = tuple(int(t) for t in tokens[1:])
            except ValueError:
                raise DataError(f"{path}:{lineno}: expected 'name id id ...', got {line!r}"
                                ) from None
            name = tokens[0]
            if len(tokens) == 1 and not line.endswith(" "):
                ids = None  # a VOC name line: labels come from elsewhere
        if name in out and out[name] != ids:
            raise DataError(f"{path}:{lineno}: {name} is listed again with other labels "
                            f"({list(out[name] or ())} before, {list(ids or ())} here)")
        out[name] = ids
    return list(out.items())


# The only classes psa's cls_labels.npy pickle may name: numpy arrays and their dtypes.
_NUMPY_PICKLE = {("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray",
                 "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles dicts, strings and numpy arrays; refuses every other class, so a crafted
    ``cls_labels.npy`` cannot run code (numpy's pickle-enabled load would)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_PICKLE:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_cls_labels(path: Path) -> dict[str, np.ndarray]:
    """psa's ``{name: float32[C]}``: a pickled dict inside a .npy file, read with an
    unpickler that accepts only strings and numeric arrays (never numpy's pickle loading)."""
    if not path.exists():
        raise DataError(f"{path}: cls_labels.npy not found")
    try:
        with open(path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if major == 1
                           else np.lib.format.read_array_header_2_0)
            _, _, dtype = read_header(fh)
            if dtype != np.dtype(object):  # a plain array holds no names
                raise ValueError(f"expected a pickled dict, found a {dtype} array")
            value = _ArraysOnly(fh).load()
    except Exception as err:  # a truncated, foreign or malicious file
        raise DataError(f"{path}: not a psa cls_labels.npy ({err})") from None
    if isinstance(value, np.ndarray) and value.dtype == object and value.ndim == 0:
        value = value.item()
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, np.ndarray) and v.dtype.kind in "biuf"
            for k, v in value.items()):
        raise DataError(f"{path}: not a psa cls_labels.npy (expected {{name: float array}})")
    return value


def load_records(layout: VocLayout, split: str, labels: LabelSource = "list",
                 gt_dir: str = "SegmentationClassAug") -> list[Record]:
    """The split's records with image-level labels from the chosen source."""
    path = layout.list_path(split)
    entries = read_split_list(path)
    c = layout.num_classes
    npy = load_cls_labels(layout.npy_path()) if labels == "npy" else None
    records = []
    for name, ids in entries:
        if labels == "list":
            if ids is None:
                raise DataError(f"{path}: line for {name} has no labels (not a DRS *_cls list)")
        elif npy is not None:  # labels == "npy"
            if name not in npy:
                raise DataError(f"{layout.npy_path()}: no labels for {name}")
            vec = np.asarray(npy[name]).reshape(-1)
            if vec.size != c:
                raise DataError(f"{layout.npy_path()}: {name} has {vec.size} labels, expected {c}")
            ids = tuple(int(i) for i in np.flatnonzero(vec > 0.5))
        else:
            mask = load_mask(layout.mask_path(name, gt_dir), c)
            ids = tuple(int(k) - 1 for k in np.unique(mask) if 0 < k <= c)
        bad = [i for i in ids if not 0 <= i < c]
        if bad:
            raise DataError(f"{path}: {name} has class id {bad[0]} outside 0..{c - 1}")
        if not ids:  # weak supervision needs at least one class per image
            raise DataError(f"{path}: {name} has no labels (in its {labels} label source)")
        records.append(Record(name, tuple(sorted(set(ids)))))
    return records


# ---------------------------------------------------------------------------------------------
# readers: each error names the file


MAX_PIXELS = 50_000_000  # far above VOC's 500 x 500; a larger file is a mistake, not data


def _check_pixels(img: Image.Image, path: Path) -> None:
    if img.width * img.height > MAX_PIXELS:
        raise DataError(f"{path}: {img.width}x{img.height} is over the "
                        f"{MAX_PIXELS // 1_000_000}-megapixel limit for one image")


def load_image(path: Path) -> np.ndarray:
    """H x W x 3 uint8 RGB (grayscale and CMYK JPEGs are converted)."""
    try:
        with Image.open(path) as img:
            _check_pixels(img, path)
            return np.asarray(img.convert("RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: image not found") from None
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt image ({err})") from None


def load_mask(path: Path, num_classes: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """H x W uint8 class ids; checks ids (0..C, 255) and, if given, size (H, W)."""
    try:
        with Image.open(path) as img:
            _check_pixels(img, path)
            if img.mode not in ("P", "L"):
                raise DataError(f"{path}: mask must be an 8-bit index PNG (mode P or L), "
                                f"not {img.mode}")
            mask = np.asarray(img, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(f"{path}: mask not found") from None
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt mask ({err})") from None
    if size is not None and mask.shape != tuple(size):
        raise DataError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                        f"image is {size[1]}x{size[0]}")
    bad = (mask > num_classes) & (mask != IGNORE)
    if bad.any():
        raise DataError(f"{path}: class id {int(mask[bad][0])} outside 0..{num_classes} and 255")
    return mask


def load_saliency(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """H x W uint8 saliency 0-255: an 8-bit gray PNG, or RGB with three equal channels."""
    try:
        with Image.open(path) as img:
            _check_pixels(img, path)
            if img.mode not in ("L", "LA", "P", "1", "RGB", "RGBA"):
                raise DataError(f"{path}: saliency map must be 8-bit gray (mode L), not "
                                f"{img.mode} (a 16-bit map would be read as 0/255)")
            if img.mode in ("RGB", "RGBA"):
                rgb = np.asarray(img.convert("RGB"))
                if not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all():
                    raise DataError(f"{path}: saliency map is colour (channels differ); "
                                    "expected a gray map")
                sal = rgb[..., 0].copy()
            else:
                sal = np.asarray(img.convert("L"))
    except FileNotFoundError:
        raise DataError(f"{path}: saliency map not found") from None
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        raise DataError(f"{path}: corrupt saliency map ({err})") from None
    if size is not None and sal.shape != tuple(size):
        raise DataError(f"{path}: saliency is {sal.shape[1]}x{sal.shape[0]}, "
                        f"image is {size[1]}x{size[0]}")
    return sal


def label_vector(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    vec = torch.zeros(num_classes, dtype=torch.float32)
    vec[list(labels)] = 1.0
    return vec


def dataset_fingerprint(layout: VocLayout, index: Path | None = None) -> str:
    """Content key of a dataset for the stage cache: its lists, label files and metadata, and
    the bytes of every image, mask and saliency map, so a same-size edit of one image changes
    it. Per-file digests are remembered in ``index`` (a JSON file outside the dataset) by
    size and modification time, so a later run only re-reads files that changed."""
    known = _read_index(index)
    digests: dict[str, list] = {}
    h = hashlib.sha256()
    for path in sorted([*layout.root.glob("ImageSets/Segmentation/*.txt"),
                        *layout.root.glob("*.npy"), *layout.root.glob("*.json")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for folder in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", layout.saliency_dir):
        for entry in _files(layout.root / folder):
            stat = entry.stat()
            rel = f"{folder}/{entry.name}"
            old = known.get(rel)
            if old and old[:2] == [stat.st_size, stat.st_mtime_ns]:
                digest = old[2]
            else:
                digest = hashlib.blake2b(Path(entry.path).read_bytes(), digest_size=16).hexdigest()
            digests[rel] = [stat.st_size, stat.st_mtime_ns, digest]
            h.update(f"{rel}:{digest}".encode())
    if index is not None and digests != known:
        write_json(digests, index)
    return h.hexdigest()[:16]


def _files(folder: Path) -> list[os.DirEntry]:
    """The folder's visible files by name (as ``sorted(glob("*"))``, but one ``scandir``:
    a warm trial pays this for every image of the dataset)."""
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted((e for e in it if not e.name.startswith(".") and e.is_file()),
                      key=lambda e: e.name)


def _read_index(index: Path | None) -> dict[str, list]:
    if index is None or not index.exists():
        return {}
    try:
        return json.loads(index.read_text())
    except ValueError:  # a torn or foreign file: recompute every digest
        return {}
