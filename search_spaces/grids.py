"""The exact grids of the papers' ablation tables, as named points of config constants."""

from __future__ import annotations

from typing import Any

ALL = ("layer1", "layer2", "layer3", "layer4", "layer5", "layer6")

# DRS Table 1: controller -> mIoU (DeepLab-LargeFOV), learnable or constant delta
DRS_TABLE1: dict[str, dict[str, Any]] = {
    "learnable": {"classifier/drs": "learnable"},
    **{f"delta={d:.2f}": {"classifier/drs": "constant", "classifier/drs_delta": d}
       for d in (0.90, 0.80, 0.70, 0.60, 0.55, 0.50, 0.40)},
}

# DRS Table 2: the nine placements (learnable controller, no refinement)
DRS_TABLE2_PLACEMENTS: dict[str, tuple[str, ...]] = {
    "none": (), "6": ("layer6",), "5-6": ALL[4:], "4-6": ALL[3:], "3-6": ALL[2:],
    "2-6": ALL[1:], "1-6": ALL, "1-5": ALL[:5], "1-4": ALL[:4],
}
DRS_TABLE2: dict[str, dict[str, Any]] = {
    name: ({"classifier/drs": "none"} if not layers else
           {"classifier/drs": "learnable", "classifier/drs_layers": layers})
    for name, layers in DRS_TABLE2_PLACEMENTS.items()
}

GRIDS: dict[str, dict[str, dict[str, Any]]] = {"drs1": DRS_TABLE1, "drs2": DRS_TABLE2}
