"""Stage `segment`: train DeepLab on pseudo labels (or ground truth, as an upper bound).

Solver per ``segment/arch`` (config.SEGMENTERS, docs/method.md, "Segmentation networks"): SGD with
LR multipliers (weights x1, biases x2 without weight decay, last layer x10 / x20), LargeFOV's
step schedule (x0.1 at 4k and 5k of 6k iterations) or DeepLab-v2's poly (power 0.9, updated
every 10 iterations). Random crop with mean / 255 padding, flip, optional rescale. Labels are
downsized to the logits with nearest; cross-entropy ignores 255 (with MSC every output gets
its loss). The DRS fork's extra self-training term is ``segment/self_training`` (off).

Trained by ``wsss.engine.fit`` in rounds of ``checkpoint_every`` iterations (a rerun resumes
at the last round with the loss history); ``segment/loss`` is a round's mean loss and
``segment/final_loss`` the last round's. The last iteration's weights are kept: nothing is
selected on validation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import Sampler

from wsss import engine
from wsss.artifacts import BACKBONE, SEGMENTER, load_backbone, segmenter_from_config
from wsss.data.datasets import SegmentationDataset
from wsss.data.splits import open_layout, records
from wsss.data.transforms import Compose, HorizontalFlip, RandomCrop, RandomScale
from wsss.data.voc import label_vector
from wsss.models.deeplab import TRUNK
from wsss.options import PipelineConfig
from wsss.runtime import (
    Report,
    epoch_generator,
    load_torch,
    no_report,
    pick_device,
    place,
    seed_everything,
)
from wsss.stages import Stage


class IterationBatches(Sampler[list[int]]):
    """Batch indices for iterations [start, total): epoch-wise permutations seeded by
    (seed, epoch), so a resumed run sees exactly the batches an uninterrupted one would."""

    def __init__(self, n: int, batch_size: int, seed: int, start: int, total: int) -> None:
        self.n, self.bs, self.seed, self.start, self.total = n, batch_size, seed, start, total
        self.per_epoch = max(1, n // batch_size)  # drop_last: full batches only

    def __len__(self) -> int:
        return self.total - self.start

    def __iter__(self) -> Iterator[list[int]]:
        perm, perm_epoch = torch.empty(0, dtype=torch.long), -1
        for it in range(self.start, self.total):
            epoch, b = divmod(it, self.per_epoch)
            if epoch != perm_epoch:
                perm = torch.randperm(self.n, generator=epoch_generator(self.seed, epoch))
                perm_epoch = epoch
            yield perm[b * self.bs:(b + 1) * self.bs].tolist()


class _WithLabels(SegmentationDataset):
    """(image, mask, image-level label with background) for the self-training term."""

    # a third element, so not the parent's type: the loader collates whatever it is given
    def __getitem__(  # type: ignore[override]
            self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, mask = super().__getitem__(index)
        label = label_vector(self.records[index].labels, self.layout.num_classes)
        return image, mask, torch.cat([torch.ones(1), label])


def schedule(s: Any):
    """The LR factor at iteration k: LargeFOV's steps or DeepLab-v2's poly."""
    if s.schedule == "step":
        return engine.iteration_steps(s.steps)
    return engine.poly_decay(s.iterations, s.poly_power, every=s.lr_every)


def initialise(model: nn.Module, cfg: PipelineConfig, inputs: Mapping[str, Path]) -> None:
    s, base = cfg.segment, getattr(model, "base", model)
    if s.init == "pretrain":
        if s.arch.startswith("aspp"):
            raise ValueError("segment/init=pretrain: the pretrain stage holds a VGG trunk; "
                             "ASPP-ResNet needs init=torchvision, file or scratch")
        load_backbone(base, inputs["pretrain"] / BACKBONE, layers=TRUNK)
    elif s.init == "file":
        path = Path(s.weights_file).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"segment/weights_file: {path} not found")
        base.load_state_dict(load_torch(path))
    elif s.init == "torchvision":
        _torchvision_init(base, s.arch)


def _torchvision_init(base: nn.Module, arch: str) -> None:
    try:
        if arch == "aspp":
            from torchvision.models import ResNet101_Weights
            state = ResNet101_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
            order = ["conv1", "bn1", None, None, "layer1", "layer2", "layer3", "layer4"]
            mapped = {f"trunk.{i}.{k.split('.', 1)[1]}": v for k, v in state.items()
                      for i, name in enumerate(order) if name and k.split(".")[0] == name}
            missing = set(base.get_submodule("trunk").state_dict()) - {k[6:] for k in mapped}
            if missing:
                raise KeyError(f"torchvision ResNet-101 lacks {sorted(missing)[:3]}")
            own = base.state_dict()
            own.update(mapped)
            base.load_state_dict(own)
        elif arch == "largefov":
            from torchvision.models import VGG16_Weights

            from wsss.models.deeplab import LARGEFOV_VGG16, LargeFOV
            from wsss.models.vgg import torchvision_vgg16_convs
            convs = torchvision_vgg16_convs(VGG16_Weights.IMAGENET1K_V1.get_state_dict())
            src = LargeFOV(specs=LARGEFOV_VGG16, num_classes=1, convs=convs).state_dict()
            own = base.state_dict()
            own.update({k: v for k, v in src.items() if k.split(".")[0] in TRUNK})
            base.load_state_dict(own)
        else:
            raise ValueError(f"segment/init=torchvision: no ImageNet weights for {arch}")
    except (OSError, RuntimeError) as err:
        raise RuntimeError(f"segment/init=torchvision: could not fetch weights ({err}); set "
                           "segment/init=file segment/weights_file=PATH") from err


def segmentation_loss(outputs: torch.Tensor | list[torch.Tensor], masks: torch.Tensor,
                      labels: torch.Tensor, self_training: bool) -> torch.Tensor:
    """CE (ignore 255) on labels downsized to each output; + the DRS fork's self-training
    CE on ``argmax(logits.detach() * image_label)`` when asked."""
    loss = torch.zeros((), device=masks.device)
    for logits in outputs if isinstance(outputs, list) else [outputs]:
        small = F.interpolate(masks[:, None].float(), size=logits.shape[2:],
                              mode="nearest")[:, 0].long()
        if (small != 255).any():  # an all-ignored batch would make the mean NaN
            loss = loss + F.cross_entropy(logits, small, ignore_index=255)
        if self_training:
            own = (logits.detach() * labels[:, :, None, None]).argmax(dim=1)
            loss = loss + F.cross_entropy(logits, own)
    return loss


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    s, device = cfg.segment, pick_device(cfg.device)
    layout = open_layout(cfg)
    model = segmenter_from_config(cfg, layout.num_classes)
    initialise(model, cfg, inputs)
    place(model, device, cfg.channels_last)
    optimizer = engine.optimizer(model.param_groups(), kind=s.optimizer, lr=s.lr,
                                 momentum=s.momentum, weight_decay=s.weight_decay,
                                 decay_biases=False)
    factor = schedule(s)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    steps: list[Any] = []
    if s.scale_range != (1.0, 1.0):
        steps.append(RandomScale(*s.scale_range))
    steps += [RandomCrop(s.crop), HorizontalFlip(0.5)]
    mask_dir = inputs["labels"] / "labels" if s.labels == "pseudo" else None
    dataset = _WithLabels(layout, records(cfg, layout, cfg.data.train_split), Compose(steps),
                          seed=cfg.seed, gt_dir=cfg.scoring.gt_dir, mask_dir=mask_dir)
    every = s.checkpoint_every

    def batches(round_: int):  # one round = the iterations between two checkpoints
        start = round_ * every
        sampler = IterationBatches(len(dataset), s.batch_size, cfg.seed, start,
                                   min(start + every, s.iterations))
        return engine.loader(dataset, workers=cfg.data.workers, batch_sampler=sampler)

    def step(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, dict]:
        images, masks, labels = (t.to(device) for t in batch)
        return segmentation_loss(model(images), masks, labels, s.self_training), {}

    def end_of_round(round_: int, collected: dict) -> dict[str, float]:
        done = min((round_ + 1) * every, s.iterations)
        return {"iteration": float(done),
                "segment/loss": float(torch.stack(collected["loss"]).mean()),
                "segment/lr": s.lr * factor(done - 1)}

    history = engine.fit(model, optimizer, scheduler, epochs=-(-s.iterations // every),
                         batches=batches, step=step, checkpoint=out_dir / engine.CHECKPOINT,
                         report=report, end_of_epoch=end_of_round, device=device,
                         precision=cfg.precision)
    engine.finish(model, out_dir / SEGMENTER, num_classes=layout.num_classes)
    return {"segment/iterations": history[-1]["iteration"],
            "segment/final_loss": history[-1]["segment/loss"]}


STAGE = Stage(
    name="segment", run=run, reads=("precision", "data/", "seed", "segment/", "scoring/gt_dir"),
    score="segment/final_loss", maximize=False, gpu=True, version="4")
