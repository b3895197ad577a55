"""Stage `pretrain`: the backbone's starting point, shared by every configuration of a sweep.

* ``torchvision``: ImageNet VGG16 through torchvision's weights API (a real cluster);
* ``file``: a torchvision-format VGG16 state dict named in config (offline clusters);
* ``synthetic``: a short plain classification training without DRS on the synthetic
  benchmark, standing in for ImageNet (docs/synthetic.md: DRS from scratch destroyed
  localisation). Adam with a one-cycle schedule, as the notes' protocol;
* ``random``: the network's own seeded initialisation (the `voc-smoke` rehearsal: no
  download, nothing learnt).

Writes ``backbone.pt``: ``{"state_dict", "arch", "num_classes"}``. The state dict holds only
what the source provides (layer1..layer5 for ImageNet; everything for ``synthetic``);
``wsss.artifacts.load_backbone`` loads exactly those tensors and fails on any mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from wsss import engine
from wsss.artifacts import BACKBONE
from wsss.data.datasets import ClassificationDataset
from wsss.data.splits import open_layout, records
from wsss.data.transforms import square_transform
from wsss.models.classifier import RESNETS, build_classifier, build_trunk
from wsss.models.deeplab import TRUNK
from wsss.models.vgg import torchvision_vgg16_convs
from wsss.options import PipelineConfig
from wsss.runtime import (
    Report,
    load_torch,
    no_report,
    pick_device,
    place,
    save_torch,
    seed_everything,
)
from wsss.stages import Stage


def _imagenet_state(cfg: PipelineConfig) -> dict[str, torch.Tensor]:
    if cfg.pretrain.source == "file":
        path = Path(cfg.pretrain.weights_file).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"pretrain/weights_file: {path} not found")
        return load_torch(path)
    from torchvision.models import VGG16_Weights

    try:
        return VGG16_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as err:  # no network, or a proxy in the way
        raise RuntimeError(
            f"pretrain/source=torchvision: could not fetch VGG16 ImageNet weights ({err}). "
            "Download vgg16-397923af.pth elsewhere and set pretrain/source=file "
            "pretrain/weights_file=/path/to/vgg16-397923af.pth") from err


def _resnet_state(cfg: PipelineConfig, arch: str) -> dict[str, torch.Tensor]:
    """ImageNet trunk tensors under the classifier's ``trunk.`` names.

    resnet38: psa's converted MXNet file (``pretrain/weights_file``, same module names);
    resnet50/101: torchvision's weights API or a torchvision-format file. Every trunk tensor
    must be provided; extra ones (the 1000-class head) are dropped.
    """
    p = cfg.pretrain
    if p.source == "file":
        path = Path(p.weights_file).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"pretrain/weights_file: {path} not found")
        given = load_torch(path)
        given = given.get("state_dict", given)
    elif arch == "resnet38":
        raise ValueError("classifier/arch=resnet38: torchvision has no ResNet-38; set "
                         "pretrain/source=file pretrain/weights_file=<psa's converted .pth>")
    else:
        from torchvision.models import ResNet50_Weights, ResNet101_Weights

        weights = {"resnet50": ResNet50_Weights, "resnet101": ResNet101_Weights}[arch]
        given = weights.IMAGENET1K_V1.get_state_dict(progress=False)
    if arch != "resnet38":  # torchvision names -> TorchvisionResNet's
        stem = {"conv1": "stem.0", "bn1": "stem.1", "layer1": "stem.4"}
        given = {stem.get(k.split(".")[0], k.split(".")[0]) + k[len(k.split(".")[0]):]: v
                 for k, v in given.items()}
    trunk = build_trunk(arch).state_dict()
    missing = sorted(set(trunk) - set(given))
    if missing:
        raise KeyError(f"pretrain weights for {arch} lack {len(missing)} trunk tensors, "
                       f"e.g. {missing[:3]}")
    return {f"trunk.{k}": given[k] for k in trunk}


def run(cfg: PipelineConfig, inputs: Mapping[str, Path], out_dir: Path,
        report: Report = no_report) -> dict[str, float]:
    seed_everything(cfg.seed)
    layout = open_layout(cfg)
    arch = cfg.classifier.arch
    if cfg.pretrain.source == "random":
        model = build_classifier(arch, layout.num_classes)
        state = {k: v for k, v in model.state_dict().items()
                 if k.split(".")[0] in (*TRUNK, "trunk")}
        save_torch({"state_dict": state, "arch": arch, "num_classes": layout.num_classes},
                   out_dir / BACKBONE)
        return {"pretrain/tensors": float(len(state))}
    if cfg.pretrain.source != "synthetic" and arch in RESNETS:
        state = _resnet_state(cfg, arch)
        save_torch({"state_dict": state, "arch": arch, "num_classes": layout.num_classes},
                   out_dir / BACKBONE)
        return {"pretrain/tensors": float(len(state))}
    if cfg.pretrain.source != "synthetic":
        if arch != "vgg16_d1":
            raise ValueError(f"classifier/arch={arch}: ImageNet weights exist for vgg16_d1 "
                             "and the ResNets only")
        convs = torchvision_vgg16_convs(_imagenet_state(cfg))
        model = build_classifier(arch, layout.num_classes, convs=convs)
        state = {k: v for k, v in model.state_dict().items()
                 if k.split(".")[0] in TRUNK}
        save_torch({"state_dict": state, "arch": arch, "num_classes": layout.num_classes},
                   out_dir / BACKBONE)
        return {"pretrain/tensors": float(len(state))}
    return _train_synthetic(cfg, layout, out_dir, report)


def _train_synthetic(cfg: PipelineConfig, layout, out_dir: Path,
                     report: Report) -> dict[str, float]:
    p, device = cfg.pretrain, pick_device(cfg.device)
    model = place(build_classifier(cfg.classifier.arch, layout.num_classes), device,
                  cfg.channels_last)
    recs = records(cfg, layout, cfg.data.train_split)
    size = cfg.classifier.crop
    dataset = ClassificationDataset(layout, recs, square_transform(cfg.classifier),
                                    seed=cfg.seed)
    steps = -(-len(dataset) // p.batch_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=p.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=p.lr,
                                                    total_steps=p.epochs * steps)

    def batches(epoch: int):
        return engine.loader(dataset, p.batch_size, workers=cfg.data.workers, seed=cfg.seed,
                             epoch=epoch, shuffle=True)

    val = records(cfg, layout, cfg.data.select_split)

    def end_of_epoch(epoch: int, collected: dict) -> dict[str, float]:
        metrics = engine.classification_metrics("pretrain", collected)
        metrics.update(engine.evaluate_classification(
            model, layout, val, size=size, device=device, workers=cfg.data.workers,
            prefix="pretrain/val", precision=cfg.precision))
        return metrics

    history = engine.fit(model, optimizer, scheduler, epochs=p.epochs, batches=batches,
                         step=engine.classification_step(model, device),
                         checkpoint=out_dir / engine.CHECKPOINT, report=report,
                         end_of_epoch=end_of_epoch, device=device, precision=cfg.precision)
    engine.finish(model, out_dir / BACKBONE, arch=cfg.classifier.arch,
                  num_classes=layout.num_classes)
    return engine.last_metrics(history)


STAGE = Stage(
    name="pretrain", run=run,
    reads=("precision", "data/", "seed", "pretrain/", "classifier/arch", "classifier/resize",
           "classifier/crop", "classifier/jitter"),
    score="pretrain/val/map", gpu=True, version="2")
