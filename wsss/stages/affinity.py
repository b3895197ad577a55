"""Stage `affinity`: train AffinityNet on the la/ha confident regions (docs/method.md,
"AffinityNet").

The backbone starts from the ``pretrain`` stage (ImageNet in the reference: not from the
CAM network). Each sample: colour jitter, a random ``affinity/crop`` crop padded with black
(before normalisation) and zero marginals, a flip; the la/ha marginals are average-pooled to
the output stride, pixels whose marginals are all < 1e-5 (the crop padding) become unknown,
and the confident label is la's foreground / ha's background / else unknown. Loss and
pair counts: ``wsss.models.affinity``. Poly LR with the psa groups (new heads x10), weight
decay on weights only; resumable per epoch. Writes ``affinity.pt``.
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
    AFFINITY,
    BACKBONE,
    MARGINALS,
    affinity_from_config,
    load_backbone,
    load_marginals,
    maps_path,
)
from wsss.data.datasets import VocDataset
from wsss.data.splits import open_layout, records
from wsss.data.transforms import ColorJitter, Compose, HorizontalFlip, RandomCrop, to_tensor
from wsss.data.voc import Record, VocLayout, load_image
from wsss.models.affinity import IGNORE, affinity_loss, pair_labels
from wsss.options import PipelineConfig
from wsss.runtime import Report, no_report, pick_device, place, seed_everything
from wsss.stages import Stage


class AffinityDataset(VocDataset):
    """(image 3 x crop x crop, confident label crop/stride x crop/stride int64, 255 unknown)."""

    def __init__(self, layout: VocLayout, records: list[Record], marginals: Path,
                 transform: Compose, stride: int, *, seed: int = 0) -> None:
        super().__init__(layout, records, transform, seed=seed)
        self.marginals, self.stride = marginals, stride

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        name = self.records[index].name
        _, la, ha = load_marginals(maps_path(self.marginals, name))
        sample = {"image": load_image(self.layout.image_path(name)),
                  "maps": np.concatenate([la, ha])}
        sample = self._apply(sample, index)
        pooled = F.avg_pool2d(torch.from_numpy(np.ascontiguousarray(sample["maps"]))[None],
                              self.stride, self.stride)[0]
        return to_tensor(sample["image"]), confident_from_pooled(pooled)


def confident_from_pooled(pooled: torch.Tensor) -> torch.Tensor:
    """(2(K+1), h, w) pooled [la; ha] marginals -> (h, w) int64 confident labels."""
    la, ha = pooled.chunk(2)
    no_score = pooled.amax(dim=0) < 1e-5
    label = la.argmax(dim=0)
    label[label == 0] = IGNORE
    label[ha.argmax(dim=0) == 0] = 0
    label[no_score] = IGNORE
    return label


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    a, device = cfg.affinity, pick_device(cfg.device)
    layout = open_layout(cfg)
    model = affinity_from_config(cfg, layout.num_classes)
    load_backbone(model.backbone, inputs["pretrain"] / BACKBONE)
    place(model, device, cfg.channels_last)
    if a.crop % model.output_stride:
        raise ValueError(f"affinity/crop={a.crop} must be a multiple of the output stride "
                         f"{model.output_stride}")
    steps: list[Any] = [ColorJitter(*a.jitter)] if any(a.jitter) else []
    steps += [RandomCrop(a.crop, image_fill=(0, 0, 0)), HorizontalFlip(0.5)]
    dataset = AffinityDataset(layout, records(cfg, layout, cfg.data.train_split),
                              inputs["crf_labels"] / MARGINALS, Compose(steps),
                              model.output_stride, seed=cfg.seed)
    per_epoch = -(-len(dataset) // a.batch_size)
    optimizer = engine.optimizer(model.param_groups(), kind=a.optimizer, lr=a.lr,
                                 momentum=a.momentum, weight_decay=a.weight_decay,
                                 decay_biases=False)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, engine.poly_decay(a.epochs * per_epoch, a.poly_power))

    def step(batch: tuple[torch.Tensor, torch.Tensor]):
        images, labels = batch[0].to(device), batch[1].to(device)
        aff = model.affinities(images)
        loss, parts = affinity_loss(aff, labels)
        with torch.no_grad():  # pairs on the right side of 0.5
            masks = pair_labels(labels)
            pos = masks["bg"] + masks["fg"]
            right = ((aff > 0.5) * pos).sum() + ((aff <= 0.5) * masks["neg"]).sum()
        return loss, {**{f"affinity/{k}_loss": v.detach() for k, v in parts.items()},
                      "right": right, "pairs": pos.sum() + masks["neg"].sum()}

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        pairs = float(torch.stack(collected.pop("pairs")).sum())
        right = float(torch.stack(collected.pop("right")).sum())
        out = {"affinity/loss" if k == "loss" else k: float(torch.stack(v).mean())
               for k, v in collected.items()}
        out["affinity/pair_accuracy"] = right / pairs if pairs else float("nan")
        return out

    history = engine.fit(model, optimizer, scheduler, epochs=a.epochs,
                         batches=lambda e: engine.loader(dataset, a.batch_size,
                                                         workers=cfg.data.workers,
                                                         seed=cfg.seed, epoch=e, shuffle=True),
                         step=step, checkpoint=out_dir / engine.CHECKPOINT, report=report,
                         device=device, precision=cfg.precision,
                         end_of_epoch=end_of_epoch)
    engine.finish(model, out_dir / AFFINITY, num_classes=layout.num_classes)
    return engine.last_metrics(history)


STAGE = Stage(
    name="affinity", run=run, reads=("precision", "data/", "seed", "affinity/", "classifier/arch"),
    score="affinity/pair_accuracy", gpu=True, version="2")
