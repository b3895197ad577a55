"""Pseudo-label rules on hand-built 1 x 4 maps (C = 3 classes; label ids are class + 1)."""

from __future__ import annotations

import numpy as np
import pytest

from wsss.ops.pseudo_labels import pseudo_label


def _maps(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)[:, None, :]  # (C, 1, W)


def test_object_cue_background_and_ignore() -> None:
    maps = _maps([0.9, 0.1, 0.0, 0.5], [0.0, 0.0, 0.3, 0.6], [0.0, 0.0, 0.0, 0.0])
    sal = np.array([[0.9, 0.9, 0.9, 0.05]])  # last pixel is non-salient
    pred = pseudo_label(maps, sal, alpha=0.2, beta=0.2, conflict_count=0)
    # px0: class 0 cue 0.9 -> 1 ; px1: cue 0.1 < alpha, salient -> 255 ;
    # px2: class 1 cue 0.3 -> 2 ; px3: non-salient, bg channel 1.0 beats 0.6 -> 0
    np.testing.assert_array_equal(pred, [[1, 255, 2, 0]])


def test_ties_go_to_background_and_refined_maps_can_override_it() -> None:
    sal = np.array([[0.0, 0.0]])
    pred = pseudo_label(_maps([1.0, 1.3], [0.0, 0.0], [0.0, 0.0]), sal, conflict_count=0)
    np.testing.assert_array_equal(pred, [[0, 1]])  # 1.0 ties bg -> bg; 1.3 > 1 wins


def test_conflict_rule_counts_background_too() -> None:
    sal = np.array([[0.0, 0.0, 0.9]])
    maps = _maps([0.95, 0.95, 0.95], [0.95, 0.3, 0.95], [0.0, 0.0, 0.95])
    # px0: bg(1) + two objects > 0.9 = 3 channels > 2 -> 255 ; px1: bg + one = 2 -> kept (bg)
    # px2: salient, three objects > 0.9 -> 255
    pred = pseudo_label(maps, sal, conflict_count=2, conflict_conf=0.9)
    np.testing.assert_array_equal(pred, [[255, 0, 255]])
    off = pseudo_label(maps, sal, conflict_count=0)
    np.testing.assert_array_equal(off, [[0, 0, 1]])


def test_beta_threshold_is_strict() -> None:
    maps = _maps([0.5, 0.5], [0, 0], [0, 0])
    sal = np.array([[50 / 255, 51 / 255]])  # the reference: > 50 is salient
    np.testing.assert_array_equal(pseudo_label(maps, sal, beta=0.2), [[0, 1]])


def test_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ"):
        pseudo_label(np.zeros((2, 4, 4)), np.zeros((4, 5)))
