"""Stage `random_walk`: CAM scores propagated by AffinityNet's transition (docs/method.md, "Random
walk").

Per image, at its own size: the normalised image zero-padded (bottom, right) to a multiple of
the output stride; affinities of the 34 radius-5 pairs; the CAM scores [bg, present classes]
(bg ``random_walk/background``: SSE's constant 0.2 or psa's (1 - max)^16) zero-padded,
average-pooled to the affinity grid and multiplied by T^``steps`` (T from affinity^``beta``,
column-normalised; sparse, ``wsss.ops.random_walk``); then upsampled, arg-maxed and cropped.
Labels (0..C, no 255) go to ``labels/`` for the segmentation stage; the eval split is scored
against ``scoring/gt_dir`` (SSENet: ``mean`` over all classes on VOC train, SegmentationClass):
``random_walk/miou``, ``random_walk/m_fn``, ``random_walk/m_fp``, per-class IoU.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from wsss import engine, progress
from wsss.artifacts import (
    AFFINITY,
    LABELS,
    MAPS,
    affinity_from_config,
    load_maps,
    load_model,
    maps_path,
    save_label_png,
)
from wsss.data.datasets import InferenceDataset
from wsss.data.splits import map_records, open_layout, records
from wsss.data.voc import load_mask
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.random_walk import background_scores, random_walk_labels
from wsss.options import PipelineConfig
from wsss.runtime import Report, mixed, no_report, pick_device, seed_everything
from wsss.stages import Stage
from wsss.viz import write_stage_overlay


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims at the bottom and right to a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple))


@torch.no_grad()
def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    rw, device = cfg.random_walk, pick_device(cfg.device)
    layout = open_layout(cfg)
    c = layout.num_classes
    model = load_model(inputs["affinity"] / AFFINITY, lambda n: affinity_from_config(cfg, n),
                       device, channels_last=cfg.channels_last)
    stride = model.output_stride
    affinities = mixed(model.affinities, device, cfg.precision)
    recs = map_records(cfg, layout)
    labels_of = {r.name: sorted(r.labels) for r in recs}
    scored = {r.name for r in records(cfg, layout, cfg.data.score_split)}
    out = out_dir / LABELS
    out.mkdir(parents=True, exist_ok=True)
    cm = ConfusionMatrix(c + 1)
    ds = InferenceDataset(layout, recs, with_saliency=False)
    items = engine.loader(ds, 1, workers=cfg.data.workers, collate=lambda b: b[0])
    for item in progress.counted(items, len(recs), "images"):
        name, (h, w) = item["name"], item["size"]
        image = pad_to(item["image"][None].to(device), stride)
        aff = affinities(image)[0]
        present = labels_of[name]
        maps = torch.from_numpy(load_maps(maps_path(inputs["cams"] / MAPS, name), c)[
            present]).to(device)
        bg = background_scores(maps, rw.background, rw.bg_score, rw.bg_power)
        compact = random_walk_labels(pad_to(maps, stride), aff, stride=stride, beta=rw.beta,
                                     steps=rw.steps, background=pad_to(bg, stride),
                                     tolerance=rw.tolerance)
        ids = torch.tensor([0, *[k + 1 for k in present]], device=device)
        pred = ids[compact[:h, :w]].cpu().numpy().astype(np.uint8)
        save_label_png(pred, out / f"{name}.png")
        if name in scored:
            cm.update(pred, load_mask(layout.mask_path(name, cfg.scoring.gt_dir), c, (h, w)),
                      name=name)
    metrics = cm.summary("random_walk", cfg.scoring.protocol, cfg.scoring.pred_ignore)
    np.save(out_dir / "confusion.npy", cm.counts)
    write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


STAGE = Stage(
    name="random_walk", run=run, reads=("precision", "data/", "seed", "random_walk/", "scoring/"),
    score="random_walk/miou", gpu=True, version="3")
