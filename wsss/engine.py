"""The training loop, LR schedules, optimiser groups and checkpoints every training stage uses.

A stage builds its model, data and step function, then calls ``fit``: epochs (or, for the
iteration-based segmentation solver, fixed-size chunks of iterations) that resume from
``checkpoint.pt`` with model, optimiser, scheduler, RNG and metric history, so a killed
stage continues with bitwise-identical weights and the same recorded metrics.

The training curve goes beside the checkpoint as ``curve.json`` (part of the stage's cache
entry): the mean loss and the learning rate every few optimiser steps (``curve_every``: about
ten points an epoch, every step of a short one) and each round's metrics, each at its global
step. It is checkpointed with the rest, so a resumed stage records every step once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

from wsss import progress
from wsss.data.datasets import ClassificationDataset
from wsss.data.transforms import ResizeSquare
from wsss.data.voc import Record, VocLayout
from wsss.ops.classification import exact_match, mean_average_precision
from wsss.runtime import (
    Report,
    autocast,
    epoch_generator,
    grad_scaler,
    load_torch,
    loader_workers,
    mixed,
    rng_state,
    save_torch,
    set_rng_state,
    write_json,
)

CHECKPOINT = "checkpoint.pt"
CURVE = "curve.json"  # [{"step": k, "train/loss": ..., "train/lr": ...}, {"step": k, ...}]
# LR multipliers of the four parameter groups every model's ``param_groups()`` returns:
# pretrained weights / biases, new layers' weights / biases (DRS vgg.py:254, psa, DeepLab)
MULTIPLIERS = {"backbone_w": 1.0, "backbone_b": 2.0, "new_w": 10.0, "new_b": 20.0}


def loader(dataset: Dataset, batch_size: int = 1, *, workers: int, seed: int = 0,
           epoch: int = 0, shuffle: bool = False, collate: Callable | None = None,
           batch_sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader whose order and augmentations depend only on (seed, epoch, index);
    ``workers`` may be ``runtime.AUTO``."""
    workers = loader_workers(workers)
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, num_workers=workers,
                          collate_fn=collate)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
                      generator=epoch_generator(seed, epoch) if shuffle else None,
                      collate_fn=collate, persistent_workers=False)


