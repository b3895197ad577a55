"""Plumbing shared by the stages: datasets from config, a resumable epoch loop, evaluation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from wsss.config import ClassifierConfig, PipelineConfig
from wsss.data.transforms import (
    ColorJitter,
    Compose,
    HorizontalFlip,
    RandomCrop,
    RandomResizeLong,
    ResizeSquare,
)
from wsss.data.voc import ClassificationDataset, Record, VocLayout, load_records
from wsss.ops.classification import exact_match, mean_average_precision
from wsss.runtime import (
    Report,
    epoch_generator,
    load_torch,
    rng_state,
    save_torch,
    set_rng_state,
)


def open_layout(cfg: PipelineConfig) -> VocLayout:
    d = cfg.data
    return VocLayout.open(d.root, list_dir=d.list_dir, cls_labels=d.cls_labels,
                          saliency_dir=d.saliency_dir)


def records(cfg: PipelineConfig, layout: VocLayout, split: str) -> list[Record]:
    return load_records(layout, split, cfg.data.labels)


def map_records(cfg: PipelineConfig, layout: VocLayout) -> list[Record]:
    """Images that need maps and pseudo labels: the training split plus the scored split."""
    out = {r.name: r for r in records(cfg, layout, cfg.data.train_split)}
    for r in records(cfg, layout, cfg.data.eval_split):
        out.setdefault(r.name, r)
    return list(out.values())


def square_transform(c: ClassifierConfig) -> Compose:
    """DRS order (LoadData.py): square resize, flip, colour jitter, random crop."""
    steps: list[Any] = [ResizeSquare(c.resize), HorizontalFlip(0.5)]
    if any(c.jitter):
        steps.append(ColorJitter(*c.jitter))
    steps.append(RandomCrop(c.crop))
    return Compose(steps)


def classifier_transform(c: ClassifierConfig) -> Compose:
    """DRS's square transform, or with ``scale_range`` SSENet's (train_cls_ser.py): random
    long side (bicubic, aspect kept), flip, colour jitter, crop padded with the mean colour."""
    if not c.scale_range[1]:
        return square_transform(c)
    steps: list[Any] = [RandomResizeLong(*c.scale_range), HorizontalFlip(0.5)]
    if any(c.jitter):
        steps.append(ColorJitter(*c.jitter))
    steps.append(RandomCrop(c.crop))
    return Compose(steps)


def loader(dataset: Dataset, batch_size: int, *, workers: int, seed: int = 0, epoch: int = 0,
           shuffle: bool = False, collate: Callable | None = None) -> DataLoader:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=epoch_generator(seed, epoch) if shuffle else None,
                      collate_fn=collate, persistent_workers=False)


def step_decay(decay_epochs: Sequence[int], steps_per_epoch: int) -> Callable[[int], float]:
    """x0.1 at the start of each listed 1-based epoch (DRS ``reduce_lr``), per optimiser step."""
    return lambda step: 0.1 ** sum(d <= step // steps_per_epoch + 1 for d in decay_epochs)


def poly_decay(max_step: int, power: float = 0.9) -> Callable[[int], float]:
    """psa ``PolyOptimizer``: lr_init * (1 - k / max_step)^power before step k."""
    return lambda step: (1 - min(step, max_step) / max_step) ** power


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    epochs: int,
    batches: Callable[[int], Iterable],
    step: Callable[[Any], tuple[torch.Tensor, dict[str, Any]]],
    checkpoint: Path,
    report: Report,
    end_of_epoch: Callable[[int, dict[str, float]], dict[str, float]] | None = None,
) -> list[dict[str, float]]:
    """Train ``epochs`` epochs, resuming from ``checkpoint`` (model, optimiser, scheduler,
    RNG, history) and saving it after every epoch.

    ``step(batch)`` returns (loss, outputs to collect); ``end_of_epoch(epoch, collected)``
    returns that epoch's metrics. Each epoch's metrics go to ``report`` with ``epoch``.
    """
    history: list[dict[str, float]] = []
    start = 0
    if checkpoint.exists():
        state = load_torch(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        start, history = state["epoch"], state["history"]
    for epoch in range(start, epochs):
        model.train()
        collected: dict[str, list] = {}
        for batch in batches(epoch):
            loss, outputs = step(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            for k, v in {"loss": loss.detach(), **outputs}.items():
                collected.setdefault(k, []).append(v.detach().cpu() if torch.is_tensor(v) else v)
        metrics = {"epoch": float(epoch + 1)}
        metrics.update(end_of_epoch(epoch, collected) if end_of_epoch else {})
        history.append(metrics)
        save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": rng_state(),
                    "epoch": epoch + 1, "history": history}, checkpoint)
        report(metrics)  # after the save: a tracker failing here loses no training
    return history


def classification_step(model: nn.Module, device: torch.device):
    """One multi-label step: MultiLabelSoftMargin on GAP logits (DRS train_cls.py:155)."""

    def step(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, Any]]:
        images, labels = batch[0].to(device), batch[1].to(device)
        logits = model(images)["logits"]
        loss = F.multilabel_soft_margin_loss(logits, labels)
        return loss, {"logits": logits.detach(), "labels": labels}

    return step


def classification_metrics(prefix: str, collected: dict[str, list]) -> dict[str, float]:
    logits = torch.cat(collected["logits"]).numpy()
    labels = torch.cat(collected["labels"]).numpy()
    return {f"{prefix}/loss": float(torch.stack(collected["loss"]).mean()),
            f"{prefix}/acc": exact_match(logits, labels),
            f"{prefix}/map": mean_average_precision(logits, labels)}


@torch.no_grad()
def evaluate_classification(model: nn.Module, layout: VocLayout, recs: list[Record],
                            cfg: PipelineConfig, device: torch.device, size: int,
                            prefix: str) -> dict[str, float]:
    """Image-label metrics on a held-out split (no pixel ground truth involved)."""
    model.eval()
    ds = ClassificationDataset(layout, recs, ResizeSquare(size))
    collected: dict[str, list] = {"loss": [], "logits": [], "labels": []}
    for images, labels in loader(ds, 64, workers=cfg.data.workers):
        logits = model(images.to(device))["logits"].cpu()
        collected["loss"].append(F.multilabel_soft_margin_loss(logits, labels))
        collected["logits"].append(logits)
        collected["labels"].append(labels)
    return classification_metrics(prefix, collected)


def sgd_or_adam(groups: dict[str, list[nn.Parameter]], multipliers: dict[str, float], *,
                optimizer: str, lr: float, momentum: float = 0.9, nesterov: bool = False,
                weight_decay: float = 0.0, decay_biases: bool = True) -> torch.optim.Optimizer:
    """One group per non-empty ``groups`` entry at ``lr x multiplier``; groups named ``*_b``
    get no weight decay unless ``decay_biases`` (DRS decays them, psa does not)."""
    params = [{"params": groups[k], "lr": lr * multipliers[k],
               "weight_decay": weight_decay if decay_biases or not k.endswith("_b") else 0.0}
              for k in groups if groups[k]]
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def write_stage_overlay(cfg: PipelineConfig, layout: VocLayout, out_dir: Path,
                        count: int = 6) -> None:
    """``overlay.png`` of the first scored images, for a person and for MLflow artifacts."""
    from wsss.viz import write_overlay

    names = [r.name for r in records(cfg, layout, cfg.data.eval_split)[:count]]
    scale = max(1, 256 // max(1, cfg.cams.input_size or 256))  # small synthetic images
    write_overlay(out_dir, layout, names, out_dir / "overlay.png", gt_dir=cfg.eval.gt_dir,
                  scale=scale)
