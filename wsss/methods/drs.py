"""DRS: Kim, Han & Kim, "Discriminative Region Suppression for Weakly-Supervised Semantic
Segmentation", AAAI 2021, arXiv:2103.07246 (docs/method.md, "DRS").

The shared config defaults are DRS's reference code, so the overlay is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsss.methods.base import Method, Step, StepFn
from wsss.options import LAYERS, PipelineConfig

if TYPE_CHECKING:
    import torch

    from wsss.models.classifier import Classifier
    from wsss.options import ClassifierConfig

# DRS Table 2's nine placements, by the names the paper's rows imply
PLACEMENTS: dict[str, tuple[str, ...]] = {
    "none": (), "6": LAYERS[5:], "5-6": LAYERS[4:], "4-6": LAYERS[3:], "3-6": LAYERS[2:],
    "2-6": LAYERS[1:], "1-6": LAYERS, "1-5": LAYERS[:5], "1-4": LAYERS[:4],
}

# Paper-vs-code differences (docs/method.md, "Paper vs code: the presets"); the defaults are the
# reference code's.
PAPER = {
    "classifier/nesterov": False,  # not mentioned in the paper
    "classifier/batch_size": 5,  # the paper's batch (code: 5 x nGPU = 10)
    "classifier/crop": 321,
    "refine/epochs": 15,
    "refine/decay_epochs": (5, 10),
    "refine/batch_size": 5,
    "pseudo_labels/beta": 0.06,  # the paper's saliency threshold (code: 50/255)
    "pseudo_labels/conflict_count": 0,  # the conflict rule is in the code only
}

# DRS Table 1: controller, learnable or a constant delta (DRS in layer1-6)
TABLE1: dict[str, dict[str, Any]] = {
    "learnable": {"classifier/drs": "learnable"},
    **{f"delta={d:.2f}": {"classifier/drs": "constant", "classifier/drs_delta": d}
       for d in (0.90, 0.80, 0.70, 0.60, 0.55, 0.50, 0.40)},
}
# DRS Table 2: the nine placements (learnable controller, no refinement)
TABLE2: dict[str, dict[str, Any]] = {
    name: ({"classifier/drs": "none"} if not layers else
           {"classifier/drs": "learnable", "classifier/drs_layers": layers})
    for name, layers in PLACEMENTS.items()
}
# DRS Table 3: refinement (DRS†) off and on, for the learnable controller and δ = 0.55
TABLE3: dict[str, dict[str, Any]] = {
    f"{name}{'+refine' if on else ''}": {**controller, "refine/enabled": on}
    for name, controller in (("learnable", TABLE1["learnable"]),
                             ("delta=0.55", TABLE1["delta=0.55"]))
    for on in (False, True)
}

# The proxy study (benchmarks/proxy_correlation.py, docs/search.md): every distinct setting of
# Tables 1-3 (t1:, t2:, t3:; Table 2's 1-6 is Table 1's learnable) and α / β around the
# defaults (ab:), 24 configurations, each to the final metric
PROXY: dict[str, dict[str, Any]] = {
    **{f"t1:{k}": v for k, v in TABLE1.items()},
    **{f"t2:{k}": v for k, v in TABLE2.items() if k != "1-6"},
    **{f"t3:{k}": v for k, v in TABLE3.items() if k.endswith("+refine")},
    **{f"ab:{name} {key.split('/')[1]}={value}": {**TABLE1[name], key: value}
       for name in ("learnable", "delta=0.55")
       for key, value in (("pseudo_labels/alpha", 0.1), ("pseudo_labels/alpha", 0.3),
                          ("pseudo_labels/beta", 0.3))},
}


def weak_labels(cfg: PipelineConfig) -> tuple[list[Step], str]:
    """classifier -> cams -> [refine] -> pseudo_labels (DRS† when ``refine/enabled``)."""
    steps: list[Step] = [("classifier", {"pretrain": "pretrain"}),
                         ("cams", {"classifier": "classifier"})]
    maps = "cams"
    if cfg.refine.enabled:
        steps.append(("refine", {"pretrain": "pretrain", "classifier": "classifier"}))
        maps = "refine"
    steps.append(("pseudo_labels", {"maps": maps}))
    return steps, "pseudo_labels"


def classifier_step(model: Classifier, device: torch.device, c: ClassifierConfig) -> StepFn:
    """MultiLabelSoftMargin on the GAP logits (DRS ``train_cls.py``)."""
    from wsss.engine import classification_step

    return classification_step(model, device)


DRS = Method(
    name="drs",
    paper="Kim, Han & Kim, Discriminative Region Suppression for WSSS, AAAI 2021, "
          "arXiv:2103.07246",
    overlay={},
    presets={"reference": {}, "paper": PAPER},
    profiles={},
    weak_labels=weak_labels,
    classifier_step=classifier_step,
    objective="pseudo_labels/miou",
    grids={"drs1": TABLE1, "drs2": TABLE2, "drs3": TABLE3, "drs-proxy": PROXY},
    grid_until="evaluate",  # Tables 1-3 are DeepLab-LargeFOV val mIoU: the final metric
    rungs=("cams", "pseudo_labels"),  # before segment, the costly stage (docs/search.md)
    title="DRS",
    short_names={"classifier/drs": "drs", "classifier/drs_delta": "δ",
                 "classifier/drs_layers": "layers", "pseudo_labels/alpha": "α",
                 "pseudo_labels/beta": "β", "refine/enabled": "refine"},
    tables=("drs1", "drs2", "drs3"),
)
