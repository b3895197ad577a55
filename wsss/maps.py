"""Writing and scoring a split's localization maps: shared by ``cams`` and ``refine``.

Maps are made at ``cams/scales`` (``wsss.ops.cam.multi_scale_maps``), brought to each
image's original size (after fusion, or per scale for DRS's refined maps) and stored for its
present classes (``wsss.artifacts.save_maps``).
Scoring uses the CAM-only prediction argmax([t, maps]) for a sweep of constant background
scores t against ``scoring/gt_dir``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from wsss import engine, progress
from wsss.artifacts import load_maps, maps_path, save_maps
from wsss.data.datasets import InferenceDataset
from wsss.data.splits import records
from wsss.data.transforms import ResizeSquare
from wsss.data.voc import Record, VocLayout, load_mask
from wsss.ops.cam import (
    background_sweep_predictions,
    multi_scale_maps,
    multi_scale_maps_per_image,
    resize_maps,
)
from wsss.ops.metrics import ConfusionMatrix
from wsss.options import PipelineConfig

THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(1, 13))  # 0.05 .. 0.60


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"image": torch.stack([i["image"] for i in items]),
            "label": torch.stack([i["label"] for i in items]),
            "name": [i["name"] for i in items], "size": [i["size"] for i in items]}


def inference_batches(cfg: PipelineConfig, layout: VocLayout, recs: Sequence[Record],
                      batch_size: int):
    """Batches of squashed images (or single images at their own size)."""
    size = cfg.cams.input_size
    ds = InferenceDataset(layout, recs, ResizeSquare(size) if size else None,
                          with_saliency=False)
    return engine.loader(ds, batch_size if size else 1, workers=cfg.data.workers,
                         collate=collate)


def write_maps(net, cfg: PipelineConfig, layout: VocLayout, recs: Sequence[Record],
               folder: Path, device: torch.device, *, relu: bool, normalize: bool,
               store: Literal["uint8", "float16"], fusion: str | None = None,
               to_original: Literal["after_fusion", "per_scale", "never"] = "after_fusion",
               ) -> None:
    """Multi-scale maps of every record into ``folder``: fused at the input size and resized
    to the original size (``after_fusion``), each scale upsampled straight to the original
    size and then fused (``per_scale``, DRS's refined maps), or left at the input size
    (``never``: DRS's refinement targets, ``localization_map_gen.py``)."""
    cam = cfg.cams
    kwargs: dict[str, Any] = dict(scales=cam.scales, fusion=fusion or cam.fusion, flip=cam.flip,
                  align_corners=cam.align_corners, relu=relu, normalize=normalize,
                  head_upsample=cam.head_upsample, input_resize=cam.input_resize)
    done = 0
    for batch in inference_batches(cfg, layout, recs, cam.batch_size):
        done += len(batch["name"])
        progress.update(done, len(recs), "images")
        images, labels = batch["image"].to(device), batch["label"].to(device)
        if to_original == "per_scale":
            fused = [m.cpu() for m in multi_scale_maps_per_image(
                net, images, labels, [tuple(s) for s in batch["size"]], **kwargs)]
        else:
            fused = list(multi_scale_maps(net, images, labels, **kwargs).cpu())
        for i, name in enumerate(batch["name"]):
            present = torch.nonzero(batch["label"][i]).flatten().tolist()
            maps = fused[i][present]
            if to_original == "after_fusion":
                maps = resize_maps(maps, batch["size"][i], cam.align_corners)
            save_maps(maps_path(folder, name), maps.numpy(), present, store)


def score_maps(cfg: PipelineConfig, layout: VocLayout, folder: Path,
               prefix: str) -> tuple[dict[str, float], dict[str, float]]:
    """Best-threshold mIoU of the CAM-only prediction on the eval split (a reported metric,
    never used to select a model)."""
    c = layout.num_classes
    fixed = cfg.cams.bg_score
    thresholds = THRESHOLDS + (() if fixed is None else (fixed,))  # the sweep, then Eq. 3's
    cms = [ConfusionMatrix(c + 1) for _ in thresholds]
    for rec in records(cfg, layout, cfg.data.score_split):
        maps = load_maps(maps_path(folder, rec.name), c)
        gt = load_mask(layout.mask_path(rec.name, cfg.scoring.gt_dir), c, maps.shape[1:])
        for cm, pred in zip(cms, background_sweep_predictions(maps, thresholds), strict=True):
            cm.update(pred, gt, name=rec.name)
    scores = [cm.miou(cfg.scoring.protocol) for cm in cms]
    best = int(np.nanargmax(scores[:len(THRESHOLDS)]))
    chosen = best if fixed is None else len(THRESHOLDS)
    metrics = {f"{prefix}/miou": scores[chosen], f"{prefix}/miou_best": scores[best],
               f"{prefix}/best_bg": THRESHOLDS[best]}
    m_fn, m_fp = cms[chosen].m_fn_fp()
    metrics.update({f"{prefix}/m_fn": m_fn, f"{prefix}/m_fp": m_fp})
    return metrics, {str(t): s for t, s in zip(THRESHOLDS, scores[:len(THRESHOLDS)], strict=True)}
