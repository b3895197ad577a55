"""Stage `classifier`: train the VGG16-D1 + DRS classifier on image-level labels.

Reference optimiser (DRS ``train_cls.py``): SGD, momentum 0.9, Nesterov (``reference``
preset), weight decay 5e-4 on every group, LR x1 / x2 / x10 / x20 for backbone weights /
biases / new weights (layer6, last conv, DRS controllers) / new biases, x0.1 at the start
of each decay epoch. ``batch_size`` is the global batch. Resumes from ``checkpoint.pt``.

Each training step is the method's (``wsss.methods``). SSENet's (``wsss.models.ser``):
logits from the maps at input resolution, and with ``classifier/ser_rate`` a second,
downsampled branch and the SER loss weighted by ``classifier/ser_weight``; images get
``classifier/scale_range`` random long-side resizing; psa's poly LR with
``classifier/schedule=poly``.

The final weights are the last epoch's. ``classifier/select=oracle`` (allowed only with
``oracle=true``) instead keeps the epoch with the best pseudo-label mIoU on the scored
split against pixel ground truth, as the reference's ``best.pth`` does, and records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from wsss import engine
from wsss.artifacts import BACKBONE, CLASSIFIER, classifier_from_config, load_backbone
from wsss.data.datasets import ClassificationDataset, InferenceDataset
from wsss.data.splits import open_layout, records
from wsss.data.transforms import ResizeSquare, classifier_transform
from wsss.data.voc import VocLayout
from wsss.methods import method_of
from wsss.models.classifier import Classifier
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.pseudo_labels import pseudo_label
from wsss.options import PipelineConfig
from wsss.runtime import (
    Report,
    load_torch,
    mixed,
    no_report,
    pick_device,
    place,
    save_torch,
    seed_everything,
)
from wsss.stages import Stage

ORACLE_BEST = "oracle_best.pt"


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    c, device = cfg.classifier, pick_device(cfg.device)
    layout = open_layout(cfg)
    model = classifier_from_config(cfg, layout.num_classes)
    load_backbone(model, inputs["pretrain"] / BACKBONE)
    place(model, device, cfg.channels_last)
    dataset = ClassificationDataset(layout, records(cfg, layout, cfg.data.train_split),
                                    classifier_transform(c), seed=cfg.seed)
    steps = -(-len(dataset) // c.batch_size)
    optimizer = engine.optimizer(model.param_groups(), kind=c.optimizer, lr=c.lr,
                                 momentum=c.momentum, nesterov=c.nesterov,
                                 weight_decay=c.weight_decay, decay_biases=c.decay_biases)
    decay = (engine.poly_decay(c.epochs * steps, c.poly_power) if c.schedule == "poly"
             else engine.step_decay(c.decay_epochs, steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    val = records(cfg, layout, cfg.data.select_split)
    oracle = {"miou": -1.0, "epoch": 0}

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        metrics = engine.classification_metrics("classifier", collected)
        metrics.update({f"classifier/{k}": float(torch.stack(collected[k]).mean())
                        for k in ("ser_loss", "cls_small_loss") if k in collected})
        metrics.update(engine.evaluate_classification(
            model, layout, val, size=c.crop, device=device, workers=cfg.data.workers,
            prefix="classifier/val", precision=cfg.precision))
        if c.select == "oracle":
            miou = oracle_miou(model, cfg, layout, device)
            metrics["classifier/oracle_miou"] = miou
            if miou > oracle["miou"]:
                oracle.update(miou=miou, epoch=epoch + 1)
                save_torch(model.state_dict(), out_dir / ORACLE_BEST)
        return metrics

    def batches(epoch: int):
        return engine.loader(dataset, c.batch_size, workers=cfg.data.workers, seed=cfg.seed,
                             epoch=epoch, shuffle=True)

    history = engine.fit(model, optimizer, scheduler, epochs=c.epochs, batches=batches,
                         step=method_of(cfg.method).classifier_step(model, device, c),
                         checkpoint=out_dir / engine.CHECKPOINT, report=report,
                         end_of_epoch=end_of_epoch, device=device, precision=cfg.precision)
    result = engine.last_metrics(history)
    if c.select == "oracle":  # recorded as such: the number peeked at pixel ground truth
        model.load_state_dict(load_torch(out_dir / ORACLE_BEST))
        result.update({"classifier/oracle_epoch": float(oracle["epoch"]),
                       "classifier/oracle_miou": oracle["miou"]})
    engine.finish(model, out_dir / CLASSIFIER, num_classes=layout.num_classes, select=c.select)
    return result


@torch.no_grad()
def oracle_miou(model: Classifier, cfg: PipelineConfig, layout: VocLayout,
                device: torch.device) -> float:
    """The reference's selection criterion: single-scale maps -> pseudo labels without the
    conflict/ignore rules -> mIoU on the scored split against ground truth (a GT peek)."""
    model.eval()
    recs = records(cfg, layout, cfg.data.score_split)
    size = cfg.cams.input_size or cfg.classifier.crop
    ds = InferenceDataset(layout, recs, ResizeSquare(size), with_mask=True,
                          gt_dir=cfg.scoring.gt_dir)
    cm = ConfusionMatrix(layout.num_classes + 1)
    forward = mixed(model, device, cfg.precision)
    for item in engine.loader(ds, 1, workers=0):
        cam = torch.relu(forward(item["image"].to(device))["cam"])
        cam = torch.nn.functional.interpolate(cam, size=(size, size), mode="bilinear",
                                              align_corners=True)
        maps = (cam / (cam.amax(dim=(2, 3), keepdim=True) + 1e-5))[0].cpu().numpy()
        maps *= item["label"][0].numpy()[:, None, None]
        sal = item["saliency"][0].numpy() / 255.0
        pred = pseudo_label(maps, sal, alpha=cfg.pseudo_labels.alpha, beta=cfg.pseudo_labels.beta,
                            conflict_count=0)
        pred[pred == 255] = 0  # the reference scores the argmax map, without ignore
        cm.update(pred, item["mask"][0].numpy())
    return cm.miou("nanmean", "ignore") if cm.counts.sum() else float(np.nan)


def _oracle_reads(cfg: PipelineConfig) -> tuple[str, ...]:
    """Oracle selection scores pseudo labels against pixel ground truth every epoch."""
    if cfg.classifier.select != "oracle":
        return ()
    return ("pseudo_labels/alpha", "pseudo_labels/beta", "cams/input_size", "scoring/gt_dir")


STAGE = Stage(
    name="classifier", run=run,
    reads=("precision", "data/", "seed", "oracle", "method", "classifier/"),
    reads_if=_oracle_reads, score="classifier/val/map", gpu=True, version="4")
