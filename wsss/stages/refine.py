"""Stage `refine` (DRS†): regress the classifier's maps with a second network.

Training (DRS ``train_refine.py``): target = maps / 255 masked to each pixel's arg-max class
(``att * (att == att.max(0))``; ties keep every tied channel, all-zero pixels stay 0); MSE over
all elements; Adam, no weight decay, no LR groups; x0.1 at each decay epoch (paper: 15 epochs,
decay 5/10; reference run.sh: 30, decay 10/20). Image and target are squashed to the CAM input
size and flipped together; the network's output is not multiplied by the label in training.

Inference: the ``cams`` scales, each output upsampled (align_corners=True) and multiplied by
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
from torch.utils.data import Dataset

from wsss.config import PipelineConfig
from wsss.data.transforms import ColorJitter, Compose, HorizontalFlip, ResizeSquare, to_tensor
from wsss.data.voc import Record, VocLayout, load_image
from wsss.models.refine import Refiner, build_refiner
from wsss.ops.cam import load_maps, maps_path
from wsss.runtime import Report, load_torch, no_report, pick_device, save_torch, seed_everything
from wsss.stages import cams, common
from wsss.stages.pretrain import BACKBONE, load_backbone

REFINER = "refiner.pt"


def argmax_mask(maps: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W): keep each pixel's maximal channel(s); zero elsewhere."""
    return maps * (maps == maps.amax(dim=1, keepdim=True))


class RefineDataset(Dataset):
    """(image, target maps) with one joint transform, seeded by (seed, epoch, index)."""

    def __init__(self, layout: VocLayout, recs: list[Record], maps_dir: Path, transform: Any,
                 seed: int) -> None:
        self.layout, self.recs, self.maps_dir = layout, recs, maps_dir
        self.transform, self.seed, self.epoch = transform, seed, 0

    def __len__(self) -> int:
        return len(self.recs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        rec = self.recs[index]
        sample = {"image": load_image(self.layout.image_path(rec.name)),
                  "maps": load_maps(maps_path(self.maps_dir, rec.name), self.layout.num_classes)}
        sample = self.transform(sample, np.random.default_rng([self.seed, self.epoch, index]))
        return to_tensor(sample["image"]), torch.from_numpy(np.ascontiguousarray(sample["maps"]))


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    r, device = cfg.refine, pick_device(cfg.device)
    layout = common.open_layout(cfg)
    model = build_refiner(cfg.classifier.arch, layout.num_classes)
    load_backbone(model, inputs["pretrain"] / BACKBONE,
                  layers=("layer1", "layer2", "layer3", "layer4", "layer5"))
    model.to(device)
    size = cfg.cams.input_size or cfg.classifier.crop
    steps_t: list[Any] = [ResizeSquare(size)]
    steps_t += [ColorJitter(*r.jitter)] if any(r.jitter) else []
    dataset = RefineDataset(layout, common.records(cfg, layout, cfg.data.train_split),
                            inputs["cams"] / cams.MAPS, Compose([*steps_t, HorizontalFlip(0.5)]),
                            cfg.seed)
    steps = -(-len(dataset) // r.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=r.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, common.step_decay(r.decay_epochs,
                                                                               steps))

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        images, targets = batch[0].to(device), argmax_mask(batch[1].to(device))
        return F.mse_loss(model(images), targets), {}

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        return {"refine/loss": float(torch.stack(collected["loss"]).mean())}

    def batches(epoch: int):
        return common.loader(dataset, r.batch_size, workers=cfg.data.workers, seed=cfg.seed,
                             epoch=epoch, shuffle=True)

    common.fit(model, optimizer, scheduler, epochs=r.epochs, batches=batches, step=step,
               checkpoint=out_dir / "checkpoint.pt", report=report, end_of_epoch=end_of_epoch)
    save_torch({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "num_classes": layout.num_classes}, out_dir / REFINER)
    (out_dir / "checkpoint.pt").unlink()
    model.eval()
    cams.write_maps(model, cfg, layout, common.map_records(cfg, layout), out_dir / cams.MAPS,
                    device, relu=False, normalize=False, store="float16", fusion="max")
    metrics, _ = cams.score_maps(cfg, layout, out_dir / cams.MAPS, "refine")
    common.write_stage_overlay(cfg, layout, out_dir)
    report(metrics)
    return metrics


def load(cfg: PipelineConfig, folder: Path, device: torch.device) -> Refiner:
    saved = load_torch(folder / REFINER)
    model = build_refiner(cfg.classifier.arch, saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    return model.to(device).eval()
