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

# SSENet Table 1: branch downsampling rate r (None: the single-branch baseline)
SSE_TABLE1: dict[str, dict[str, Any]] = {
    "baseline": {"classifier/ser_rate": None},
    **{f"r={r:.1f}": {"classifier/ser_rate": r} for r in (0.6, 0.5, 0.4, 0.3, 0.2)},
}


def _sse_table2(low: int, high: int, short_low: int) -> dict[str, dict[str, Any]]:
    """SSENet Table 2's rows; ``choice/scale_range`` names the paper's (VOC) range."""
    wide = {"classifier/scale_range": (short_low, high), "choice/scale_range": "[224, 768]"}
    paper = {"classifier/scale_range": (low, high), "choice/scale_range": "[448, 768]"}
    return {"baseline [448, 768]": {"classifier/ser_rate": None, **paper},
            "baseline [224, 768]": {"classifier/ser_rate": None, **wide},
            "SSENet(0.5) [448, 768]": {"classifier/ser_rate": 0.5, **paper}}


SSE_TABLE2 = _sse_table2(448, 768, 224)
SSE_TABLE2_SYNTHETIC = _sse_table2(64, 110, 32)  # x 64 / 448 for the 64-px benchmark

GRIDS: dict[str, dict[str, dict[str, Any]]] = {
    "drs1": DRS_TABLE1, "drs2": DRS_TABLE2, "sse1": SSE_TABLE1, "sse2": SSE_TABLE2,
    "sse2-synthetic": SSE_TABLE2_SYNTHETIC}
