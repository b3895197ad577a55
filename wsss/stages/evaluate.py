"""Stage `evaluate`: the segmentation network on the selection split (``data/select_split``) and
the held-out reporting split (``data/report_split``), with and without dense CRF.

Each image is predicted at full resolution (logits upsampled with ``evaluate/align_corners``,
softmax, optionally averaged with the flipped image; consecutive images of one size go
through the network together, ``evaluate/batch_size``), then refined by a dense CRF with the
recipe's kernels (``wsss.ops.crf``) in a process pool. Scored against ``scoring/gt_dir``:

* ``evaluate/miou`` and ``evaluate/miou_crf``: DRS's protocol (classes in the gt or the prediction);
* ``evaluate/miou_gt`` and ``evaluate/miou_crf_gt``: the DeepLab-v2 code's (classes in the gt);
* ``evaluate/miou_all`` and ``evaluate/miou_crf_all``: SSENet's mean over all classes;
* per-class IoU ``evaluate/iou_<c>``; confusion matrices ``confusion.npy`` / ``confusion_crf.npy``;
  predictions ``labels/`` (after CRF when on) and ``labels_raw/``; ``overlay.png``;
* the same for the reporting split as ``evaluate/report/...`` and under ``report/``: what the
  tables print, and what no objective may select on (docs/method.md, "Selection vs reporting").
"""


from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsss import engine, progress
from wsss.artifacts import LABELS, SEGMENTER, load_model, save_label_png, segmenter_from_config
from wsss.data.datasets import InferenceDataset
from wsss.data.splits import open_layout, records
from wsss.data.voc import VocLayout, load_image, load_mask
from wsss.ops.crf import RECIPES, CrfParams, dense_crf, map_processes
from wsss.ops.metrics import ConfusionMatrix
from wsss.options import PipelineConfig
from wsss.runtime import Report, mixed, no_report, pick_device, write_json
from wsss.stages import Stage
from wsss.viz import write_overlay

REPORT = "report"  # metric infix and sub-folder of the held-out reporting split


@torch.no_grad()
def predict(model: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
            size: tuple[int, int], *, flip: bool, align_corners: bool) -> torch.Tensor:
    """(B, 3, H, W) -> (B, C, H, W) softmax probabilities at ``size``."""
    def probs(x: torch.Tensor) -> torch.Tensor:
        logits = F.interpolate(model(x), size=size, mode="bilinear", align_corners=align_corners)
        return logits.softmax(dim=1)

    p = probs(images)
    if flip:
        p = 0.5 * (p + probs(torch.flip(images, dims=(3,))).flip(dims=(3,)))
    return p


def same_size_runs(items: Iterable[dict[str, Any]], limit: int) -> Iterator[list[dict]]:
    """Consecutive items of one image size, at most ``limit`` at a time, in order."""
    run: list[dict[str, Any]] = []
    for item in items:
        if run and (len(run) == limit or item["size"] != run[0]["size"]):
            yield run
            run = []
        run.append(item)
    if run:
        yield run


def _crf_job(args: tuple[str, Path, np.ndarray, CrfParams]) -> tuple[str, np.ndarray]:
    name, image_path, probs, params = args
    q = dense_crf(load_image(image_path), probs.astype(np.float32), params)
    return name, q.argmax(axis=0).astype(np.uint8)


