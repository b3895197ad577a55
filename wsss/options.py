"""The options: frozen dataclasses, one per stage section, and their checks.

A field ``data.root`` is the flat key ``data/root`` everywhere: YAML files, CLI overrides
(``data/root=/datasets/VOC2012``), Optuna parameter names, MLflow params and table columns.
This module only declares what can be set and what each value may be; ``wsss.config``
resolves a run's values (method, preset, segmenter recipe, profile, YAML, CLI). It imports
nothing of the methods, so a method module can import it (a test checks the direction).
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from wsss.keys import SEP, check

# Metadata of fields that change where or how fast a stage runs, never what it writes: they
# stay out of the stage cache's keys (wsss.pipeline).
OUTSIDE_KEY = {"outside_key": True}


def positive(obj: Any, *names: str) -> None:
    """Each named field of ``obj`` must be > 0 (epochs, iterations, rates, sizes)."""
    for name in names:
        value = getattr(obj, name)
        check(value > 0, name, f"must be > 0, got {value}")


def unit(obj: Any, *names: str) -> None:
    """Each named field of ``obj`` must lie in [0, 1] (thresholds, scores)."""
    for name in names:
        value = getattr(obj, name)
        check(value is None or 0.0 <= value <= 1.0, name, f"must be in [0, 1], got {value}")


@dataclass(frozen=True)
class DataConfig:
    # the VOC2012-layout folder (JPEGImages, SegmentationClass, ...)
    root: str = field(default="data/VOC2012", metadata=OUTSIDE_KEY)
    train_split: str = "train_aug"  # list the classifier trains on (10,582 images on VOC)
    score_split: str = "train"  # list pseudo labels are scored on (VOC train, 1,464 images)
    # selection vs reporting (docs/method.md, "Selection vs reporting"): the final segmentation is
    # scored on select_split (evaluate/*: what a study may select on) and on the held-out
    # report_split (evaluate/report/*: what the tables print; "" = none). The profiles set them:
    # VOC selects on train (SegmentationClass masks) and reports val; the synthetic benchmark val /
    # test.
    select_split: str = "val"
    report_split: str = ""
    labels: Literal["list", "npy", "masks"] = "list"  # image labels: DRS list, psa npy, or masks
    list_dir: str = ""  # folder of split lists; "" = <root>/ImageSets/Segmentation
    cls_labels: str = ""  # psa cls_labels.npy; "" = <root>/cls_labels.npy
    saliency_dir: str = "saliency_map"  # PoolNet-style 0-255 saliency PNGs, relative to root
    # data-loading processes; -1: sized from the CPUs the stage has (wsss.runtime)
    workers: int = field(default=-1, metadata=OUTSIDE_KEY)
    limit: int = 0  # > 0: only the first N images of every split (the voc-smoke rehearsal)

    def __post_init__(self) -> None:
        check(self.workers >= -1, "workers", "must be >= 0, or -1 (auto)")
        check(self.limit >= 0, "limit", "must be >= 0 (0: every image)")
        check(self.report_split != self.select_split, "report_split",
              f"equals data/select_split ({self.select_split!r}): the reported split must be "
              "held out from selection ('' reports none)")


@dataclass(frozen=True)
class ScoringConfig:
    """How every stage's labels are scored against pixel ground truth (never to select)."""

    # DRS IOUMetric: gt or predicted classes; DeepLab-v2 metric.py: gt classes; SSENet: all
    protocol: Literal["nanmean", "nanmean_gt", "mean"] = "nanmean"
    pred_ignore: Literal["ignore", "miss"] = "miss"  # 255 in a prediction: left out, or a miss
    gt_dir: str = "SegmentationClassAug"  # DRS scores on Aug; SSENet on SegmentationClass


LAYERS = ("layer1", "layer2", "layer3", "layer4", "layer5", "layer6")  # the six VGG groups
# (DRS Table 2's rows); models and search spaces import this one tuple


@dataclass(frozen=True)
class PretrainConfig:
    # backbone start point; random: the network's own initialisation (a rehearsal: voc-smoke)
    source: Literal["torchvision", "file", "synthetic", "random"] = "torchvision"
    weights_file: str = ""  # torchvision-format vgg16 state dict (vgg16-397923af.pth) if "file"
    epochs: int = 8  # synthetic: plain classification pre-training (docs/synthetic.md)
    lr: float = 3e-3  # synthetic: Adam with a one-cycle schedule
    batch_size: int = 64

    def __post_init__(self) -> None:
        positive(self, "epochs", "lr", "batch_size")
        check(self.source != "file" or bool(self.weights_file), "weights_file",
              "required when source=file")


