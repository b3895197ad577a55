"""The papers' published numbers (mIoU, %), for the column beside ours (SPEC §3, papers/)."""

from __future__ import annotations

# DRS Table 1: DeepLab-LargeFOV val mIoU per controller
DRS_TABLE1 = {"learnable": 62.9, "delta=0.90": 51.9, "delta=0.80": 56.0, "delta=0.70": 58.7,
              "delta=0.60": 62.3, "delta=0.55": 62.8, "delta=0.50": 62.3, "delta=0.40": 59.6}
# DRS Table 2: placements (learnable, no refinement)
DRS_TABLE2 = {"none": 50.1, "6": 60.8, "5-6": 62.2, "4-6": 62.8, "3-6": 62.9, "2-6": 62.7,
              "1-6": 62.9, "1-5": 58.2, "1-4": 53.6}
# SSENet Table 1: (CAM, CAM+rw) pseudo-label mIoU on VOC train per branch rate
SSE_TABLE1 = {"baseline": (47.3, 58.8), "0.6": (48.5, 61.5), "0.5": (48.9, 61.7),
              "0.4": (49.4, 61.8), "0.3": (49.8, 62.1), "0.2": (49.4, 61.7)}
# SSENet Table 2: CAM mIoU per (model, scale range)
SSE_TABLE2 = {("baseline", "[448, 768]"): 47.3, ("baseline", "[224, 768]"): 46.6,
              ("SSENet (0.5)", "[448, 768]"): 48.9}
