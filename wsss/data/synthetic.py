"""A procedural WSSS benchmark written in the exact VOC layout (see ``voc.py``).

What it must show (docs/synthetic.md, design "v4"): a classifier's CAM sits on a small
discriminative part, and DRS can spread it over the rest of the object.

* An object is a striped ellipse **body** (colour = mix of a shared base colour and a class tint
  with weight ``body_sig``; stripe frequency weakly class-specific) plus a small **head** disc
  in a saturated class colour with a dark eye. The head is the discriminative part; GT is
  body + head.
* **Distractors** are head-less bodies with class tints: suppressing the head too much makes
  the CAM spill onto them (the over-suppression penalty of DRS Table 1, delta 0.4).
* **Clutter**: low-frequency colour noise, rectangles and strokes.
* **Scale** varies widely: body semi-axes from ``small_axis`` (with ``small_prob``) up to
  ``axis``, in fractions of the image side (SSENet's scale argument needs both).
* **Saliency** stands in for an off-the-shelf detector: GT blurred, a random gain, holes, false
  blobs and smooth noise. Knobs that make over-expansion cost what saliency cannot veto:
  ``salient_distractor_prob``, ``adjacent_prob`` (a second object touching the first).

Each image is drawn from its own ``SeedSequence([seed, split, index])``: the same seed gives the
same bytes, whatever the number of worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from wsss.data.layout import META_FILE, voc_palette

CLASS_NAMES = ("crimson", "amber", "lime", "teal", "azure", "violet", "rose", "ochre", "jade",
               "navy", "plum", "coral", "olive", "cyan", "indigo", "peach", "mint", "rust",
               "sand", "ivory")


@dataclass(frozen=True)
class SynthParams:
    """Generator knobs. Lengths are fractions of the image side so presets can change size."""

    size: int = 64  # image side in pixels
    n_train: int = 3000  # train_aug images
    n_train_subset: int = 500  # the first n of train_aug also form 'train' (VOC's 1,464)
    n_val: int = 500
    n_test: int = -1  # held-out reporting split (docs/synthetic.md); -1 = n_val
    classes: int = 8  # K foreground classes
    objects: tuple[int, int] = (1, 2)  # objects per image (inclusive range)
    axis: tuple[float, float] = (0.19, 0.41)  # body semi-major axis (v4: 12-26 px at 64)
    small_prob: float = 0.2  # chance an object is drawn small
    small_axis: tuple[float, float] = (0.14, 0.19)  # 9-12 px at 64: heads stay visible
    aspect: tuple[float, float] = (0.45, 0.75)  # minor / major semi-axis
    head_ratio: float = 0.15  # head radius / major semi-axis (v4: 2.5-3.5 px)
    body_sig: float = 0.6  # weight of the class tint in the body colour
    distractors: tuple[int, int] = (0, 3)  # head-less tinted bodies per image
    clutter: tuple[int, int] = (6, 14)  # rectangles and strokes per image
    adjacent_prob: float = 0.0  # chance the second object is placed touching the first
    salient_distractor_prob: float = 0.0  # chance a distractor is marked salient
    saliency_blur: float = 1.5 / 64  # gaussian sigma of the saliency map, fraction of side
    saliency_holes: tuple[int, int] = (0, 2)
    saliency_false_blobs: tuple[int, int] = (1, 3)
    boundary: float = 1.0 / 64  # width of the 255 band in SegmentationClass


PRESETS: dict[str, SynthParams] = {
    "tiny": SynthParams(n_train=48, n_train_subset=16, n_val=16),
    "quick": SynthParams(),
    "full": SynthParams(size=128, n_train=10582, n_train_subset=1464, n_val=1449),
}
SPLIT_CODES = {"train": 0, "val": 1, "test": 2}  # each split its own seed stream
FORMAT_VERSION = 2  # 2: the held-out `test` split


# ---------------------------------------------------------------------------------------------
# drawing one image


class _Canvas:
    def __init__(self, size: int) -> None:
        self.size = size
        self.yy, self.xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i],
                    dtype=np.float32)


def _smooth_noise(rng: np.random.Generator, size: int, cells: int, channels: int) -> np.ndarray:
    """Low-frequency noise in [0, 1]: a random grid upsampled bicubically."""
    grid = (rng.random((cells, cells, channels)) * 255).astype(np.uint8)
    img = Image.fromarray(grid.squeeze(-1) if channels == 1 else grid)
    arr = np.asarray(img.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32) / 255.0
    return arr.reshape(size, size, channels)


def _ellipse(cv: _Canvas, cy: float, cx: float, a: float, b: float, theta: float):
    """Mask of the ellipse and the coordinate along its major axis (for stripes)."""
    dy, dx = cv.yy - cy, cv.xx - cx
    u = dx * np.cos(theta) + dy * np.sin(theta)
    v = -dx * np.sin(theta) + dy * np.cos(theta)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0, u


def _disc(cv: _Canvas, cy: float, cx: float, r: float) -> np.ndarray:
    return (cv.yy - cy) ** 2 + (cv.xx - cx) ** 2 <= r * r


def _body_colour(p: SynthParams, cls: int, rng: np.random.Generator) -> np.ndarray:
    base = np.array([0.55, 0.5, 0.45], dtype=np.float32)
    tint = _hsv_to_rgb((cls + 0.5) / p.classes, 0.55, 0.8)  # between the head hues
    return (1 - p.body_sig) * base + p.body_sig * tint + rng.normal(0, 0.04, 3).astype(np.float32)


def _paint_body(img: np.ndarray, cv: _Canvas, p: SynthParams, cls: int, mask: np.ndarray,
                u: np.ndarray, rng: np.random.Generator) -> None:
    freq = (0.10 + 0.025 * (cls % 8) + rng.uniform(-0.01, 0.01)) * 64 / p.size  # cycles/px
    stripes = 0.8 + 0.2 * np.sign(np.sin(2 * np.pi * freq * u + rng.uniform(0, 2 * np.pi)))
    colour = _body_colour(p, cls, rng)
    noise = rng.normal(0, 0.05, (int(mask.sum()), 3)).astype(np.float32)
    img[mask] = colour * stripes[mask][:, None] + noise


def _head_inside(cy: float, cx: float, a: float, theta: float, r: float, s: int,
                 rng: np.random.Generator) -> tuple[float, float] | None:
    """Head centre at one end of the major axis (random end first), fully inside the image."""
    first = 1 if rng.random() < 0.5 else -1
    for side in (first, -first):
        hy, hx = cy + side * np.sin(theta) * a * 0.85, cx + side * np.cos(theta) * a * 0.85
        if r <= hy <= s - r and r <= hx <= s - r:
            return hy, hx
    return None


def _draw(p: SynthParams, rng: np.random.Generator):
    """One image: RGB float [0,1], class mask (0 = background), saliency float [0,1], labels."""
    s = p.size
    cv = _Canvas(s)
    img = 0.25 + 0.5 * _smooth_noise(rng, s, 4, 3)
    for _ in range(int(rng.integers(p.clutter[0], p.clutter[1] + 1))):  # clutter
        colour = rng.uniform(0.1, 0.9, 3).astype(np.float32)
        y0, x0 = rng.uniform(0, s, 2)
        if rng.random() < 0.6:
            h, w = rng.uniform(0.03, 0.2, 2) * s
            m = (np.abs(cv.yy - y0) < h / 2) & (np.abs(cv.xx - x0) < w / 2)
        else:  # stroke: a thin rotated bar
            length, width = rng.uniform(0.2, 0.6) * s, rng.uniform(0.01, 0.03) * s
            th = rng.uniform(0, np.pi)
            u = (cv.xx - x0) * np.cos(th) + (cv.yy - y0) * np.sin(th)
            v = -(cv.xx - x0) * np.sin(th) + (cv.yy - y0) * np.cos(th)
            m = (np.abs(u) < length / 2) & (np.abs(v) < width)
        img[m] = colour
    salient_extra = np.zeros((s, s), bool)
    for _ in range(int(rng.integers(p.distractors[0], p.distractors[1] + 1))):  # head-less
        a = rng.uniform(0.08, 0.18) * s
        cy, cx = rng.uniform(0, s, 2)
        m, u = _ellipse(cv, cy, cx, a, a * rng.uniform(*p.aspect), rng.uniform(0, np.pi))
        _paint_body(img, cv, p, int(rng.integers(p.classes)), m, u, rng)
        if rng.random() < p.salient_distractor_prob:
            salient_extra |= m
    mask = np.zeros((s, s), np.uint8)
    heads = []
    n_obj = int(rng.integers(p.objects[0], p.objects[1] + 1))
    classes = rng.choice(p.classes, size=n_obj, replace=n_obj > p.classes)
    first: tuple[float, float, float] | None = None
    for k, cls in enumerate(classes):
        lo, hi = p.small_axis if rng.random() < p.small_prob else p.axis
        a = rng.uniform(lo, hi) * s
        b = a * rng.uniform(*p.aspect)
        r = max(2.0 * s / 64, p.head_ratio * a * rng.uniform(0.85, 1.15))
        for _ in range(100):  # a head outside the frame would leave nothing discriminative
            theta = rng.uniform(0, np.pi)
            if k == 1 and first is not None and rng.random() < p.adjacent_prob:
                fy, fx, fa = first  # touch the first object along a random direction
                ang = rng.uniform(0, 2 * np.pi)
                cy, cx = fy + np.sin(ang) * (fa + b) * 0.9, fx + np.cos(ang) * (fa + b) * 0.9
            else:
                cy, cx = rng.uniform(0.3 * a, s - 0.3 * a, 2)
            head = _head_inside(cy, cx, a, theta, r, s, rng)
            if head is not None:
                break
        if head is None:
            raise ValueError(f"no head fits inside a {s}-px image in 100 draws: the object "
                             "sizes leave no room (SynthParams.axis, head_ratio)")
        hy, hx = head
        first = first or (cy, cx, a)
        body, u = _ellipse(cv, cy, cx, a, b, theta)
        _paint_body(img, cv, p, int(cls), body, u, rng)
        mask[body] = cls + 1
        heads.append((hy, hx, r, int(cls)))
    for hy, hx, r, cls in heads:  # heads last: the discriminative part is never occluded
        disc = _disc(cv, hy, hx, r)
        img[disc] = _hsv_to_rgb(cls / p.classes, 0.9, 0.95)  # K evenly spaced hues
        img[_disc(cv, hy, hx, max(0.6, 0.35 * r))] = 0.05  # the dark eye
        mask[disc] = cls + 1
    img = np.clip(img + rng.normal(0, 0.02, img.shape), 0, 1)
    sal = _saliency(p, cv, mask > 0, salient_extra, rng)
    labels = sorted({int(c) for c in np.unique(mask) if c > 0})
    return (img * 255).astype(np.uint8), mask, sal, labels


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    img = Image.fromarray((np.clip(x, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(sigma)), dtype=np.float32) / 255.0


def _saliency(p: SynthParams, cv: _Canvas, fg: np.ndarray, extra: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    s = p.size
    sal = _blur((fg | extra).astype(np.float32), p.saliency_blur * s) * rng.uniform(0.7, 1.0)
    for _ in range(int(rng.integers(p.saliency_holes[0], p.saliency_holes[1] + 1))):
        if fg.any():
            ys, xs = np.nonzero(fg)
            i = int(rng.integers(len(ys)))
            sal[_disc(cv, ys[i] + 0.5, xs[i] + 0.5, rng.uniform(0.03, 0.08) * s)] *= 0.15
    for _ in range(int(rng.integers(p.saliency_false_blobs[0], p.saliency_false_blobs[1] + 1))):
        cy, cx = rng.uniform(0, s, 2)
        rad = rng.uniform(0.04, 0.1) * s
        blob = np.exp(-((cv.yy - cy) ** 2 + (cv.xx - cx) ** 2) / (2 * rad * rad))
        sal = np.maximum(sal, blob * rng.uniform(0.3, 0.8))
    sal += (_smooth_noise(rng, s, 6, 1)[..., 0] - 0.5) * 0.15
    return (np.clip(sal, 0, 1) * 255).astype(np.uint8)


def _boundary_band(mask: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` of a label change (VOC's 255 object outline)."""
    band = np.zeros(mask.shape, bool)
    for _ in range(width):
        diff = np.zeros(mask.shape, bool)
        diff[1:] |= mask[1:] != mask[:-1]
        diff[:-1] |= mask[1:] != mask[:-1]
        diff[:, 1:] |= mask[:, 1:] != mask[:, :-1]
        diff[:, :-1] |= mask[:, 1:] != mask[:, :-1]
        band |= diff
        mask = np.where(diff, 255, mask)
    return band


