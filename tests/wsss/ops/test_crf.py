from __future__ import annotations

import numpy as np

from wsss.ops.crf import (
    RECIPES,
    confident_labels,
    confident_marginals,
    dense_crf,
    map_processes,
)
from wsss.ops.metrics import ConfusionMatrix


def _two_regions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dark left / bright right image; scores right on average but blurred and shifted."""
    h, w = 32, 48
    gt = np.zeros((h, w), np.uint8)
    gt[:, 24:] = 1
    image = np.where(gt[..., None] == 1, 220, 30).astype(np.uint8).repeat(3, axis=2)
    x = np.arange(w)[None, :].repeat(h, axis=0)
    p1 = 1 / (1 + np.exp(-(x - 28) / 4.0))  # the boundary drawn 4 px too far right, soft
    return image, np.stack([1 - p1, p1]).astype(np.float32), gt


def test_crf_output_is_a_distribution_and_fixes_a_blurred_edge() -> None:
    image, probs, gt = _two_regions()
    q = dense_crf(image, probs, RECIPES["largefov"])
    assert q.shape == probs.shape and (q >= 0).all()
    np.testing.assert_allclose(q.sum(axis=0), 1.0, atol=1e-4)
    before = ConfusionMatrix(2).update(probs.argmax(0), gt).miou()
    after = ConfusionMatrix(2).update(q.argmax(0), gt).miou()
    assert before < 0.9 and after > before + 0.05 and after > 0.97


def _job(i: int) -> int:
    return i * i


def test_process_map_keeps_order() -> None:
    assert list(map_processes(_job, range(20), workers=2)) == [i * i for i in range(20)]
    assert list(map_processes(_job, range(5), workers=1)) == [0, 1, 4, 9, 16]


def test_la_ha_marginals_are_distributions_and_bracket_the_confident_regions() -> None:
    image, probs, gt = _two_regions()
    cam = probs[1:]  # one present class: the right half, soft edge
    la = confident_marginals(image, cam, power=4)
    ha = confident_marginals(image, cam, power=24)
    for q in (la, ha):
        assert q.shape == (2, *gt.shape)
        np.testing.assert_allclose(q.sum(axis=0), 1.0, atol=1e-4)
    # a larger power shrinks the background score: ha keeps more foreground than la
    assert (ha.argmax(0) == 1).sum() >= (la.argmax(0) == 1).sum()
    label = confident_labels(la, ha)
    assert set(np.unique(label)) <= {0, 1, 255}
    fg, bg = label == 1, label == 0
    assert (gt[fg] == 1).mean() > 0.95 and (gt[bg] == 0).mean() > 0.95


def test_confident_labels_rule_on_hand_built_marginals() -> None:
    la = np.array([[[0.9, 0.2, 0.6]], [[0.1, 0.8, 0.4]]])  # bg, class 1 over three pixels
    ha = np.array([[[0.7, 0.1, 0.3]], [[0.3, 0.9, 0.7]]])
    # pixel 0: both say bg -> 0; pixel 1: both fg -> 1; pixel 2: la bg, ha fg -> unknown
    assert confident_labels(la, ha).tolist() == [[0, 1, 255]]
