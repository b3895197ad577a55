"""Metrics on hand-built confusion cases; expected numbers are computed by hand in comments."""

from __future__ import annotations

import numpy as np
import pytest

from wsss.ops.metrics import ConfusionMatrix

A = np.array


def test_two_class_iou_by_hand() -> None:
    gt = A([[0, 0], [1, 1]])
    pred = A([[0, 1], [1, 1]])
    cm = ConfusionMatrix(2).update(pred, gt)
    # class 0: TP 1, FN 1, FP 0 -> 1/2 ; class 1: TP 2, FN 0, FP 1 -> 2/3
    np.testing.assert_allclose(cm.iou(), [0.5, 2 / 3])
    assert cm.miou("nanmean") == pytest.approx((0.5 + 2 / 3) / 2)
    assert cm.miou("mean") == pytest.approx((0.5 + 2 / 3) / 2)
    assert cm.counts.dtype == np.int64


def test_absent_class_protocols() -> None:
    gt = A([0, 0, 1, 1])
    pred = A([0, 0, 1, 2])  # class 2 absent from gt but predicted once; class 3 never seen
    cm = ConfusionMatrix(4).update(pred, gt)
    # IoU: c0 = 1, c1 = 1/2, c2 = 0/1 = 0, c3 = NaN (no union)
    np.testing.assert_allclose(cm.iou(), [1.0, 0.5, 0.0, np.nan])
    assert cm.miou("nanmean") == pytest.approx((1 + 0.5 + 0) / 3)  # gt or predicted (DRS)
    assert cm.miou("nanmean_gt") == pytest.approx((1 + 0.5) / 2)  # only gt classes (DeepLab-v2)
    assert cm.miou("mean") == pytest.approx((1 + 0.5 + 0 + 0) / 4)  # all classes (SSENet)


