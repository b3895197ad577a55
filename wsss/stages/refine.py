"""Stage `refine` (DRS†): regress the classifier's maps with a second network.

Targets (DRS ``localization_map_gen.py``): the classifier's maps of the train split at the
``cams`` scales, fused by max at the CAM input size (the training input), stored as uint8 =
floor(x * 255) in ``targets/``; never resized, so the regression sees the authors' values.
Training (DRS ``train_refine.py``): target = maps / 255 masked to each pixel's arg-max class
(``att * (att == att.max(0))``; ties keep every tied channel, all-zero pixels stay 0); MSE over
all elements; Adam, no weight decay, no LR groups; x0.1 at each decay epoch (paper: 15 epochs,
decay 5/10; reference run.sh: 30, decay 10/20). The image is squashed to the CAM input size
and flipped with its target; the network's output is not multiplied by the label in training.

Inference (``pseudo_seg_label_gen.py``): the ``cams`` scales, each raw output upsampled once,
straight to the original size (align_corners=True: ``cams/align_corners``), and multiplied by
the label, fused by max, without ReLU or normalisation: refined maps are unbounded, stored as
float16 in ``maps/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from wsss import engine
from wsss.artifacts import (
    BACKBONE,
    CLASSIFIER,
    MAPS,
    REFINER,
    classifier_from_config,
    load_backbone,
    load_maps,
    load_model,
    maps_path,
    refiner_from_config,
)
from wsss.data.datasets import VocDataset
from wsss.data.splits import map_records, open_layout, records
from wsss.data.transforms import ColorJitter, Compose, HorizontalFlip, ResizeSquare, to_tensor
from wsss.data.voc import Record, VocLayout, load_image
from wsss.maps import score_maps, write_maps
from wsss.models.deeplab import TRUNK
from wsss.options import PipelineConfig
from wsss.runtime import Report, mixed, no_report, pick_device, place, seed_everything
from wsss.stages import Stage
from wsss.viz import write_stage_overlay

TARGETS = "targets"  # the classifier's maps at the training input size


def argmax_mask(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W): keep each pixel's maximal channel(s); zero elsewhere."""
    return maps * (maps == maps.amax(dim=1, keepdim=True))


class RefineDataset(VocDataset):
    """(image, target maps) with one joint transform, seeded by (seed, epoch, index)."""

    def __init__(self, layout: VocLayout, recs: list[Record], maps_dir: Path, transform: Any,
                 seed: int) -> None:
        super().__init__(layout, recs, transform, seed=seed)
        self.maps_dir = maps_dir

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = self.records[index].name
        sample = self._apply({"image": load_image(self.layout.image_path(name)),
                              "maps": load_maps(maps_path(self.maps_dir, name),
                                                self.layout.num_classes)}, index)
        return to_tensor(sample["image"]), torch.from_numpy(np.ascontiguousarray(sample["maps"]))


def write_targets(cfg: PipelineConfig, layout: VocLayout, recs: list[Record], weights: Path,
                  folder: Path, device: torch.device) -> None:
    """The classifier's maps at the training input size, max over the ``cams`` scales, as
    DRS's ``localization_map_gen.py`` stores them (uint8 floor)."""
    classifier = load_model(weights, lambda n: classifier_from_config(cfg, n), device,
                            channels_last=cfg.channels_last)
    forward = mixed(lambda x: classifier(x)["cam"], device, cfg.precision)
    write_maps(forward, cfg, layout, recs, folder, device, relu=True,
               normalize=True, store="uint8", fusion="max", to_original="never")


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    r, device = cfg.refine, pick_device(cfg.device)
    layout = open_layout(cfg)
    train = records(cfg, layout, cfg.data.train_split)
    write_targets(cfg, layout, train, inputs["classifier"] / CLASSIFIER, out_dir / TARGETS, device)
    model = refiner_from_config(cfg, layout.num_classes)
    load_backbone(model, inputs["pretrain"] / BACKBONE,
                  layers=TRUNK)
    place(model, device, cfg.channels_last)
    size = cfg.cams.input_size or cfg.classifier.crop
    steps_t: list[Any] = [ResizeSquare(size)]
    steps_t += [ColorJitter(*r.jitter)] if any(r.jitter) else []
    dataset = RefineDataset(layout, train, out_dir / TARGETS,
                            Compose([*steps_t, HorizontalFlip(0.5)]), cfg.seed)
    steps = -(-len(dataset) // r.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=r.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, engine.step_decay(r.decay_epochs,
                                                                               steps))

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        images, targets = batch[0].to(device), argmax_mask(batch[1].to(device))
        return F.mse_loss(model(images), targets), {}

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        return {"refine/loss": float(torch.stack(collected["loss"]).mean())}

    def batches(epoch: int):
        return engine.loader(dataset, r.batch_size, workers=cfg.data.workers, seed=cfg.seed,
                             epoch=epoch, shuffle=True)

    engine.fit(model, optimizer, scheduler, epochs=r.epochs, batches=batches, step=step,
               checkpoint=out_dir / engine.CHECKPOINT, report=report, end_of_epoch=end_of_epoch,
               device=device, precision=cfg.precision)
    engine.finish(model, out_dir / REFINER, num_classes=layout.num_classes)
    model.eval()
    # the raw output, upsampled once by write_maps straight to each original image
    write_maps(mixed(model.head, device, cfg.precision), cfg, layout, map_records(cfg, layout),
               out_dir / MAPS, device, relu=False, normalize=False, store="float16", fusion="max",
               to_original="per_scale")
    metrics, _ = score_maps(cfg, layout, out_dir / MAPS, "refine")
    write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


STAGE = Stage(
    name="refine", run=run, reads=("precision", "data/", "seed", "refine/", "cams/", "scoring/"),
    score="refine/miou", gpu=True, version="5")
