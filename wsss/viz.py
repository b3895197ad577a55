"""Overlay images for a person (and MLflow artifacts): image | ground truth | maps | labels.

``write_overlay`` works on any stage output folder that holds ``maps/`` (cams, refine) or
``labels/`` (pseudo labels, predictions): one row per image, columns

    image | ground truth | one heat-map per present class over the image | label PNG

Pure numpy + Pillow (``wsss`` never imports matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.artifacts import load_maps, maps_path
from wsss.data.layout import voc_palette
from wsss.data.splits import records
from wsss.data.voc import VocLayout, load_image, load_mask
from wsss.options import PipelineConfig

_PALETTE = np.array(voc_palette(), dtype=np.uint8).reshape(256, 3)


def heat(values: np.ndarray) -> np.ndarray:
    """H x W in [0, 1] (clipped) -> H x W x 3 uint8, a jet-like colour map."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    rgb = np.concatenate([np.clip(1.5 - np.abs(4 * v - k), 0, 1) for k in (3, 2, 1)], axis=-1)
    return (rgb * 255).astype(np.uint8)


def colour_labels(labels: np.ndarray) -> np.ndarray:
    return _PALETTE[labels]


def overlay_row(image: np.ndarray, gt: np.ndarray | None, maps: np.ndarray | None,
                classes: Sequence[int], labels: np.ndarray | None) -> np.ndarray:
    cells = [image]
    if gt is not None:
        cells.append(colour_labels(gt))
    if maps is not None:
        cells += [(0.5 * image + 0.5 * heat(maps[c])).astype(np.uint8) for c in classes]
    if labels is not None:
        cells.append(colour_labels(labels))
    return np.concatenate(cells, axis=1)


def write_overlay(stage_dir: Path, layout: VocLayout, names: Sequence[str], out: Path, *,
                  gt_dir: str = "SegmentationClassAug", scale: int = 1) -> Path:
    """A PNG grid for ``names`` from a stage folder's ``maps/`` and/or ``labels/``."""
    rows, width = [], 0
    for name in names:
        image = load_image(layout.image_path(name))
        size = image.shape[:2]
        gt_path = layout.mask_path(name, gt_dir)
        gt = load_mask(gt_path, layout.num_classes, size) if gt_path.exists() else None
        maps = classes = labels = None
        if (stage_dir / "maps").is_dir():
            maps = load_maps(maps_path(stage_dir / "maps", name), layout.num_classes)
            classes = [c for c in range(len(maps)) if maps[c].any()]
        if (stage_dir / "labels").is_dir():
            labels = load_mask(stage_dir / "labels" / f"{name}.png", layout.num_classes, size)
        row = overlay_row(image, gt, maps, classes or [], labels)
        rows.append(row)
        width = max(width, row.shape[1])
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    grid = Image.fromarray(np.concatenate(rows, axis=0))
    if scale > 1:
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.Resampling.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return out


def write_stage_overlay(cfg: PipelineConfig, layout: VocLayout, out_dir: Path,
                        count: int = 6) -> None:
    """``overlay.png`` of the first scored images, for a person and for MLflow artifacts."""
    names = [r.name for r in records(cfg, layout, cfg.data.score_split)[:count]]
    scale = max(1, 256 // max(1, cfg.cams.input_size or 256))  # small synthetic images
    write_overlay(out_dir, layout, names, out_dir / "overlay.png",
                  gt_dir=cfg.scoring.gt_dir, scale=scale)
