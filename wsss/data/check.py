"""`wsss data check`: validate a VOC-layout dataset; every problem names its file (and line).

Problems (non-zero exit): a folder a configured stage reads that does not exist; a split
list that is missing, empty, not UTF-8, starts with a byte-order mark, or lists an id twice
with different labels; a listed id with no image; a corrupt or oversized image; a missing
mask or saliency map; a mask or saliency map whose size differs from its image, that is not
8-bit, or (saliency) is in colour; a class id outside 0..C and 255; an image with no labels;
labels outside 0..C-1. Warnings (reported, exit 0): list labels that disagree with the
mask's classes.

``requirements(cfg)`` says which splits and folders a configuration's stages read;
``preflight(cfg, ...)`` is what ``wsss run`` and ``wsss study run`` call before any training:
the cheap checks (lists and folders) every time, the per-image pass once per dataset
fingerprint (remembered by a marker file in the cache).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.data.voc import (
    MAX_PIXELS,
    DataError,
    VocLayout,
    load_cls_labels,
    load_mask,
    load_saliency,
    read_split_list,
)
from wsss.options import PipelineConfig

VOC_GT_SPLITS = ("train", "val", "trainval")  # VOC itself annotates these in SegmentationClass
GT_DIRS = ("SegmentationClassAug", "SegmentationClass")
PARALLEL_MIN = 256  # below this many images a process pool costs more than it saves


@dataclass
class SplitSummary:
    images: int = 0
    label_source: str = "-"
    found: dict[str, int] = field(default_factory=dict)  # folder -> files present


@dataclass
class CheckReport:
    root: Path
    classes: tuple[str, ...]
    splits: dict[str, SplitSummary] = field(default_factory=dict)
    # over all splits, by image labels; over all distinct masks checked
    images_per_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pixels_per_class: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _check_image(args: tuple[VocLayout, str, tuple[str, ...]]) -> tuple:
    """(name, problems, class pixel counts, mask class ids, folders holding its files).

    A missing mask is not a problem here: whether one is required depends on the split.
    """
    layout, name, gt_dirs = args
    c = layout.num_classes
    problems, pixels, mask_ids = [], np.zeros(c + 1, np.int64), None
    found: set[str] = set()
    path = layout.image_path(name)
    size = None
    if not path.exists():
        return name, [f"{path}: listed image not found"], pixels, None, found
    try:
        found.add("JPEGImages")
        with Image.open(path) as img:
            if img.width * img.height > MAX_PIXELS:
                raise DataError(f"{path}: {img.width}x{img.height} is over the "
                                f"{MAX_PIXELS // 1_000_000}-megapixel limit for one image")
            img.load()  # decodes the whole file: catches truncation, not only a bad header
            size = (img.height, img.width)
    except DataError as err:
        problems.append(str(err))
    except (OSError, Image.DecompressionBombError, SyntaxError) as err:
        problems.append(f"{path}: corrupt image ({err})")
    for gt_dir in gt_dirs:
        mpath = layout.mask_path(name, gt_dir)
        if not mpath.exists():
            continue
        found.add(gt_dir)
        try:
            mask = load_mask(mpath, c, size)
        except DataError as err:
            problems.append(str(err))
            continue
        if mask_ids is None:  # the first (Aug) mask gives the class statistics
            counts = np.bincount(mask.ravel(), minlength=256)
            pixels += counts[: c + 1]
            mask_ids = {int(k) - 1 for k in np.flatnonzero(counts[1 : c + 1]) + 1}
    spath = layout.saliency_path(name)
    if spath.exists():
        found.add(layout.saliency_dir)
        try:
            load_saliency(spath, size)
        except DataError as err:
            problems.append(str(err))
    return name, problems, pixels, mask_ids, found


def _required_folders(layout: VocLayout, split: str,
                      required: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(folder, what) every image of the split must have a file in: the ``required`` ones,
    and the conventional ones where the folder exists (SegmentationClassAug covers every
    image; VOC's own SegmentationClass only its train/val)."""
    out = []
    for folder, what, needed in (
        ("SegmentationClassAug", "mask", True),
        ("SegmentationClass", "mask", split.removesuffix("_cls") in VOC_GT_SPLITS),
        (layout.saliency_dir, "saliency map", True),
    ):
        if folder in required or (needed and (layout.root / folder).is_dir()):
            out.append((folder, what))
    return out


