"""Stage `classify`: train the VGG16-D1 + DRS classifier on image-level labels.

Reference optimiser (DRS ``train_cls.py``): SGD, momentum 0.9, Nesterov (``reference``
preset), weight decay 5e-4 on every group, LR x1 / x2 / x10 / x20 for backbone weights /
biases / new weights (layer6, last conv, DRS controllers) / new biases, x0.1 at the start
of each decay epoch. ``batch_size`` is the global batch. Resumes from ``checkpoint.pt``.

With ``method=ssenet`` each step is SSENet's (``wsss.models.ser``): logits from the maps at
input resolution, and with ``classifier/ser_rate`` a second, downsampled branch and the SER
loss weighted by ``classifier/ser_weight``; images get ``classifier/scale_range`` random
long-side resizing; psa's poly LR with ``classifier/schedule=poly``.

The final weights are the last epoch's. ``classifier/select=oracle`` (allowed only with
``oracle=true``) instead keeps the epoch with the best pseudo-label mIoU on the scored
split against pixel ground truth, as the reference's ``best.pth`` does, and records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from wsss.config import ClassifierConfig, PipelineConfig
from wsss.data.transforms import ResizeSquare
from wsss.data.voc import InferenceDataset, VocLayout
from wsss.models.classifier import Classifier, build_classifier
from wsss.models.ser import ser_step
from wsss.ops.metrics import ConfusionMatrix
from wsss.ops.pseudo_labels import pseudo_label
from wsss.runtime import Report, load_torch, no_report, pick_device, save_torch, seed_everything
from wsss.stages import common
from wsss.stages.pretrain import BACKBONE, load_backbone

CLASSIFIER = "classifier.pt"
MULTIPLIERS = {"backbone_w": 1.0, "backbone_b": 2.0, "new_w": 10.0, "new_b": 20.0}


def build(cfg: PipelineConfig, num_classes: int) -> Classifier:
    c = cfg.classifier
    return build_classifier(c.arch, num_classes, drs=c.drs, drs_delta=c.drs_delta,
                            drs_layers=c.drs_layers)


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    c, device = cfg.classifier, pick_device(cfg.device)
    layout = common.open_layout(cfg)
    model = build(cfg, layout.num_classes)
    load_backbone(model, inputs["pretrain"] / BACKBONE)
    model.to(device)
    dataset = common.ClassificationDataset(
        layout, common.records(cfg, layout, cfg.data.train_split),
        common.classifier_transform(c), seed=cfg.seed)
    steps = -(-len(dataset) // c.batch_size)
    optimizer = common.sgd_or_adam(model.param_groups(), MULTIPLIERS, optimizer=c.optimizer,
                                   lr=c.lr, momentum=c.momentum, nesterov=c.nesterov,
                                   weight_decay=c.weight_decay, decay_biases=c.decay_biases)
    decay = (common.poly_decay(c.epochs * steps, c.poly_power) if c.schedule == "poly"
             else common.step_decay(c.decay_epochs, steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    val = common.records(cfg, layout, cfg.data.val_split)
    oracle = {"miou": -1.0, "epoch": 0}

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        metrics = common.classification_metrics("cls", collected)
        metrics.update({f"cls/{k}": float(torch.stack(collected[k]).mean())
                        for k in ("ser_loss", "cls_small_loss") if k in collected})
        metrics.update(common.evaluate_classification(model, layout, val, cfg, device, c.crop,
                                                      "cls/val"))
        if c.select == "oracle":
            miou = oracle_miou(model, cfg, layout, device)
            metrics["cls/oracle_miou"] = miou
            if miou > oracle["miou"]:
                oracle.update(miou=miou, epoch=epoch + 1)
                save_torch(model.state_dict(), out_dir / "oracle_best.pt")
        return metrics

    def batches(epoch: int):
        return common.loader(dataset, c.batch_size, workers=cfg.data.workers, seed=cfg.seed,
                             epoch=epoch, shuffle=True)

    history = common.fit(model, optimizer, scheduler, epochs=c.epochs, batches=batches,
                         step=(ser_training_step(model, device, c) if cfg.method == "ssenet"
                               else common.classification_step(model, device)),
                         checkpoint=out_dir / "checkpoint.pt", report=report,
                         end_of_epoch=end_of_epoch)
    state = model.state_dict()
    result = {k: v for k, v in history[-1].items() if k != "epoch"}
    if c.select == "oracle":  # recorded as such: the number peeked at pixel ground truth
        state = load_torch(out_dir / "oracle_best.pt")
        result.update({"cls/oracle_epoch": float(oracle["epoch"]),
                       "cls/oracle_miou": oracle["miou"]})
    save_torch({"state_dict": {k: v.cpu() for k, v in state.items()},
                "num_classes": layout.num_classes, "select": c.select}, out_dir / CLASSIFIER)
    (out_dir / "checkpoint.pt").unlink()
    return result


def ser_training_step(model: Classifier, device: torch.device, c: ClassifierConfig):
    """SSENet's step: both branches (or the baseline's one) through ``ser_step``."""

    def step(batch: tuple[torch.Tensor, torch.Tensor]):
        images, labels = batch[0].to(device), batch[1].to(device)
        out = ser_step(lambda x: model(x)["cam"], images, labels, rate=c.ser_rate,
                       weight=c.ser_weight)
        extra = {} if out.ser is None else {"ser_loss": out.ser.detach(),
                                            "cls_small_loss": out.cls_small.detach()}
        return out.loss, {"logits": out.logits.detach(), "labels": labels, **extra}

    return step


def load(cfg: PipelineConfig, folder: Path, device: torch.device) -> Classifier:
    saved = load_torch(folder / CLASSIFIER)
    model = build(cfg, saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()


@torch.no_grad()
def oracle_miou(model: Classifier, cfg: PipelineConfig, layout: VocLayout,
                device: torch.device) -> float:
    """The reference's selection criterion: single-scale maps -> pseudo labels without the
    conflict/ignore rules -> mIoU on the scored split against ground truth (a GT peek)."""
    model.eval()
    recs = common.records(cfg, layout, cfg.data.eval_split)
    size = cfg.cams.input_size or cfg.classifier.crop
    ds = InferenceDataset(layout, recs, ResizeSquare(size), with_mask=True,
                          gt_dir=cfg.eval.gt_dir)
    cm = ConfusionMatrix(layout.num_classes + 1)
    for item in common.loader(ds, 1, workers=0):
        cam = torch.relu(model(item["image"].to(device))["cam"])
        cam = torch.nn.functional.interpolate(cam, size=(size, size), mode="bilinear",
                                              align_corners=True)
        cam = (cam / (cam.amax(dim=(2, 3), keepdim=True) + 1e-5))[0].cpu().numpy()
        cam *= item["label"][0].numpy()[:, None, None]
        sal = item["saliency"][0].numpy() / 255.0
        pred = pseudo_label(cam, sal, alpha=cfg.pseudo.alpha, beta=cfg.pseudo.beta,
                            conflict_count=0)
        pred[pred == 255] = 0  # the reference scores the argmax map, without ignore
        cm.update(pred, item["mask"][0].numpy())
    return cm.miou("nanmean", "ignore") if cm.counts.sum() else float(np.nan)