# ---------------------------------------------------------------------------------------------
# writing the VOC layout


def test_size(p: SynthParams) -> int:
    return p.n_val if p.n_test < 0 else p.n_test


def image_name(split: str, index: int) -> str:
    """VOC-like 11-character names (psa parses ``[-15:-4]`` of a path)."""
    return f"{2026 + SPLIT_CODES[split]}_{index:06d}"


def _write_chunk(args: tuple[str, SynthParams, int, str, list[int], bool]) -> list[tuple]:
    out, p, seed, split, indices, with_voc_gt = args
    root, palette = Path(out), voc_palette()
    band_width = max(1, round(p.boundary * p.size))
    rows = []
    for i in indices:
        rng = np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], i]))
        img, mask, sal, labels = _draw(p, rng)
        name = image_name(split, i)
        # 4:4:4 chroma: 4:2:0 would blur the hue of 2-4 px heads, the class cue
        Image.fromarray(img).save(root / "JPEGImages" / f"{name}.jpg", quality=95, subsampling=0)
        Image.fromarray(mask, "L").save(root / "SegmentationClassAug" / f"{name}.png")
        Image.fromarray(sal, "L").save(root / "saliency_map" / f"{name}.png")
        if with_voc_gt:
            voc = mask.copy()
            voc[_boundary_band(mask, band_width)] = 255
            pal = Image.fromarray(voc, "P")
            pal.putpalette(palette)
            pal.save(root / "SegmentationClass" / f"{name}.png")
        rows.append((name, labels, np.bincount(mask.ravel(), minlength=p.classes + 1)))
    return rows


