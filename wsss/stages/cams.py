"""Stage `cams`: localization maps of the classifier on the training and scored splits.

Images are squashed to ``cams/input_size`` (DRS; 0 keeps each image's size, batch 1), run at
``cams/scales`` (x input size; DRS's {256, 320, 384} = 0.8 / 1.0 / 1.2 x 320), optionally
flipped, fused by ``cams/fusion`` and normalised (``wsss.ops.cam``). The fused map at input
size is resized to the image's original size and stored for its present classes only in
``maps/<name>.npz`` (``cams/store``: uint8 = floor(x * 255), or float16), never in the dataset.

Scored on the eval split against ground truth (``eval/gt_dir``): the CAM-only prediction
argmax([t, maps]) for a sweep of constant background scores t. ``cam/miou`` is the score at
``cams/bg_score`` when set (SSENet Eq. 3: 0.2), else the best t's (``cam/best_bg``);
``cam/miou_best`` is always the sweep's best (a ground-truth peek: reported, never used).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsss.config import PipelineConfig
from wsss.data.transforms import ResizeSquare
from wsss.data.voc import InferenceDataset, Record, VocLayout, load_mask
from wsss.ops.cam import (
    background_sweep_predictions,
    load_maps,
    maps_path,
    multi_scale_maps,
    resize_maps,
    save_maps,
)
from wsss.ops.metrics import ConfusionMatrix
from wsss.runtime import Report, no_report, pick_device, seed_everything, write_json
from wsss.stages import classify, common

MAPS = "maps"
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
    return common.loader(ds, batch_size if size else 1, workers=cfg.data.workers,
                         collate=collate)


def write_maps(net, cfg: PipelineConfig, layout: VocLayout, recs: Sequence[Record],
               folder: Path, device: torch.device, *, relu: bool, normalize: bool,
               store: str, fusion: str | None = None) -> None:
    """Multi-scale maps of every record, at original size, into ``folder``."""
    cam = cfg.cams
    for batch in inference_batches(cfg, layout, recs, cam.batch_size):
        labels = batch["label"].to(device)
        fused = multi_scale_maps(net, batch["image"].to(device), labels, scales=cam.scales,
                                 fusion=fusion or cam.fusion, flip=cam.flip,
                                 align_corners=cam.align_corners, relu=relu,
                                 normalize=normalize, head_upsample=cam.head_upsample,
                                 input_resize=cam.input_resize).cpu()
        for i, name in enumerate(batch["name"]):
            present = torch.nonzero(batch["label"][i]).flatten().tolist()
            maps = resize_maps(fused[i, present], batch["size"][i], cam.align_corners)
            save_maps(maps_path(folder, name), maps.numpy(), present, store)


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    layout = common.open_layout(cfg)
    model = classify.load(cfg, inputs["classify"], device)
    write_maps(lambda x: model(x)["cam"], cfg, layout, common.map_records(cfg, layout),
               out_dir / MAPS, device, relu=True, normalize=True, store=cfg.cams.store)
    metrics, sweep = score_maps(cfg, layout, out_dir / MAPS, "cam")
    write_json(sweep, out_dir / "threshold_sweep.json")
    common.write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


def score_maps(cfg: PipelineConfig, layout: VocLayout, folder: Path,
               prefix: str) -> tuple[dict[str, float], dict[str, float]]:
    """Best-threshold mIoU of the CAM-only prediction on the eval split (a reported metric,
    never used to select a model)."""
    c = layout.num_classes
    fixed = cfg.cams.bg_score
    thresholds = THRESHOLDS + (() if fixed is None else (fixed,))  # the sweep, then Eq. 3's
    cms = [ConfusionMatrix(c + 1) for _ in thresholds]
    for rec in common.records(cfg, layout, cfg.data.eval_split):
        maps = load_maps(maps_path(folder, rec.name), c)
        gt = load_mask(layout.mask_path(rec.name, cfg.eval.gt_dir), c, maps.shape[1:])
        for cm, pred in zip(cms, background_sweep_predictions(maps, thresholds), strict=True):
            cm.update(pred, gt, name=rec.name)
    scores = [cm.miou(cfg.eval.protocol) for cm in cms]
    best = int(np.nanargmax(scores[:len(THRESHOLDS)]))
    chosen = best if fixed is None else len(THRESHOLDS)
    metrics = {f"{prefix}/miou": scores[chosen], f"{prefix}/miou_best": scores[best],
               f"{prefix}/best_bg": THRESHOLDS[best]}
    m_fn, m_fp = cms[chosen].m_fn_fp()
    metrics.update({f"{prefix}/m_fn": m_fn, f"{prefix}/m_fp": m_fp})
    return metrics, {str(t): s for t, s in zip(THRESHOLDS, scores[:len(THRESHOLDS)], strict=True)}
