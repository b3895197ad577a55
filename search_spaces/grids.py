"""The exact grids of the papers' ablation tables, as named points of config constants."""

from __future__ import annotations

from typing import Any

from wsss.config import DRS_PLACEMENTS

# DRS Table 1: controller -> mIoU (DeepLab-LargeFOV), learnable or constant delta
DRS_TABLE1: dict[str, dict[str, Any]] = {
    "learnable": {"classifier/drs": "learnable"},
    **{f"delta={d:.2f}": {"classifier/drs": "constant", "classifier/drs_delta": d}
       for d in (0.90, 0.80, 0.70, 0.60, 0.55, 0.50, 0.40)},
}

# DRS Table 2: the nine placements (learnable controller, no refinement)
DRS_TABLE2_PLACEMENTS = DRS_PLACEMENTS
DRS_TABLE2: dict[str, dict[str, Any]] = {
    name: ({"classifier/drs": "none"} if not layers else
           {"classifier/drs": "learnable", "classifier/drs_layers": layers})
    for name, layers in DRS_TABLE2_PLACEMENTS.items()
}

GRIDS: dict[str, dict[str, dict[str, Any]]] = {"drs1": DRS_TABLE1, "drs2": DRS_TABLE2}