def score_split(model: torch.nn.Module, cfg: PipelineConfig, layout: VocLayout, split: str,
                out_dir: Path, device: torch.device) -> dict[str, float]:
    """Predict ``split``, CRF it, score both; labels and confusion matrices into ``out_dir``.
    Metric names without the ``evaluate/`` prefix (``miou``, ``miou_crf``, ``iou_3``, ...)."""
    e = cfg.evaluate
    recs = records(cfg, layout, split)
    c = layout.num_classes + 1
    raw_cm, crf_cm = ConfusionMatrix(c), ConfusionMatrix(c)
    gts: dict[str, np.ndarray] = {}
    (out_dir / "labels_raw").mkdir(parents=True, exist_ok=True)
    (out_dir / LABELS).mkdir(exist_ok=True)

    forward = mixed(model, device, cfg.precision)

    def crf_inputs() -> Iterator[tuple]:
        ds = InferenceDataset(layout, recs, with_saliency=False, with_mask=True,
                              gt_dir=cfg.scoring.gt_dir)
        items = engine.loader(ds, 1, workers=0, collate=lambda b: b[0])
        for run in same_size_runs(items, e.batch_size):
            images = torch.stack([item["image"] for item in run]).to(device)
            batch = predict(forward, images, run[0]["size"], flip=e.flip,
                            align_corners=e.align_corners).cpu().numpy()
            for item, probs in zip(run, batch, strict=True):
                name, gt = item["name"], item["mask"].numpy()
                pred = probs.argmax(axis=0).astype(np.uint8)
                raw_cm.update(pred, gt, name=name)
                save_label_png(pred, out_dir / "labels_raw" / f"{name}.png")
                if not e.crf:
                    save_label_png(pred, out_dir / LABELS / f"{name}.png")
                    continue
                gts[name] = gt
                yield (name, layout.image_path(name), probs.astype(np.float16),
                       RECIPES[e.crf_recipe])

    crf_done = progress.counted(map_processes(_crf_job, crf_inputs(), workers=e.workers),
                                len(recs), "images")
    for name, pred in crf_done:
        crf_cm.update(pred, gts.pop(name), name=name)
        save_label_png(pred, out_dir / LABELS / f"{name}.png")
    metrics = {"miou": raw_cm.miou("nanmean"), "miou_gt": raw_cm.miou("nanmean_gt"),
               "miou_all": raw_cm.miou("mean")}
    metrics.update({f"iou_{k}": float(v) for k, v in enumerate(raw_cm.iou())})
    np.save(out_dir / "confusion.npy", raw_cm.counts)
    if e.crf:
        metrics.update({"miou_crf": crf_cm.miou("nanmean"),
                        "miou_crf_gt": crf_cm.miou("nanmean_gt"),
                        "miou_crf_all": crf_cm.miou("mean")})
        metrics.update({f"iou_crf_{k}": float(v) for k, v in enumerate(crf_cm.iou())})
        np.save(out_dir / "confusion_crf.npy", crf_cm.counts)
    return metrics


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    e, device = cfg.evaluate, pick_device(cfg.device)
    layout = open_layout(cfg)
    model = load_model(inputs["segment"] / SEGMENTER, lambda n: segmenter_from_config(cfg, n),
                       device, channels_last=cfg.channels_last)
    selected = score_split(model, cfg, layout, cfg.data.select_split, out_dir, device)
    metrics = {f"evaluate/{k}": v for k, v in selected.items()}
    if cfg.data.report_split:  # held out: the tables' numbers, never an objective
        held = score_split(model, cfg, layout, cfg.data.report_split, out_dir / REPORT, device)
        metrics.update({f"evaluate/{REPORT}/{k}": v for k, v in held.items()})
    write_json({"classes": list(layout.classes), "selection_split": cfg.data.select_split,
                "report_split": cfg.data.report_split}, out_dir / "classes.json")
    if e.overlays:
        names = [r.name for r in records(cfg, layout, cfg.data.select_split)[: e.overlays]]
        scale = max(1, 256 // max(1, load_mask(layout.mask_path(names[0], cfg.scoring.gt_dir),
                                               layout.num_classes).shape[0]))
        write_overlay(out_dir, layout, names, out_dir / "overlay.png", gt_dir=cfg.scoring.gt_dir,
                      scale=scale)
    report(metrics)
    return metrics


STAGE = Stage(
    name="evaluate", run=run, reads=("precision", "data/", "evaluate/", "scoring/"),
    score="evaluate/miou", gpu=True, version="4")