def _drs_iou_metric(pred: np.ndarray, gt: np.ndarray, n: int) -> float:
    """DRS's utils/Metrics.py IOUMetric, written out: histogram, per-class IoU, nanmean."""
    mask = (gt >= 0) & (gt < n)
    hist = np.bincount(n * gt[mask] + pred[mask], minlength=n * n).reshape(n, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return float(np.nanmean(iu))


def test_nanmean_is_drs_iou_metric_on_random_maps_with_predicted_only_classes() -> None:
    rng = np.random.default_rng(0)
    cm, gts, preds = ConfusionMatrix(21), [], []
    for _ in range(5):
        gt = rng.choice([0, 3, 7, 255], size=(24, 32))  # gt classes 0, 3, 7 only
        pred = rng.choice([0, 3, 7, 12, 15], size=(24, 32))  # 12 and 15 are predicted only
        cm.update(pred, gt)
        gts.append(gt.ravel())
        preds.append(pred.ravel())
    drs = _drs_iou_metric(np.concatenate(preds), np.concatenate(gts), 21)
    assert cm.miou("nanmean") == pytest.approx(drs, abs=1e-12)
    assert cm.miou("nanmean_gt") > drs  # the two predicted-only classes score 0 in DRS's


def test_gt_ignore_and_all_ignored_image() -> None:
    cm = ConfusionMatrix(3)
    cm.update(A([[1, 2], [0, 0]]), A([[255, 255], [255, 255]]))  # fully ignored image
    assert cm.counts.sum() == 0
    assert np.isnan(cm.miou())
    cm.update(A([1, 2, 0]), A([1, 255, 0]))
    assert cm.counts.sum() == 2
    assert cm.miou() == 1.0


def test_prediction_255_under_both_policies() -> None:
    gt = A([0, 0, 1, 1, 1, 1])
    pred = A([0, 255, 1, 255, 255, 0])
    cm = ConfusionMatrix(2).update(pred, gt)
    # ignore: c0 TP1 FP1 (the gt-1 pixel predicted 0) -> 1/2 ; c1 TP1, FN1 -> 1/2
    np.testing.assert_allclose(cm.iou("ignore"), [0.5, 0.5])
    # miss: c0 TP1 FN1 FP1 -> 1/3 ; c1 TP1 FN3 -> 1/4
    np.testing.assert_allclose(cm.iou("miss"), [1 / 3, 1 / 4])
    assert cm.coverage() == pytest.approx(3 / 6)
    assert cm.precision() == pytest.approx(2 / 3)


def test_class_whose_pixels_are_all_ignored_is_not_scored_under_ignore() -> None:
    gt = A([0, 0, 1, 1])
    pred = A([0, 0, 255, 255])
    cm = ConfusionMatrix(2).update(pred, gt)
    assert cm.miou("nanmean", "ignore") == 1.0  # class 1 has nothing scorable
    assert cm.miou("nanmean", "miss") == pytest.approx(0.5)  # class 1 IoU 0


def test_m_fn_m_fp_by_hand() -> None:
    gt = A([0, 0, 0, 1, 1, 1, 1, 2, 2])
    pred = A([0, 1, 1, 1, 1, 0, 0, 2, 255])
    cm = ConfusionMatrix(3).update(pred, gt)
    # c1: TP 2, FN 2, FP 2 ; c2: TP 1, FN 1 (a 255 is a miss), FP 0. Background excluded.
    m_fn, m_fp = cm.m_fn_fp("miss")
    assert m_fn == pytest.approx((2 / 2 + 1 / 1) / 2)
    assert m_fp == pytest.approx((2 / 2 + 0 / 1) / 2)
    m_fn_ign, _ = cm.m_fn_fp("ignore")
    assert m_fn_ign == pytest.approx((2 / 2 + 0 / 1) / 2)


def test_m_fn_m_fp_with_a_missed_class() -> None:
    cm = ConfusionMatrix(3).update(A([0, 0, 1]), A([0, 2, 1]))
    # class 2: TP 0, FN 1, FP 0 -> FN/TP infinite, FP/TP counts 0 ; class 1: perfect
    assert cm.m_fn_fp() == (float("inf"), 0.0)


def test_summary_keys() -> None:
    cm = ConfusionMatrix(2).update(A([0, 1]), A([0, 1]))
    s = cm.summary("pseudo_labels")
    assert s["pseudo_labels/miou"] == s["pseudo_labels/iou_1"] == 1.0
    assert s["pseudo_labels/coverage"] == 1.0


def test_bad_ids_and_shapes_are_named() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="x.png.*class id 7"):
        cm.update(A([7]), A([0]), name="x.png")
    with pytest.raises(ValueError, match="class id 3"):
        cm.update(A([0]), A([3]))
    with pytest.raises(ValueError, match="shape"):
        cm.update(A([0, 1]), A([0]))


def _random_pair(seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 4, (8, 8))
    gt[rng.random((8, 8)) < 0.1] = 255
    pred = np.where(rng.random((8, 8)) < 0.7, gt, rng.integers(0, 4, (8, 8)))
    pred[rng.random((8, 8)) < 0.1] = 255
    return pred, gt, f"img{seed}"


def test_streaming_and_summed_parts_equal_one_shot() -> None:
    """Stages stream images one by one, and their worker processes' partial matrices add."""
    pairs = [_random_pair(s) for s in range(100)]
    one_shot = ConfusionMatrix(4).update(np.concatenate([p for p, _, _ in pairs]),
                                         np.concatenate([g for _, g, _ in pairs]))
    streaming, parts = ConfusionMatrix(4), [ConfusionMatrix(4), ConfusionMatrix(4)]
    for i, (pred, gt, _) in enumerate(pairs):
        streaming.update(pred, gt)
        parts[i % 2].update(pred, gt)
    parts[0] += parts[1]
    np.testing.assert_array_equal(streaming.counts, one_shot.counts)
    np.testing.assert_array_equal(parts[0].counts, one_shot.counts)


def test_counts_do_not_overflow_32_bits() -> None:
    cm = ConfusionMatrix(2)
    cm.counts[0, 0] = 2**31 + 5
    cm.update(A([0, 0]), A([0, 0]))
    assert cm.counts[0, 0] == 2**31 + 7