def step_decay(decay_epochs: Sequence[int], steps_per_epoch: int) -> Callable[[int], float]:
    """x0.1 at the start of each listed 1-based epoch (DRS ``reduce_lr``), per optimiser step."""
    return lambda step: 0.1 ** sum(d <= step // steps_per_epoch + 1 for d in decay_epochs)


def poly_decay(max_step: int, power: float = 0.9, every: int = 1) -> Callable[[int], float]:
    """psa ``PolyOptimizer`` / DeepLab-v2: (1 - k / max_step)^power before step k, with k
    rounded down to a multiple of ``every`` (DeepLab-v2 updates it every 10 iterations)."""
    return lambda step: max(0.0, 1 - min(step // every * every, max_step) / max_step) ** power


def iteration_steps(steps: Sequence[int]) -> Callable[[int], float]:
    """x0.1 at each listed iteration (DeepLab-LargeFOV's solver)."""
    return lambda step: 0.1 ** sum(step >= k for k in steps)


def optimizer(groups: Mapping[str, list[nn.Parameter]], *, kind: str, lr: float,
              momentum: float = 0.9, nesterov: bool = False, weight_decay: float = 0.0,
              decay_biases: bool = True) -> torch.optim.Optimizer:
    """One group per non-empty ``groups`` entry at ``lr x MULTIPLIERS[name]``; groups named
    ``*_b`` get no weight decay unless ``decay_biases`` (DRS decays them; psa, DeepLab not)."""
    params = [{"params": groups[k], "lr": lr * MULTIPLIERS[k],
               "weight_decay": weight_decay if decay_biases or not k.endswith("_b") else 0.0}
              for k in groups if groups[k]]
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov,
                               weight_decay=weight_decay)
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


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
    end_of_epoch: Callable[[int, dict[str, list]], dict[str, float]] | None = None,
    before_step: Callable[[], None] | None = None,
    device: torch.device | None = None,
    precision: str = "fp32",
) -> list[dict[str, float]]:
    """Train ``epochs`` rounds, resuming from ``checkpoint`` (model, optimiser, scheduler,
    RNG, history) and saving it after every round.

    ``precision`` (``bf16``, ``fp16``) runs each ``step`` (forward and loss) under autocast
    on ``device``; ``fp16`` also scales the loss (``runtime.grad_scaler``).

    ``batches(round)`` yields the round's batches; ``step(batch)`` returns (loss, outputs to
    collect); ``end_of_epoch(round, collected)`` returns that round's metrics, which go to
    ``report`` with ``epoch`` and are kept in the returned history (checkpointed too, so a
    resumed run records what an uninterrupted one would).
    """
    history: list[dict[str, float]] = []
    curve: list[dict[str, float]] = []
    start = 0
    device = device or torch.device("cpu")
    scaler = grad_scaler(device, precision)
    if checkpoint.exists():
        state = load_torch(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
        if "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        start, history = state["epoch"], state["history"]
        curve = state.get("curve", [])
        # a run killed mid-stage went on from here (where a lost GPU node's stage resumed)
        curve.append({"step": curve[-1]["step"] if curve else 0.0,
                      "resumed_at_round": float(start)})
    step_no = int(curve[-1]["step"]) if curve else 0
    losses: list[torch.Tensor] = []
    for epoch in range(start, epochs):
        model.train()
        collected: dict[str, list] = {}
        rounds = batches(epoch)
        per_epoch = len(rounds) if isinstance(rounds, Sized) else 0
        every = curve_every(per_epoch) if per_epoch else 10
        for i, batch in enumerate(rounds, 1):
            if before_step is not None:
                before_step()
            with autocast(device, precision):
                loss, outputs = step(batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            step_no += 1
            losses.append(loss.detach())
            if i % every == 0 or i == per_epoch:
                curve.append({"step": float(step_no), "train/loss": float(torch.stack(
                    losses).float().mean()), "train/lr": float(lr)})
                losses.clear()
            for k, v in {"loss": loss.detach(), **outputs}.items():
                if torch.is_tensor(v):  # float32 for the epoch's metrics (bf16 has no numpy)
                    v = v.detach().cpu()
                    v = v.float() if v.is_floating_point() else v
                collected.setdefault(k, []).append(v)
            if per_epoch:  # steps of the whole stage, for whoever shows progress
                progress.update(epoch * per_epoch + i, epochs * per_epoch, "steps")
        metrics = {"epoch": float(epoch + 1)}
        metrics.update(end_of_epoch(epoch, collected) if end_of_epoch else {})
        history.append(metrics)
        losses.clear()
        curve.append({"step": float(step_no), **metrics})
        save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "rng": rng_state(),
                    "epoch": epoch + 1, "history": history, "curve": curve,
                    **({"scaler": scaler.state_dict()} if scaler.is_enabled() else {})},
                   checkpoint)
        write_json(curve, checkpoint.parent / CURVE)
        report(metrics)  # after the save: a tracker failing here loses no training
    return history


def curve_every(steps_per_round: int) -> int:
    """Optimiser steps between two points of the curve: about ten a round, one per step when
    a round is short."""
    return max(1, steps_per_round // 10)


def finish(model: nn.Module, path: Path, **meta: Any) -> None:
    """Publish the final weights (CPU tensors, with ``meta``) and drop the resumable
    checkpoint beside them: the final weights say it all."""
    save_torch({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, **meta},
               path)
    (path.parent / CHECKPOINT).unlink(missing_ok=True)


def last_metrics(history: list[dict[str, float]]) -> dict[str, float]:
    """The last round's metrics without the round counter: a training stage's result."""
    return {k: v for k, v in history[-1].items() if k != "epoch"}


# ---------------------------------------------------------------------------------------------
# multi-label classification (pretrain, classifier)


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
def evaluate_classification(model: nn.Module, layout: VocLayout, recs: list[Record], *,
                            size: int, device: torch.device, workers: int,
                            prefix: str, precision: str = "fp32") -> dict[str, float]:
    """Image-label metrics on a held-out split (no pixel ground truth involved)."""
    model.eval()
    forward = mixed(model, device, precision)
    ds = ClassificationDataset(layout, recs, ResizeSquare(size))
    collected: dict[str, list] = {"loss": [], "logits": [], "labels": []}
    for images, labels in loader(ds, 64, workers=workers):
        logits = forward(images.to(device))["logits"].cpu()
        collected["loss"].append(F.multilabel_soft_margin_loss(logits, labels))
        collected["logits"].append(logits)
        collected["labels"].append(labels)
    return classification_metrics(prefix, collected)