@dataclass(frozen=True)
class ClassifierConfig:
    arch: Literal["vgg16_d1", "narrow", "narrow_os8", "resnet38", "resnet50",
                  "resnet101"] = "vgg16_d1"  # narrow*: synthetic 64/128 px; resnet*: SSENet
    drs: Literal["none", "constant", "learnable"] = "learnable"  # the suppression controller
    drs_delta: float = 0.55  # constant controller's delta in (0, 1]
    drs_layers: tuple[str, ...] = LAYERS  # groups whose ReLUs become DRS (Table 2)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 1e-3  # base LR (run.sh); groups x1 / x2 / x10 / x20
    momentum: float = 0.9  # SSENet/psa reference: 5e-4 (PolyOptimizer's positional-arg bug)
    nesterov: bool = True  # train_cls.py:56; not in the paper
    weight_decay: float = 5e-4  # DRS: every group, biases included; SSENet: weights only
    decay_biases: bool = True  # False: no weight decay on biases (psa PolyOptimizer groups)
    epochs: int = 15
    schedule: Literal["step", "poly"] = "step"  # step: DRS; poly: SSENet lr (1 - k/K)^power
    decay_epochs: tuple[int, ...] = (5, 10)  # step: x0.1 at the start of these 1-based epochs
    poly_power: float = 0.9
    batch_size: int = 10  # the global batch: run.sh's 5 per GPU x 2 GPUs
    resize: int = 384  # square resize before cropping (aspect ratio ignored, as DRS)
    scale_range: tuple[int, int] = (0, 0)  # SSENet: long side in [lo, hi], aspect kept; 0 = off
    crop: int = 320  # random crop (paper: 321)
    jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.1)  # brightness..hue
    ser_rate: float | None = None  # SSENet branch downsample rate r; None = no SER (baseline)
    ser_weight: float = 1.0  # eta, the SER loss weight (hard-coded 1 in the reference)
    select: Literal["last", "oracle"] = "last"  # oracle: best epoch by GT mIoU (needs oracle)

    def __post_init__(self) -> None:
        check(0.0 < self.drs_delta <= 1.0, "drs_delta", f"must be in (0, 1], got {self.drs_delta}")
        check(self.ser_rate is None or 0.0 < self.ser_rate < 1.0, "ser_rate",
              f"must be in (0, 1) or null, got {self.ser_rate}")
        check(self.ser_weight >= 0.0, "ser_weight", "must be >= 0")
        lo, hi = self.scale_range
        check(0 <= lo <= hi, "scale_range", f"need 0 <= low <= high, got {self.scale_range}")
        check(self.drs == "none" or not self.arch.startswith("resnet"), "drs",
              "DRS is defined on the VGG layer groups; use drs=none with a ResNet")
        unknown = [g for g in self.drs_layers if g not in LAYERS]
        check(not unknown, "drs_layers", f"unknown {unknown}; allowed {list(LAYERS)}")
        positive(self, "epochs", "batch_size", "lr", "resize", "crop", "poly_power")
        check(self.momentum >= 0 and self.weight_decay >= 0, "momentum",
              "momentum and weight_decay must be >= 0")
        check(all(e > 0 for e in self.decay_epochs), "decay_epochs", "epochs are 1-based, > 0")


@dataclass(frozen=True)
class CamConfig:
    input_size: int = 320  # images are squashed to this square first (DRS); 0 keeps the size
    scales: tuple[float, ...] = (0.8, 1.0, 1.2)  # x input_size: DRS's {256, 320, 384}
    fusion: Literal["max", "sum"] = "max"  # max of normalised maps (DRS), sum then norm (SSE)
    flip: bool = False  # add horizontally flipped passes
    align_corners: bool = True  # DRS cam_normalize upsamples with True
    head_upsample: bool = False  # SSE: raw maps upsampled to each pass's input, then ReLU
    input_resize: Literal["bilinear", "bicubic"] = "bilinear"  # per-scale input (SSE: bicubic)
    store: Literal["uint8", "float16"] = "uint8"  # uint8 = floor(x * 255), as DRS saves
    bg_score: float | None = None  # SSENet Eq. 3 alpha (0.2): cams/miou at this constant
    # background; None: cams/miou is the best of a 0.05..0.6 sweep (a GT peek, reported only)
    batch_size: int = field(default=16, metadata=OUTSIDE_KEY)

    def __post_init__(self) -> None:
        check(len(self.scales) > 0 and all(x > 0 for x in self.scales), "scales",
              f"need at least one scale, each > 0, got {list(self.scales)}")
        check(self.input_size >= 0, "input_size", "must be >= 0 (0 keeps each image's size)")
        positive(self, "batch_size")
        unit(self, "bg_score")


