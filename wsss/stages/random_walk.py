"""Stage `random_walk`: CAM scores propagated by AffinityNet's transition (SPEC §2.5).

Per image, at its own size: the normalised image zero-padded (bottom, right) to a multiple of
the output stride; affinities of the 34 radius-5 pairs; the CAM scores [bg, present classes]
(bg ``random_walk/background``: SSE's constant 0.2 or psa's (1 - max)^16) zero-padded,
average-pooled to the affinity grid and multiplied by T^``steps`` (T from affinity^``beta``,
column-normalised; sparse, ``wsss.ops.random_walk``); then upsampled, arg-maxed and cropped.
Labels (0..C, no 255) go to ``labels/`` for the segmentation stage; the eval split is scored
against ``eval/gt_dir`` (SSENet: ``mean`` over all classes on VOC train, SegmentationClass):
``rw/miou``, ``rw/m_fn``, ``rw/m_fp``, per-class IoU.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.config import PipelineConfig
from wsss.data.layout import voc_palette
from wsss.data.voc import InferenceDataset, load_mask
from wsss.ops.cam import load_maps, maps_path
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.random_walk import background_scores, random_walk_labels
from wsss.runtime import Report, no_report, pick_device, seed_everything
from wsss.stages import affinity, cams, common

LABELS = "labels"


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Zero-pad the last two dims at the bottom and right to a multiple of ``multiple``."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, -w % multiple, 0, -h % multiple))


@torch.no_grad()
def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    rw, device = cfg.random_walk, pick_device(cfg.device)
    layout = common.open_layout(cfg)
    c = layout.num_classes
    model = affinity.load(cfg, inputs["affinity"], device)
    stride = model.output_stride
    recs = common.map_records(cfg, layout)
    labels_of = {r.name: sorted(r.labels) for r in recs}
    scored = {r.name for r in common.records(cfg, layout, cfg.data.eval_split)}
    out = out_dir / LABELS
    out.mkdir(parents=True, exist_ok=True)
    cm, palette = ConfusionMatrix(c + 1), voc_palette()
    ds = InferenceDataset(layout, recs, with_saliency=False)
    for item in common.loader(ds, 1, workers=cfg.data.workers, collate=lambda b: b[0]):
        name, (h, w) = item["name"], item["size"]
        image = pad_to(item["image"][None].to(device), stride)
        aff = model.affinities(image)[0]
        present = labels_of[name]
        maps = torch.from_numpy(load_maps(maps_path(inputs["cams"] / cams.MAPS, name), c)[
            present]).to(device)
        bg = background_scores(maps, rw.background, rw.bg_score, rw.bg_power)
        compact = random_walk_labels(pad_to(maps, stride), aff, stride=stride, beta=rw.beta,
                                     steps=rw.steps, background=pad_to(bg, stride))
        ids = torch.tensor([0, *[k + 1 for k in present]], device=device)
        pred = ids[compact[:h, :w]].cpu().numpy().astype(np.uint8)
        img = Image.fromarray(pred, "P")
        img.putpalette(palette)
        img.save(out / f".{name}.png", format="PNG")
        (out / f".{name}.png").rename(out / f"{name}.png")
        if name in scored:
            cm.update(pred, load_mask(layout.mask_path(name, cfg.eval.gt_dir), c, (h, w)),
                      name=name)
    metrics = cm.summary("rw", cfg.eval.protocol, cfg.eval.pred_ignore)
    np.save(out_dir / "confusion.npy", cm.counts)
    common.write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics
