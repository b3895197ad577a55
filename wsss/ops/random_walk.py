"""Random walk over AffinityNet's affinities (docs/method.md §2.5), on the sparse neighbourhood.

Ahn & Kwak, "Learning Pixel-level Semantic Affinity with Image-level Supervision for Weakly
Supervised Semantic Segmentation", CVPR 2018, arXiv:1803.10464 (its random walk: the CAM
scores are propagated as ``vec(M*) = T^t vec(M)`` with ``T`` the degree-normalised
``W^beta``).

The reference builds a dense (hw x hw) matrix A with the 34 pair affinities mirrored and a
unit diagonal, raises it to beta, column-normalises it (T = A / colsum) and squares T
``logt`` times before one product ``cam @ T^(2^logt)``. A has at most 69 non-zeros per row,
so here T is kept as a sparse CSR matrix and the scores take ``steps`` sparse products
instead: O(steps * hw * 69) work and O(hw * 69) memory against
O(logt * (hw)^3) and O((hw)^2). Because A is symmetric, column j of T is row j of A divided
by row j's sum, so each step is a weighted average over a node's neighbourhood.

``propagate_dense`` is the reference algorithm (used by the tests and the benchmark).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from wsss.ops.pairs import MARGIN, OFFSETS


@dataclass(frozen=True)
class Transition:
    """T transposed as a CSR matrix: row j holds node j's neighbours i with T[i, j]."""

    matrix: torch.Tensor  # (N, N) sparse CSR, at most 69 non-zeros per row
    size: tuple[int, int]  # (h, w) of the node grid


def _edges(aff: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor,
                                                              torch.Tensor]:
    """(from node, to node, affinity) of every pair, each (34 * hf * wf,)."""
    h, w = size
    hf, wf = h - MARGIN, w - 2 * MARGIN
    if tuple(aff.shape) != (len(OFFSETS), hf, wf):
        raise ValueError(f"affinities {tuple(aff.shape)} do not fit a {h}x{w} grid "
                         f"(want {(len(OFFSETS), hf, wf)})")
    dev = aff.device
    ys = torch.arange(hf, device=dev)[:, None]
    xs = torch.arange(MARGIN, MARGIN + wf, device=dev)[None, :]
    src = (ys * w + xs).expand(hf, wf).reshape(-1)
    dst = torch.cat([((ys + dy) * w + xs + dx).expand(hf, wf).reshape(-1) for dy, dx in OFFSETS])
    return src.repeat(len(OFFSETS)), dst, aff.reshape(-1)


def transition(aff: torch.Tensor, size: tuple[int, int], beta: float) -> Transition:
    """The column-stochastic transition of A^beta (A: mirrored pairs + unit diagonal)."""
    n = size[0] * size[1]
    src, dst, a = _edges(aff, size)
    a = a.clamp_min(0) ** beta
    nodes = torch.arange(n, device=aff.device)
    rows = torch.cat([nodes, src, dst])  # every node: itself, its pairs as "from", as "to"
    cols = torch.cat([nodes, dst, src])
    vals = torch.cat([torch.ones(n, device=aff.device, dtype=a.dtype), a, a])
    order = torch.argsort(rows, stable=True)
    rows, cols, vals = rows[order], cols[order], vals[order]
    sums = torch.zeros(n, device=aff.device, dtype=a.dtype).index_add_(0, rows, vals)
    vals = vals / sums[rows]  # T[i, j] = A[i, j] / colsum_j = A[j, i] / rowsum_j (symmetric)
    crow = torch.zeros(n + 1, device=aff.device, dtype=torch.long)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(crow, cols, vals, (n, n))
    return Transition(matrix, size)


def propagate(scores: torch.Tensor, t: Transition, steps: int) -> torch.Tensor:
    """(C, h, w) scores -> scores @ T^steps, as (C, h, w): ``steps`` sparse products."""
    c = scores.shape[0]
    v = scores.reshape(c, -1).T.contiguous()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(steps):
            v = t.matrix @ v
    return v.T.reshape(c, *t.size)


def dense_transition(aff: torch.Tensor, size: tuple[int, int], beta: float) -> torch.Tensor:
    """The reference's dense (hw x hw) column-stochastic T (``resnet38_aff.forward``)."""
    n = size[0] * size[1]
    src, dst, a = _edges(aff, size)
    mat = torch.zeros(n, n, device=aff.device, dtype=aff.dtype)
    mat[src, dst] = a
    mat = mat + mat.T + torch.eye(n, device=aff.device, dtype=aff.dtype)
    mat = mat ** beta
    return mat / mat.sum(dim=0, keepdim=True)


def propagate_dense(scores: torch.Tensor, aff: torch.Tensor, beta: float,
                    steps: int) -> torch.Tensor:
    """The reference algorithm: T^steps by repeated squaring, then one product."""
    size = tuple(scores.shape[1:])
    trans = dense_transition(aff, size, beta)
    power = torch.linalg.matrix_power(trans, steps)
    return (scores.reshape(scores.shape[0], -1) @ power).reshape(scores.shape)


def background_scores(maps: torch.Tensor, mode: str, score: float = 0.2,
                      power: float = 16.0) -> torch.Tensor:
    """(K, H, W) present-class maps -> (1, H, W): SSE's constant or psa's (1 - max)^power."""
    if mode == "constant":
        return torch.full((1, *maps.shape[1:]), score, dtype=maps.dtype, device=maps.device)
    peak = maps.amax(dim=0, keepdim=True) if maps.shape[0] else torch.zeros(
        1, *maps.shape[1:], dtype=maps.dtype, device=maps.device)
    return (1 - peak).clamp_min(0) ** power


def random_walk_labels(maps: torch.Tensor, aff: torch.Tensor, *, stride: int, beta: float,
                       steps: int, background: torch.Tensor) -> torch.Tensor:
    """Compact labels (H, W) (0 = background, k = the k-th map) after the random walk.

    ``maps`` (K, H, W) are at the padded image size (a multiple of ``stride``); they are
    average-pooled to the affinity grid, propagated, upsampled (bilinear,
    align_corners=False) back and arg-maxed; ties go to the background.
    """
    scores = torch.cat([background, maps])
    grid = F.avg_pool2d(scores[None], stride, stride)[0]
    moved = propagate(grid, transition(aff, tuple(grid.shape[1:]), beta), steps)
    up = F.interpolate(moved[None], size=maps.shape[1:], mode="bilinear", align_corners=False)
    return up[0].argmax(dim=0)