@dataclass(frozen=True)
class RefineConfig:
    enabled: bool = False  # DRS†: regress the maps with a second network (Table 3)
    epochs: int = 30  # run.sh: 30 (paper: 15)
    decay_epochs: tuple[int, ...] = (10, 20)  # run.sh (paper: 5, 10)
    lr: float = 1e-4  # Adam, no weight decay, no LR groups
    batch_size: int = 10
    jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.1)

    def __post_init__(self) -> None:
        positive(self, "epochs", "lr", "batch_size")


@dataclass(frozen=True)
class PseudoLabelConfig:
    alpha: float = 0.2  # object cue: maps below alpha are dropped
    beta: float = 0.2  # background where saliency/255 < beta (code: > 50/255 is salient)
    conflict_count: int = 2  # > this many of the C+1 channels above conflict_conf -> 255; 0 off
    conflict_conf: float = 0.9
    workers: int = field(default=-1, metadata=OUTSIDE_KEY)  # label writers; -1: one per CPU

    def __post_init__(self) -> None:
        unit(self, "alpha", "beta", "conflict_conf")
        check(self.conflict_count >= 0, "conflict_count", "must be >= 0 (0 turns the rule off)")
        check(self.workers >= -1, "workers", "must be >= 0, or -1 (auto)")


@dataclass(frozen=True)
class CrfLabelConfig:
    """SSENet/psa confident regions (docs/method.md, "CAMs and confident regions"): dense CRF on
    [(1 - max)^a, cams]."""

    la_power: float = 4.0  # low alpha: big background score; its foreground is confident
    ha_power: float = 24.0  # high alpha: small background score; its background is confident
    workers: int = field(default=-1, metadata=OUTSIDE_KEY)  # CRF processes; -1: one per CPU

    def __post_init__(self) -> None:
        positive(self, "la_power", "ha_power")


@dataclass(frozen=True)
class AffinityConfig:
    """AffinityNet (docs/method.md, "AffinityNet") on the la/ha labels; backbone from
    ``pretrain``."""

    lr: float = 0.01  # SSE (psa README: 0.1)
    optimizer: Literal["sgd", "adam"] = "sgd"
    momentum: float = 5e-4  # psa PolyOptimizer bug, as the classifier
    weight_decay: float = 5e-4  # weights only
    poly_power: float = 0.9
    epochs: int = 8
    batch_size: int = 8
    crop: int = 448
    jitter: tuple[float, float, float, float] = (0.3, 0.3, 0.3, 0.1)
    dims: tuple[int, int, int] = (64, 128, 256)  # the three 1x1 heads (their concat -> f9)

    def __post_init__(self) -> None:
        positive(self, "epochs", "batch_size", "lr", "crop")


@dataclass(frozen=True)
class RandomWalkConfig:
    beta: float = 8.0  # affinity power
    steps: int = 256  # t: the reference's logt = 8 squarings is T^256
    # > 0: T^t as a Chebyshev polynomial of T within this bound (docs/method.md, "Random walk"); 0:
    # exact
    tolerance: float = 1e-6
    background: Literal["constant", "power"] = "constant"  # SSE 0.2; psa (1 - max)^16
    bg_score: float = 0.2
    bg_power: float = 16.0

    def __post_init__(self) -> None:
        check(self.steps >= 0, "steps", f"must be >= 0, got {self.steps}")
        check(self.beta > 0, "beta", f"must be > 0, got {self.beta}")
        check(0 <= self.tolerance < 1, "tolerance", f"must be in [0, 1), got {self.tolerance}")
        unit(self, "bg_score")