def generate(out: str | Path, preset: str = "quick", seed: int = 0, workers: int | None = None,
             params: SynthParams | None = None, force: bool = False) -> dict[str, Any]:
    """Write the benchmark to ``out`` atomically (temp folder, then rename); return its meta.

    An existing folder with identical parameters is kept as it is (nothing regenerated); one
    written by an older format version of the same seed and parameters is regenerated (its
    train and val images come out byte-identical: each image has its own seed stream).
    """
    p = params or PRESETS[preset]
    out = Path(out).expanduser().resolve()
    meta = {"format": "wsss-synthetic", "version": FORMAT_VERSION, "preset": preset, "seed": seed,
            "params": dataclasses.asdict(p),
            "classes": ["background", *CLASS_NAMES[: p.classes]]}
    old = read_meta(out)
    if old is not None and not force:
        same = {k: meta[k] for k in ("seed", "params")}
        if json.loads(json.dumps(same)) == {k: old.get(k) for k in same} \
                and old.get("version") == FORMAT_VERSION:
            return {**old, "reused": True, "seconds": 0.0}
        if not is_outdated(old, p, seed):
            raise FileExistsError(f"{out}: holds a different dataset; pass force=True (--force)")
        force = True  # the same dataset in an older format: regenerate it
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out}: folder is not empty")
    start = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    os.chmod(tmp, 0o755)  # mkdtemp's 0700 would hide the dataset from the lab's group
    try:
        for sub in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "saliency_map",
                    "ImageSets/Segmentation"):
            (tmp / sub).mkdir(parents=True)
        workers = workers or min(os.cpu_count() or 1, 8)
        jobs = []
        subset = min(p.n_train_subset, p.n_train)
        groups = [("train", range(subset), True), ("train", range(subset, p.n_train), False),
                  ("val", range(p.n_val), True), ("test", range(test_size(p)), True)]
        for split, indices, voc_gt in groups:  # voc_gt: also write SegmentationClass
            idx = list(indices)
            n_chunks = max(1, min(workers * 4, len(idx) // 32))
            jobs += [(str(tmp), p, seed, split, idx[c::n_chunks], voc_gt) for c in range(n_chunks)]
        if workers > 1 and p.n_train + p.n_val + test_size(p) > 200:
            with ProcessPoolExecutor(workers) as pool:
                results = list(pool.map(_write_chunk, jobs))
        else:
            results = [_write_chunk(j) for j in jobs]
        rows: dict[str, dict] = {"train": {}, "val": {}, "test": {}}
        for job, chunk in zip(jobs, results, strict=True):
            for row in chunk:
                rows[job[3]][row[0]] = row
        _write_lists(tmp, p, rows)
        meta["splits"] = {
            "train_aug": p.n_train, "train": min(p.n_train_subset, p.n_train), "val": p.n_val,
            "test": test_size(p)}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return {**meta, "seconds": round(time.perf_counter() - start, 2)}


def read_meta(root: Path) -> dict[str, Any] | None:
    """The generator's metadata of ``root`` (None: not a generated dataset)."""
    path = Path(root) / META_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path}: unreadable dataset metadata ({err})") from None


def is_outdated(meta: dict[str, Any], p: SynthParams | None = None,
                seed: int | None = None) -> bool:
    """``meta`` is our benchmark in an older format version (with the given parameters and
    seed, when named; fields added since take their defaults)."""
    if meta.get("format") != "wsss-synthetic" or meta.get("version", 0) >= FORMAT_VERSION:
        return False
    if seed is not None and meta.get("seed") != seed:
        return False
    return p is None or params_of(meta) == p


def params_of(meta: dict[str, Any]) -> SynthParams:
    """The ``SynthParams`` a metadata dict records (lists back to tuples; new fields default)."""
    known = {f.name for f in dataclasses.fields(SynthParams)}
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
              for k, v in meta.get("params", {}).items() if k in known}
    return SynthParams(**values)