def _split_labels(layout: VocLayout, split: str, entries: list, report: CheckReport,
                  summary: SplitSummary, source: str | None = None) -> dict[str, tuple[int, ...]]:
    """Image labels of the split from ``source`` (``list``, ``npy``; None: the DRS list if
    it has labels, else cls_labels.npy); problems recorded. ``masks``: not checked here."""
    c, list_path = layout.num_classes, layout.list_path(split)
    labels: dict[str, tuple[int, ...]] = {}
    if source == "masks":
        return {}
    if source == "list":
        bare = [name for name, ids in entries if ids is None]
        if bare:
            report.problems.append(f"{list_path}: {bare[0]} has no labels (not a DRS "
                                   f"'name id id' list; {len(bare)} such line(s))")
    if source == "list" or (source is None and any(ids is not None for _, ids in entries)):
        summary.label_source = "list"
        for name, ids in entries:
            ids = ids or ()
            bad = [i for i in ids if not 0 <= i < c]
            if bad:
                report.problems.append(f"{list_path}: {name} has class id {bad[0]} outside "
                                       f"0..{c - 1}")
            labels[name] = tuple(i for i in ids if 0 <= i < c)
    elif source == "npy" or layout.npy_path().exists():
        summary.label_source = "npy"
        try:
            npy = load_cls_labels(layout.npy_path())
        except DataError as err:
            report.problems.append(str(err))
            return {}
        for name, _ in entries:
            if name not in npy:
                report.problems.append(f"{layout.npy_path()}: no labels for {name}")
                continue
            vec = np.asarray(npy[name]).reshape(-1)
            if vec.size != c:
                report.problems.append(f"{layout.npy_path()}: {name} has {vec.size} labels, "
                                       f"expected {c}")
                continue
            labels[name] = tuple(int(i) for i in np.flatnonzero(vec > 0.5))
    else:
        return {}
    for name, ids in labels.items():
        if not ids:
            src = list_path if summary.label_source == "list" else layout.npy_path()
            report.problems.append(f"{layout.image_path(name)}: image has no labels (in {src})")
    return labels


def check_dataset(layout: VocLayout, splits: Sequence[str] | None = None, workers: int = 2,
                  *, required: Mapping[str, Sequence[str]] | None = None,
                  images: bool = True, labels: str | None = None) -> CheckReport:
    """Check the given splits (default: the ``required`` ones, else every list found).

    ``required`` maps a split to the folders its images must have a file in (a configured
    stage reads them), and ``labels`` is where those splits' image labels come from (other
    lists: their own DRS labels, else cls_labels.npy); ``images=False`` checks folders,
    lists and labels only (fast).
    """
    c, required = layout.num_classes, dict(required or {})
    report = CheckReport(layout.root, layout.classes,
                         images_per_class=np.zeros(c, np.int64),
                         pixels_per_class=np.zeros(c + 1, np.int64))
    splits = list(dict.fromkeys(splits or required or layout.splits()))
    if not splits:
        report.problems.append(f"{layout.root / 'ImageSets' / 'Segmentation'}: no split lists")
        return report
    for folder in dict.fromkeys(f for split in splits for f in required.get(split, ())):
        if not (layout.root / folder).is_dir():
            report.problems.append(f"{layout.root / folder}: folder not found (the configured "
                                   "stages read it)")
    listed: dict[str, list] = {}
    for split in splits:
        try:
            listed[split] = read_split_list(layout.list_path(split))
        except DataError as err:
            report.problems.append(str(err))
            continue
        if not listed[split]:
            report.problems.append(f"{layout.list_path(split)}: no images listed")
        lines = layout.list_path(split).read_text().split("\n")
        named = [ln.split()[0] for ln in lines if ln.split()]
        if len(named) != len(listed[split]):  # repeated with the same labels: read once
            report.warnings.append(f"{layout.list_path(split)}: {len(named) - len(listed[split])}"
                                   " id(s) listed more than once (read once)")
    if not images:
        for split, entries in listed.items():
            summary = report.splits.setdefault(split, SplitSummary(images=len(entries)))
            _split_labels(layout, split, entries, report, summary,
                          labels if split in required else None)
        report.problems = list(dict.fromkeys(report.problems))
        return report
    # every distinct image is decoded once, whatever the number of lists naming it
    names = list(dict.fromkeys(name for entries in listed.values() for name, _ in entries))
    gt_dirs = tuple(d for d in GT_DIRS if (layout.root / d).is_dir())
    results = {r[0]: r for r in _map([(layout, n, gt_dirs) for n in names], workers)}
    for _name, problems, pixels, _, _ in results.values():
        report.problems += problems
        report.pixels_per_class += pixels
    counted: set[str] = set()  # images already in the class histogram
    missing: set[Path] = set()  # files already reported missing
    for split, entries in listed.items():
        summary = report.splits.setdefault(split, SplitSummary(images=len(entries)))
        split_labels = _split_labels(layout, split, entries, report, summary,
                                     labels if split in required else None)
        needed = _required_folders(layout, split, required.get(split, ()))
        for name, _ in entries:
            _, _, _, mask_ids, found = results[name]
            for folder in found:
                summary.found[folder] = summary.found.get(folder, 0) + 1
            if "JPEGImages" in found:  # a missing image is reported once, by _check_image
                for folder, what in needed:
                    path = layout.root / folder / f"{name}.png"
                    if folder not in found and path not in missing:
                        missing.add(path)
                        report.problems.append(f"{path}: {what} not found")
            if name in split_labels and name not in counted:
                counted.add(name)
                report.images_per_class[list(split_labels[name])] += 1
                if mask_ids is not None and set(split_labels[name]) != mask_ids:
                    report.warnings.append(
                        f"{layout.image_path(name)}: labels {sorted(split_labels[name])} "
                        f"differ from mask classes {sorted(mask_ids)}")
    report.problems = list(dict.fromkeys(report.problems))  # an image in two lists: once
    return report


