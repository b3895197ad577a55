"""The sparse random walk against the reference's dense squaring, on random affinities."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsss.ops.pairs import OFFSETS
from wsss.ops.random_walk import (
    _edges,
    background_scores,
    chebyshev_coefficients,
    chebyshev_degree,
    dense_transition,
    propagate,
    propagate_dense,
    random_walk_labels,
    transition,
)


def _random(h: int, w: int, classes: int, seed: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    aff = torch.rand(len(OFFSETS), h - 4, w - 8, generator=g, dtype=dtype)
    return aff, torch.rand(classes, h, w, generator=g, dtype=dtype)


@pytest.mark.parametrize("steps", [1, 8, 256])
def test_sparse_propagation_equals_dense_squaring(steps: int) -> None:
    aff, cam = _random(13, 17, 4, seed=steps)
    sparse = propagate(cam, transition(aff, (13, 17), beta=8.0), steps)
    dense = propagate_dense(cam, aff, beta=8.0, steps=steps)
    assert (sparse - dense).abs().max().item() < 1e-10
    assert torch.equal(sparse.argmax(dim=0), dense.argmax(dim=0))


def test_float32_at_a_voc_sized_grid_agrees_on_the_argmax() -> None:
    aff, cam = _random(47, 63, 3, seed=0, dtype=torch.float32)  # 375 x 500 at stride 8
    sparse = propagate(cam, transition(aff, (47, 63), 8.0), 256)
    dense = propagate_dense(cam, aff, 8.0, 256)
    assert (sparse - dense).abs().max().item() < 1e-4
    assert (sparse.argmax(0) == dense.argmax(0)).float().mean().item() >= 0.999


def test_transition_is_column_stochastic_with_at_most_69_entries_per_node() -> None:
    aff, _ = _random(12, 14, 1, seed=3)
    dense = dense_transition(aff, (12, 14), beta=2.0)
    assert torch.allclose(dense.sum(dim=0), torch.ones(12 * 14, dtype=dense.dtype))
    assert torch.equal(dense > 0, (dense > 0).T)  # mirrored pairs
    t = transition(aff, (12, 14), beta=2.0)
    assert torch.allclose(t.matrix.to_dense(), dense.T)
    big, _ = _random(24, 30, 1, seed=4)
    per_row = transition(big, (24, 30), 2.0).matrix.crow_indices().diff()
    assert per_row.max().item() == 2 * len(OFFSETS) + 1  # itself + 34 pairs each way


def test_zero_steps_and_scores_that_are_constant_stay_put() -> None:
    aff, cam = _random(10, 12, 2, seed=1)
    t = transition(aff, (10, 12), 8.0)
    assert torch.equal(propagate(cam, t, 0), cam)
    flat = torch.full((1, 10, 12), 0.3, dtype=torch.float64)
    assert torch.allclose(propagate(flat, t, 50), flat)  # T's columns sum to one


def test_background_modes() -> None:
    maps = torch.tensor([[[0.0, 0.5]], [[1.0, 0.25]]])
    assert torch.equal(background_scores(maps, "constant", 0.2), torch.full((1, 1, 2), 0.2))
    assert torch.allclose(background_scores(maps, "power", power=2.0),
                          torch.tensor([[[0.0, 0.25]]]))


def test_random_walk_labels_without_steps_is_the_pooled_argmax() -> None:
    maps = torch.zeros(2, 48, 80)
    maps[0, :, :40] = 0.9
    maps[1, :, 40:] = 0.6
    bg = torch.full((1, 48, 80), 0.2)
    aff = torch.ones(34, 12 - 4, 20 - 8)
    label = random_walk_labels(maps, aff, stride=4, beta=8.0, steps=0, background=bg)
    assert label.shape == (48, 80)
    assert (label[:, :36] == 1).all() and (label[:, 44:] == 2).all()
    pooled = F.avg_pool2d(torch.cat([bg, maps])[None], 4)[0]
    assert pooled.shape == (3, 12, 20)


def test_chebyshev_degree_is_the_binomial_tail() -> None:
    from math import comb

    d = chebyshev_degree(256, 1e-6)
    tail = lambda k: sum(comb(256, j) for j in range(256 + 1)  # noqa: E731
                         if abs(256 - 2 * j) > k) / 2 ** 256
    assert tail(d) <= 1e-6 < tail(d - 2)  # d is the smallest of the right parity
    assert chebyshev_degree(8, 1e-6) == 8 and chebyshev_degree(0, 1e-6) == 0
    assert sum(chebyshev_coefficients(256, 0.0)) == pytest.approx(1.0)  # x^n at x = 1


@pytest.mark.parametrize("tolerance", [1e-3, 1e-6])
def test_chebyshev_walk_is_within_its_bound_of_the_exact_walk(tolerance: float) -> None:
    aff, cam = _random(20, 26, 3, seed=5)
    t = transition(aff, (20, 26), beta=8.0)
    exact = propagate(cam, t, 256)
    approx = propagate(cam, t, 256, tolerance=tolerance)
    assert chebyshev_degree(256, tolerance) < 256
    n = 20 * 26
    src, dst, a = _edges(aff, (20, 26))
    mat = torch.zeros(n, n, dtype=cam.dtype)
    mat[src, dst] = a
    sqrt_d = (mat + mat.T + torch.eye(n, dtype=cam.dtype)).pow(8.0).sum(dim=0).sqrt()  # D^1/2
    for row in range(3):
        err = ((exact[row] - approx[row]).reshape(-1) * sqrt_d).norm()
        assert err <= tolerance * (cam[row].reshape(-1) * sqrt_d).norm() * (1 + 1e-9)
    assert (exact - approx).abs().max().item() > 0  # it is an approximation


def test_chebyshev_walk_keeps_the_argmax_on_structured_affinities() -> None:
    h, w = 47, 63  # VOC size at stride 8
    g = torch.Generator().manual_seed(1)
    regions = (torch.arange(h)[:, None] // 12 * 6 + torch.arange(w)[None] // 11)  # blocks
    cam = torch.rand(21, h, w, generator=g) * 0.3
    cam[regions.remainder(21), torch.arange(h)[:, None], torch.arange(w)[None]] += 0.5
    aff = torch.empty(len(OFFSETS), h - 4, w - 8)
    for k, (dy, dx) in enumerate(OFFSETS):  # high inside a block, low across its edge
        same = regions[:h - 4, 4:w - 4] == regions[dy:h - 4 + dy, 4 + dx:w - 4 + dx]
        aff[k] = torch.where(same, 0.9, 0.1) + 0.05 * torch.rand(h - 4, w - 8, generator=g)
    t = transition(aff, (h, w), 8.0)
    exact = propagate(cam, t, 256)
    approx = propagate(cam, t, 256, tolerance=1e-6)
    assert (exact.argmax(0) == approx.argmax(0)).float().mean().item() >= 0.999