def _write_lists(root: Path, p: SynthParams, rows: dict[str, dict[str, tuple]]) -> None:
    """VOC name lists, DRS ``*_cls.txt`` lists and psa ``cls_labels.npy``."""
    lists = root / "ImageSets" / "Segmentation"
    train = [image_name("train", i) for i in range(p.n_train)]
    splits = {"train_aug": train, "train": train[: p.n_train_subset],
              "val": [image_name("val", i) for i in range(p.n_val)],
              "test": [image_name("test", i) for i in range(test_size(p))]}
    splits["trainval"] = splits["train"] + splits["val"]
    labels: dict[str, list[int]] = {}
    for by_name in rows.values():
        for name, row in by_name.items():
            labels[name] = [c - 1 for c in row[1]]  # 0-based foreground ids
    for split, names in splits.items():
        (lists / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
        if split != "trainval":  # DRS format: name, 0-based ids, trailing space
            lines = (n + " " + "".join(f"{c} " for c in labels[n]) + "\n" for n in names)
            (lists / f"{split}_cls.txt").write_text("".join(lines))
    vectors = {}
    for name, ids in sorted(labels.items()):
        vec = np.zeros(p.classes, np.float32)
        vec[ids] = 1.0
        vectors[name] = vec
    # psa's format: a pickled dict (ours to write)
    np.save(root / "cls_labels.npy", np.asarray(vectors, dtype=object))
