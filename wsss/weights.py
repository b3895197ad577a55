"""What a configured weights file must hold: the tensor names and shapes the `pretrain`
stage (``pretrain/weights_file``) and the `segment` stage (``segment/weights_file``) load
from it, built on the meta device (no memory, no computation)."""

from __future__ import annotations

from pathlib import Path

import torch

from wsss.data.voc import DataError
from wsss.options import PipelineConfig
from wsss.runtime import load_torch


def expected_pretrain(cfg: PipelineConfig) -> tuple[Path, dict[str, torch.Size], str]:
    """(file, {tensor: shape}, what needs it) for ``pretrain/source=file``: torchvision's
    VGG16 or ResNet-50/101 names, or psa's ResNet-38 (the classifier's trunk names)."""
    from wsss.models.classifier import build_trunk

    arch = cfg.classifier.arch
    path = Path(cfg.pretrain.weights_file).expanduser()
    with torch.device("meta"):
        if arch == "resnet38":
            shapes = {k: v.shape for k, v in build_trunk(arch).state_dict().items()}
        elif arch in ("resnet50", "resnet101", "vgg16_d1"):
            import torchvision

            model = getattr(torchvision.models, "vgg16" if arch == "vgg16_d1" else arch)()
            shapes = {k: v.shape for k, v in model.state_dict().items()
                      if not k.startswith(("fc.", "classifier."))}  # the ImageNet head
        else:
            raise DataError(f"pretrain/source=file: no ImageNet weights exist for "
                            f"classifier/arch={arch}")
    return path, shapes, f"classifier/arch={arch}'s trunk"


def expected_segment(cfg: PipelineConfig,
                     num_classes: int) -> tuple[Path, dict[str, torch.Size], str]:
    """(file, {tensor: shape}, what needs it) for ``segment/init=file``: the whole network."""
    from wsss.artifacts import segmenter_from_config

    with torch.device("meta"):
        model = segmenter_from_config(cfg, num_classes)
    base = getattr(model, "base", model)
    return (Path(cfg.segment.weights_file).expanduser(),
            {k: v.shape for k, v in base.state_dict().items()}, f"segment/arch={cfg.segment.arch}")


def match(path: Path, expected: dict[str, torch.Size], what: str) -> None:
    """Raise ``DataError`` naming the first tensor of ``expected`` the file lacks or holds
    in another shape."""
    if not path.is_file():
        raise DataError(f"{path}: weights file not found")
    try:
        given = load_torch(path)
    except Exception as err:  # noqa: BLE001 - torch raises many kinds on a foreign file
        raise DataError(f"{path}: not a PyTorch weights file ({err})") from None
    if isinstance(given, dict) and isinstance(given.get("state_dict"), dict):
        given = given["state_dict"]
    if not isinstance(given, dict) or not all(torch.is_tensor(v) for v in given.values()):
        raise DataError(f"{path}: not a state dict (name -> tensor)")
    for name, shape in expected.items():
        if name in given and tuple(given[name].shape) != tuple(shape):
            raise DataError(f"{path}: tensor {name} is {_shape(given[name].shape)}, {what} "
                            f"needs {_shape(shape)}")
    missing = [name for name in expected if name not in given]
    if missing:
        raise DataError(f"{path}: no tensor {missing[0]} ({len(missing)} of the {len(expected)} "
                        f"{what} needs are missing)")


def _shape(shape: torch.Size) -> str:
    return " x ".join(str(d) for d in shape)
