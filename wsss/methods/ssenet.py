"""SSENet: Wang et al., "Self-supervised Scale Equivariant Network for Weakly Supervised
Semantic Segmentation", arXiv:1909.03714 (docs/method.md, "SSENet (on psa)"): a two-branch SER
classifier on the psa/AffinityNet pipeline (dense CRF -> AffinityNet -> random walk).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsss.methods.base import Method, Step, StepFn
from wsss.options import PipelineConfig

if TYPE_CHECKING:
    import torch

    from wsss.models.classifier import Classifier
    from wsss.options import ClassifierConfig

# The SSE/psa reference code (docs/method.md, "SSENet (on psa)"), overlaid on the shared (DRS)
# defaults.
OVERLAY = {
    "pretrain/source": "file",  # ResNet-38 converted from MXNet (psa's .pth)
    "classifier/arch": "resnet38",
    "classifier/drs": "none",
    "classifier/lr": 0.01,
    "classifier/momentum": 5e-4,  # PolyOptimizer passes weight_decay as momentum (bug)
    "classifier/nesterov": False,
    "classifier/decay_biases": False,
    "classifier/schedule": "poly",
    "classifier/batch_size": 16,
    "classifier/scale_range": (448, 768),
    "classifier/crop": 448,
    "classifier/ser_rate": 0.3,  # train_cls_ser.py:140, hard-coded
    "cams/input_size": 0,  # each image at its own size
    "cams/scales": (1.0, 0.5, 1.5, 2.0),
    "cams/fusion": "sum",
    "cams/flip": True,
    "cams/align_corners": False,
    "cams/head_upsample": True,  # resnet38_cls_ser.py upsamples inside the model
    "cams/input_resize": "bicubic",  # voc12/data.py: PIL bicubic per scale
    "cams/bg_score": 0.2,  # Eq. 3
    "scoring/protocol": "mean",  # evaluation.py: plain mean over all 21 classes
    "scoring/gt_dir": "SegmentationClass",  # not SBD's Aug masks (SSENet-pytorch#4)
    # no SSENet DeepLab code exists: DRS's v2 recipe (docs/method.md, "Segmentation")
    "segment/arch": "aspp",
}

PAPER = {
    "classifier/momentum": 0.9,  # what PolyOptimizer meant (psa#28, SEAM#21)
    "affinity/momentum": 0.9,
    "classifier/batch_size": 8,  # the paper's batch (code default 16)
}

# At synthetic scale: the DRS quick protocol's narrow net and fine-tune, plus SER's scale
# augmentation scaled from [448, 768] / 448 to 64 px, and AffinityNet on the narrow net.
_SYNTHETIC = {
    "classifier/nesterov": False,
    "classifier/schedule": "poly",
    "classifier/scale_range": (64, 110),  # 768 / 448 x 64
    "cams/input_size": 64,  # synthetic images are 64 px already: batched, not resized
    "affinity/optimizer": "adam",
    "affinity/lr": 1e-3,
    "affinity/epochs": 3,
    "affinity/batch_size": 32,
    "affinity/crop": 64,
    "affinity/jitter": (0.0, 0.0, 0.0, 0.0),
    "affinity/dims": (16, 32, 64),
}
PROFILES: dict[str, dict[str, Any]] = {
    # ASPP-ResNet-101 starts from torchvision's ImageNet weights on VOC: none in a rehearsal
    "voc-smoke": {"segment/init": "scratch"},
    "quick": _SYNTHETIC,
    "tiny": {**_SYNTHETIC, "affinity/epochs": 1},
    "full": {**_SYNTHETIC, "classifier/scale_range": (128, 220), "cams/input_size": 128,
             "affinity/crop": 128},
}

# SSENet Table 1: branch downsampling rate r (None: the single-branch baseline)
TABLE1: dict[str, dict[str, Any]] = {
    "baseline": {"classifier/ser_rate": None},
    **{f"r={r:.1f}": {"classifier/ser_rate": r} for r in (0.6, 0.5, 0.4, 0.3, 0.2)},
}


def _table2(low: int, high: int, short_low: int) -> dict[str, dict[str, Any]]:
    """SSENet Table 2's rows; ``choice/scale_range`` names the paper's (VOC) range."""
    wide = {"classifier/scale_range": (short_low, high), "choice/scale_range": "[224, 768]"}
    paper = {"classifier/scale_range": (low, high), "choice/scale_range": "[448, 768]"}
    return {"baseline [448, 768]": {"classifier/ser_rate": None, **paper},
            "baseline [224, 768]": {"classifier/ser_rate": None, **wide},
            "SSENet(0.5) [448, 768]": {"classifier/ser_rate": 0.5, **paper}}


# The proxy study (benchmarks/proxy_correlation.py, docs/search.md): Table 1's rates (t1:),
# Table 2's wide-range baseline (t2:) and the random walk's β and t around the reference's
# 8 and 256 for three rates (rw:), 16 configurations, each to the final metric
PROXY: dict[str, dict[str, Any]] = {
    **{f"t1:{k}": v for k, v in TABLE1.items()},
    "t2:baseline [224, 768]": _table2(64, 110, 32)["baseline [224, 768]"],
    **{f"rw:{name} {key.split('/')[1]}={value}": {**TABLE1[name], key: value}
       for name in ("baseline", "r=0.3", "r=0.5")
       for key, value in (("random_walk/beta", 4.0), ("random_walk/beta", 16.0),
                          ("random_walk/steps", 64))},
}


def weak_labels(cfg: PipelineConfig) -> tuple[list[Step], str]:
    """classifier (SER) -> cams -> crf_labels -> affinity -> random_walk."""
    return [("classifier", {"pretrain": "pretrain"}),
            ("cams", {"classifier": "classifier"}),
            ("crf_labels", {"cams": "cams"}),
            ("affinity", {"pretrain": "pretrain", "crf_labels": "crf_labels"}),
            ("random_walk", {"affinity": "affinity", "cams": "cams"})], "random_walk"


def classifier_step(model: Classifier, device: torch.device, c: ClassifierConfig) -> StepFn:
    """SSENet's step: both branches (or the baseline's one) through ``ser_step``."""
    from wsss.models.ser import ser_step

    def step(batch):
        images, labels = batch[0].to(device), batch[1].to(device)
        out = ser_step(lambda x: model(x)["cam"], images, labels, rate=c.ser_rate,
                       weight=c.ser_weight)
        extra = {} if out.ser is None or out.cls_small is None else {
            "ser_loss": out.ser.detach(), "cls_small_loss": out.cls_small.detach()}
        return out.loss, {"logits": out.logits.detach(), "labels": labels, **extra}

    return step


SSENET = Method(
    name="ssenet",
    paper="Wang et al., Self-supervised Scale Equivariant Network for Weakly Supervised "
          "Semantic Segmentation, arXiv:1909.03714",
    overlay=OVERLAY,
    presets={"reference": {}, "paper": PAPER},
    profiles=PROFILES,
    weak_labels=weak_labels,
    classifier_step=classifier_step,
    objective="random_walk/miou",
    # Tables 1-2 are pseudo-label numbers; the grids go on to the final metric, the extra
    # column the tables add (the segmentation network trained on those labels)
    grid_until="evaluate",
    rungs=("cams", "random_walk"),  # before segment, the costly stage (docs/search.md)
    grids={"sse1": TABLE1, "sse2": _table2(448, 768, 224),
           "sse2-synthetic": _table2(64, 110, 32),  # x 64 / 448 for the 64-px benchmark
           "sse-proxy": PROXY},
    title="SSENet",
    short_names={"classifier/ser_rate": "r", "classifier/scale_range": "scales",
                 "random_walk/beta": "rw β", "random_walk/steps": "t"},
    tables=("sse1", "sse2"),
    synthetic_grids={"sse2": "sse2-synthetic"},
)
