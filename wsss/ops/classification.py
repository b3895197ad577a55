"""Multi-label classification metrics: exact-match accuracy and mAP."""

from __future__ import annotations

import numpy as np


def exact_match(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose every class is right at sigmoid >= 0.5 (DRS Metrics.py)."""
    return float(((logits >= 0.0) == (labels > 0.5)).all(axis=1).mean())


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """AP of one class: mean precision at the rank of each positive (NaN without one)."""
    if positives.sum() == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positives[order] > 0.5
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(logits: np.ndarray, labels: np.ndarray) -> float:
    """mAP over classes that have at least one positive image."""
    aps = [average_precision(logits[:, c], labels[:, c]) for c in range(labels.shape[1])]
    return float(np.nanmean(aps)) if not np.isnan(aps).all() else float("nan")