def _map(jobs: list, workers: int):
    if workers <= 1 or len(jobs) < PARALLEL_MIN:
        return map(_check_image, jobs)
    pool = ProcessPoolExecutor(workers)
    try:
        return list(pool.map(_check_image, jobs, chunksize=64))
    finally:
        pool.shutdown()


def format_report(report: CheckReport, max_lines: int = 50) -> str:
    """Human-readable summary: counts per split, class histogram, problems."""
    lines = [f"dataset {report.root} ({len(report.classes) - 1} foreground classes)"]
    folders = {"JPEGImages": "images", "SegmentationClassAug": "ClassAug",
               "SegmentationClass": "Class", "saliency_map": "saliency"}
    lines.append(f"{'split':<12}{'listed':>8}{'labels':>8}"
                 + "".join(f"{h:>10}" for h in folders.values()))
    for split, s in report.splits.items():
        row = f"{split:<12}{s.images:>8}{s.label_source:>8}"
        row += "".join(f"{s.found.get(f, 0):>10}" for f in folders)
        lines.append(row)
    total_px = max(1, int(report.pixels_per_class.sum()))
    lines.append("class histogram (images by label | share of mask pixels)")
    for k, name in enumerate(report.classes):
        imgs = "-" if k == 0 else str(int(report.images_per_class[k - 1]))
        share = 100.0 * report.pixels_per_class[k] / total_px
        lines.append(f"  {k:>3} {name:<14}{imgs:>8} | {share:5.1f}%")
    if report.warnings:
        lines.append(f"warnings: {len(report.warnings)}")
        lines += [f"  {w}" for w in report.warnings[:max_lines]]
    lines.append(f"problems: {len(report.problems)}")
    lines += [f"  {p}" for p in report.problems[:max_lines]]
    if len(report.problems) > max_lines:
        lines.append(f"  ... and {len(report.problems) - max_lines} more")
    return "\n".join(lines)


def requirements(cfg: PipelineConfig, stages: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """{split: folders its images need} for the configured ``stages`` (``pipeline.plan``)."""
    d, gt = cfg.data, cfg.scoring.gt_dir
    out: dict[str, list[str]] = {d.train_split: ["JPEGImages"], d.score_split: ["JPEGImages"],
                                 d.select_split: ["JPEGImages"]}
    if "pseudo_labels" in stages:  # DRS's background comes from saliency
        out[d.train_split].append(d.saliency_dir)
        out[d.score_split].append(d.saliency_dir)
    if len(stages) > 1:  # every stage after pretrain scores against ground truth
        out[d.score_split].append(gt)
    if "segment" in stages and cfg.segment.labels == "gt":
        out[d.train_split].append(gt)
    if "evaluate" in stages:
        out[d.select_split].append(gt)
        if d.report_split:
            out.setdefault(d.report_split, ["JPEGImages"]).append(gt)
    if d.labels == "masks":
        for folders in out.values():
            folders.append(gt)
    return {split: tuple(dict.fromkeys(f)) for split, f in out.items()}


def preflight(cfg: PipelineConfig, stages: Sequence[str], layout: VocLayout, fingerprint: str,
              markers: Path) -> None:
    """What ``wsss run`` and ``wsss study run`` check before any training: lists, labels and
    folders every time; every image, mask and saliency map once per dataset fingerprint
    (a passing full check leaves a marker in ``markers``). Raises ``DataError`` with the
    first problem and how many there are."""
    import hashlib
    import json

    required = requirements(cfg, stages)
    what = json.dumps({"required": required, "labels": cfg.data.labels}, sort_keys=True)
    marker = markers / f"{fingerprint}-{hashlib.sha256(what.encode()).hexdigest()[:12]}.ok"
    full = not marker.exists()
    report = check_dataset(layout, required=required, workers=cfg.data.workers, images=full,
                           labels=cfg.data.labels)
    if report.problems:
        more = len(report.problems) - 1
        raise DataError(report.problems[0] + (f" (and {more} more problem(s): `wsss data check "
                                              f"{layout.root}` lists them)" if more else ""))
    if full:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(what + "\n")
