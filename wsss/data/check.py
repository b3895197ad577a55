"""`wsss data check`: validate a VOC-layout dataset; every problem names its file.

Problems (non-zero exit): a listed id with no image, a corrupt image, a missing mask or
saliency map (where that folder exists), a mask or saliency map whose size differs from its
image, a class id outside 0..C and 255, an image with no labels, labels outside 0..C-1.
Warnings (reported, exit 0): list labels that disagree with the mask's classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.data.voc import (
    DataError,
    VocLayout,
    load_cls_labels,
    load_mask,
    load_saliency,
    read_split_list,
)

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
    images_per_class: np.ndarray | None = None  # over all splits, by image labels
    pixels_per_class: np.ndarray | None = None  # over all distinct masks checked
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
    problems, pixels, mask_ids, found = [], np.zeros(c + 1, np.int64), None, set()
    path = layout.image_path(name)
    size = None
    if not path.exists():
        return name, [f"{path}: listed image not found"], pixels, None, found
    try:
        found.add("JPEGImages")
        with Image.open(path) as img:
            img.load()  # decodes the whole file: catches truncation, not only a bad header
            size = (img.height, img.width)
    except OSError as err:
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


def _required_folders(layout: VocLayout, split: str) -> list[tuple[str, str]]:
    """(folder, what) every image of the split must have a file in, where the folder exists.

    SegmentationClassAug covers every image; VOC's own SegmentationClass only its train/val.
    """
    out = []
    for folder, what, needed in (
        ("SegmentationClassAug", "mask", True),
        ("SegmentationClass", "mask", split.removesuffix("_cls") in VOC_GT_SPLITS),
        (layout.saliency_dir, "saliency map", True),
    ):
        if needed and (layout.root / folder).is_dir():
            out.append((folder, what))
    return out


def _split_labels(layout: VocLayout, split: str, entries: list, report: CheckReport,
                  summary: SplitSummary) -> dict[str, tuple[int, ...]]:
    """Image labels of the split from the DRS list, else cls_labels.npy; problems recorded."""
    c, list_path = layout.num_classes, layout.list_path(split)
    labels: dict[str, tuple[int, ...]] = {}
    if any(ids is not None for _, ids in entries):
        summary.label_source = "list"
        for name, ids in entries:
            ids = ids or ()
            bad = [i for i in ids if not 0 <= i < c]
            if bad:
                report.problems.append(f"{list_path}: {name} has class id {bad[0]} outside "
                                       f"0..{c - 1}")
            labels[name] = tuple(i for i in ids if 0 <= i < c)
    elif layout.npy_path().exists():
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


def check_dataset(layout: VocLayout, splits: Sequence[str] | None = None,
                  workers: int = 2) -> CheckReport:
    """Check the given splits (default: every list under ImageSets/Segmentation)."""
    c = layout.num_classes
    report = CheckReport(layout.root, layout.classes,
                         images_per_class=np.zeros(c, np.int64),
                         pixels_per_class=np.zeros(c + 1, np.int64))
    splits = list(splits or layout.splits())
    if not splits:
        report.problems.append(f"{layout.root / 'ImageSets' / 'Segmentation'}: no split lists")
        return report
    listed: dict[str, list] = {}
    for split in splits:
        try:
            listed[split] = read_split_list(layout.list_path(split))
        except DataError as err:
            report.problems.append(str(err))
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
        labels = _split_labels(layout, split, entries, report, summary)
        required = _required_folders(layout, split)
        for name, _ in entries:
            _, _, _, mask_ids, found = results[name]
            for folder in found:
                summary.found[folder] = summary.found.get(folder, 0) + 1
            if "JPEGImages" in found:  # a missing image is reported once, by _check_image
                for folder, what in required:
                    path = layout.root / folder / f"{name}.png"
                    if folder not in found and path not in missing:
                        missing.add(path)
                        report.problems.append(f"{path}: {what} not found")
            if name in labels and name not in counted:
                counted.add(name)
                report.images_per_class[list(labels[name])] += 1
                if mask_ids is not None and set(labels[name]) != mask_ids:
                    report.warnings.append(
                        f"{layout.image_path(name)}: labels {sorted(labels[name])} differ from "
                        f"mask classes {sorted(mask_ids)}")
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
