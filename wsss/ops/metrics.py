"""Segmentation metrics from one streaming int64 confusion matrix.

Rows are ground-truth classes 0..C-1; columns are predicted classes 0..C-1 plus one extra
column for pixels the prediction left as 255 ("ignore" in a pseudo label). Ground-truth 255
pixels are never counted. Keeping the 255 column lets one matrix answer both policies:

* ``ignore``: predicted-255 pixels are left out (a precision-style score);
* ``miss``: predicted-255 pixels count as false negatives of their true class.

mIoU protocols: ``nanmean`` averages the classes present in the ground truth *or* the
prediction (DRS's ``IOUMetric``: a class predicted but absent from the ground truth scores 0);
``nanmean_gt`` averages the classes present in the ground truth only (the DeepLab-v2 code's
``metric.py``); ``mean`` averages all C classes, a class seen nowhere scoring 0 (SSENet
``evaluation.py``). The first two agree whenever every predicted class is in the ground truth,
as on full VOC splits; small splits tell them apart (docs/method.md, "mIoU's class set"). m_FN and
m_FP are SSENet Eqs. 5-6 (background excluded).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

IGNORE = 255
PredIgnore = Literal["ignore", "miss"]
Protocol = Literal["nanmean", "nanmean_gt", "mean"]


class ConfusionMatrix:
    """Streaming confusion matrix over images; add, merge across processes, then score."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.counts = np.zeros((num_classes, num_classes + 1), dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray, *, name: str = "") -> ConfusionMatrix:
        """Add one image; ``pred`` holds 0..C-1 or 255, ``gt`` holds 0..C-1 or 255."""
        if pred.shape != gt.shape:
            raise ValueError(f"{name or 'prediction'}: shape {pred.shape} != gt {gt.shape}")
        c = self.num_classes
        valid = gt != IGNORE
        g = gt[valid].astype(np.int64)
        p = pred[valid].astype(np.int64)
        if g.size and (g.min() < 0 or g.max() >= c):
            raise ValueError(f"{name or 'gt'}: class id {int(g.max())} outside 0..{c - 1}, 255")
        bad = (p < 0) | ((p >= c) & (p != IGNORE))
        if bad.any():
            raise ValueError(f"{name or 'prediction'}: class id {int(p[bad][0])} outside "
                             f"0..{c - 1}, 255")
        p[p == IGNORE] = c
        self.counts += np.bincount(g * (c + 1) + p, minlength=c * (c + 1)).reshape(c, c + 1)
        return self

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        self.counts += other.counts
        return self

    # --- per-class counts -----------------------------------------------------------------
    def tp_fn_fp(self, pred_ignore: PredIgnore = "miss") -> tuple[np.ndarray, ...]:
        inner = self.counts[:, : self.num_classes]
        tp = np.diag(inner).astype(np.float64)
        gt_total = (self.counts.sum(1) if pred_ignore == "miss" else inner.sum(1)).astype(float)
        pred_total = inner.sum(0).astype(np.float64)
        return tp, gt_total - tp, pred_total - tp

    def iou(self, pred_ignore: PredIgnore = "miss") -> np.ndarray:
        """Per-class IoU; NaN where a class is neither in the ground truth nor predicted."""
        tp, fn, fp = self.tp_fn_fp(pred_ignore)
        union = tp + fn + fp
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / union, np.nan)

    def miou(self, protocol: Protocol = "nanmean", pred_ignore: PredIgnore = "miss") -> float:
        iou = self.iou(pred_ignore)
        if protocol == "mean":
            return float(np.nan_to_num(iou, nan=0.0).mean())
        scored = self.present(pred_ignore) if protocol == "nanmean_gt" else ~np.isnan(iou)
        return float(iou[scored].mean()) if scored.any() else float("nan")

    def present(self, pred_ignore: PredIgnore = "miss") -> np.ndarray:
        """Classes with ground-truth pixels that the policy scores (all of them under ``miss``)."""
        tp, fn, _ = self.tp_fn_fp(pred_ignore)
        return (tp + fn) > 0

    def m_fn_fp(self, pred_ignore: PredIgnore = "miss") -> tuple[float, float]:
        """SSENet m_FN, m_FP: mean over foreground classes present in gt of FN/TP and FP/TP.

        A present class with TP = 0 makes a ratio infinite, as the equations say, unless its
        numerator is 0 too (no error of that kind), which counts as 0.
        """
        tp, fn, fp = self.tp_fn_fp(pred_ignore)
        present = self.present(pred_ignore)
        present[0] = False
        if not present.any():
            return float("nan"), float("nan")

        def ratio(err: np.ndarray) -> float:
            with np.errstate(divide="ignore", invalid="ignore"):
                r = np.where(err == 0, 0.0, err / tp)
            return float(r[present].mean())

        return ratio(fn), ratio(fp)

    def coverage(self) -> float:
        """Fraction of valid ground-truth pixels that received a label (not 255)."""
        total = self.counts.sum()
        return float(1.0 - self.counts[:, -1].sum() / total) if total else float("nan")

    def precision(self) -> float:
        """Fraction of labelled pixels whose label is right (pseudo-label precision)."""
        labelled = self.counts[:, :-1].sum()
        return float(np.trace(self.counts[:, :-1]) / labelled) if labelled else float("nan")

    def summary(self, prefix: str, protocol: Protocol = "nanmean",
                pred_ignore: PredIgnore = "miss") -> dict[str, float]:
        """Flat metrics dict, e.g. ``pseudo_labels/miou``, ``pseudo_labels/iou_3``,
        ``pseudo_labels/m_fn``."""
        m_fn, m_fp = self.m_fn_fp(pred_ignore)
        out = {
            f"{prefix}/miou": self.miou(protocol, pred_ignore),
            f"{prefix}/m_fn": m_fn,
            f"{prefix}/m_fp": m_fp,
            f"{prefix}/coverage": self.coverage(),
            f"{prefix}/precision": self.precision(),
        }
        for c, value in enumerate(self.iou(pred_ignore)):
            out[f"{prefix}/iou_{c}"] = float(value)
        return out