@dataclass(frozen=True)
class SegmentConfig:
    enabled: bool = True  # train DeepLab on the labels and score it (the "final mIoU")
    arch: Literal["largefov", "aspp", "largefov_narrow", "aspp_narrow"] = "largefov"
    labels: Literal["pseudo", "gt"] = "pseudo"  # gt: the dataset's masks (an upper bound)
    init: Literal["pretrain", "torchvision", "file", "scratch"] = "pretrain"  # trunk weights
    weights_file: str = ""  # init=file: a state dict for the whole network (e.g. COCO init)
    optimizer: Literal["sgd", "adam"] = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4  # weights only; biases get none
    schedule: Literal["step", "poly"] = "step"
    steps: tuple[int, ...] = (4000, 5000)  # step: x0.1 at these iterations
    poly_power: float = 0.9
    lr_every: int = 1  # DeepLab-v2 updates the poly LR every 10 iterations
    iterations: int = 6000
    batch_size: int = 30
    crop: int = 321
    scale_range: tuple[float, float] = (1.0, 1.0)  # random rescale (ASPP: 0.5-1.5)
    aspp_rates: tuple[int, ...] = (6, 12, 18, 24)
    msc: bool = False  # multi-scale inputs 1, 0.75, 0.5 with max fusion (ASPP)
    self_training: bool = False  # DRS fork's extra CE on its own masked argmax (opt-in)
    checkpoint_every: int = 500  # iterations per training round (one checkpoint each)

    def __post_init__(self) -> None:
        positive(self, "iterations", "batch_size", "lr", "crop", "checkpoint_every", "lr_every")
        check(self.scale_range[0] <= self.scale_range[1], "scale_range", "low > high")


@dataclass(frozen=True)
class EvaluateConfig:
    crf: bool = True  # also score predictions after dense CRF (evaluate/miou_crf)
    crf_recipe: Literal["largefov", "aspp"] = "largefov"  # kernels (wsss/ops/crf.py)
    flip: bool = False  # average with the flipped prediction
    align_corners: bool = True  # LargeFOV test upsampling (DeepLab-v2: False)
    workers: int = field(default=-1, metadata=OUTSIDE_KEY)  # CRF processes; -1: one per CPU
    overlays: int = field(default=6, metadata=OUTSIDE_KEY)  # prediction overlays saved
    # consecutive same-size val images predicted together (speed only: eval-mode BatchNorm)
    batch_size: int = field(default=16, metadata=OUTSIDE_KEY)

    def __post_init__(self) -> None:
        check(self.workers >= -1, "workers", "must be >= 0, or -1 (auto)")
        check(self.overlays >= 0, "overlays", "must be >= 0")
        positive(self, "batch_size")


@dataclass(frozen=True)
class PipelineConfig:
    method: str = "drs"  # which paper's pipeline: a key of wsss.methods.METHODS
    preset: Literal["reference", "paper"] = "reference"  # authors' code, or the paper's text
    # dataset scale (overlay below)
    profile: Literal["voc", "voc-smoke", "quick", "tiny", "full"] = "voc"
    seed: int = 0  # seeds every stage (torch, numpy, python, data order, augmentations)
    oracle: bool = False  # allow model selection on pixel ground truth (recorded as such)
    device: str = field(default="auto", metadata=OUTSIDE_KEY)  # "auto": CUDA if present
    # conv nets in NHWC layout: the same function, 1.2-2x faster on CPU (docs/performance.md)
    channels_last: bool = field(default=True, metadata=OUTSIDE_KEY)
    # networks' forward passes in bf16 or fp16 (autocast; fp16 scales the loss), fp32 = off:
    # the authors trained in fp32. Part of every network stage's key (it changes the numbers)
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    data: DataConfig = field(default_factory=DataConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    cams: CamConfig = field(default_factory=CamConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    crf_labels: CrfLabelConfig = field(default_factory=CrfLabelConfig)
    affinity: AffinityConfig = field(default_factory=AffinityConfig)
    random_walk: RandomWalkConfig = field(default_factory=RandomWalkConfig)
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)

    def __post_init__(self) -> None:
        # the method's name is checked where methods are known: wsss.config.resolve
        check(re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device) is not None, "device",
              f"{self.device!r} is not auto, cpu, mps, cuda or cuda:N")
        check(self.classifier.select != "oracle" or self.oracle, "classifier/select",
              "oracle selection peeks at pixel ground truth: set oracle=true to allow it")


def outside_key_fields(cls: type = PipelineConfig, prefix: str = "") -> frozenset[str]:
    """Flat keys of the fields marked ``OUTSIDE_KEY`` (speed or location only)."""
    hints = typing.get_type_hints(cls)
    out: set[str] = set()
    for f in fields(cls):
        if is_dataclass(hints[f.name]):
            out |= outside_key_fields(hints[f.name], f"{prefix}{f.name}{SEP}")
        elif f.metadata.get("outside_key"):
            out.add(f"{prefix}{f.name}")
    return frozenset(out)
