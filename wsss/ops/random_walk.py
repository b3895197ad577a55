"""Random walk over AffinityNet's affinities (docs/method.md, "Random walk"), on the sparse
neighbourhood.

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

Fewer products, with a stated bound (``tolerance`` > 0): x^n on [-1, 1] is the Chebyshev
series ``E[T_|S_n|(x)]`` of a symmetric +-1 walk S_n of n steps, so cutting it at degree d
leaves an error of at most ``P(|S_n| > d)`` everywhere on [-1, 1]. T's eigenvalues lie in
[-1, 1] (it is similar to the symmetric ``D^-1/2 A D^-1/2``, D = the column sums), so
``propagate(..., tolerance=eps)`` applies the degree-d polynomial of T by the three-term
recurrence (d sparse products) with ``||D^1/2 (exact - approx)||_2 <= eps ||D^1/2 v||_2`` per
score row v; for t = 256, eps = 1e-6 gives d = 80 (``chebyshev_degree``).

``propagate_dense`` is the reference algorithm (used by the tests and the benchmark).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache

import torch
import torch.nn.functional as F

from wsss.ops.pairs import MARGIN, OFFSETS


@dataclass(frozen=True)
class Transition:
    """T transposed as a CSR matrix: row j holds node j's neighbours i with T[i, j]."""

    matrix: torch.Tensor  # (N, N) sparse CSR, at most 69 non-zeros per row
    size: tuple[int, int]  # (h, w) of the node grid


def _check_fits(aff: torch.Tensor, size: tuple[int, int]) -> tuple[int, int]:
    """The "from" window (hf, wf) of a h x w grid, if ``aff`` holds one map per pair for it."""
    h, w = size
    hf, wf = h - MARGIN, w - 2 * MARGIN
    if tuple(aff.shape) != (len(OFFSETS), hf, wf):
        raise ValueError(f"affinities {tuple(aff.shape)} do not fit a {h}x{w} grid "
                         f"(want {(len(OFFSETS), hf, wf)})")
    return hf, wf


def _edges(aff: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor,
                                                              torch.Tensor]:
    """(from node, to node, affinity) of every pair, each (34 * hf * wf,)."""
    h, w = size
    hf, wf = _check_fits(aff, size)
    dev = aff.device
    ys = torch.arange(hf, device=dev)[:, None]
    xs = torch.arange(MARGIN, MARGIN + wf, device=dev)[None, :]
    src = (ys * w + xs).expand(hf, wf).reshape(-1)
    dst = torch.cat([((ys + dy) * w + xs + dx).expand(hf, wf).reshape(-1) for dy, dx in OFFSETS])
    return src.repeat(len(OFFSETS)), dst, aff.reshape(-1)


def transition(aff: torch.Tensor, size: tuple[int, int], beta: float) -> Transition:
    """The column-stochastic transition of A^beta (A: mirrored pairs + unit diagonal).

    Built row by row of T^T = D^-1 A without sorting: node j's row holds itself, its 34
    "to" neighbours j + o and its 34 "from" neighbours j - o (o the linear pair offsets, in
    increasing order), less those off the grid. Indices are int32, which takes the CPU's
    faster sparse kernel (``benchmarks/random_walk.py``)."""
    h, w = size
    _check_fits(aff, size)
    order, crow, cols, kept = _structure(h, w, aff.device)
    vals = _rows(aff.clamp_min(0) ** beta, size)[order]  # (69, n): A[j, j + offset]
    vals = (vals / vals.sum(dim=0, keepdim=True)).T.reshape(-1)  # T[i, j] = A[j, i] / rowsum_j
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(crow, cols, vals[kept], (h * w, h * w))
    return Transition(matrix, size)


def _rows(a: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(69, h*w): A[j, j], A[j, j + o_k] ("to"), A[j, j - o_k] ("from") for every node j."""
    h, w = size
    to = F.pad(a, (MARGIN, MARGIN, 0, MARGIN))  # (34, h, w), at each "from" node
    # A[j, j - o_k] = A[j - o_k, j]: the same map moved by the offset (what wraps round is
    # zero padding, as dy and |dx| are at most MARGIN)
    back = torch.stack([torch.roll(to[k], (dy, dx), (0, 1)) for k, (dy, dx) in enumerate(OFFSETS)])
    ones = torch.ones(1, h, w, dtype=a.dtype, device=a.device)
    return torch.cat([ones, to, back]).reshape(1 + 2 * len(OFFSETS), h * w)


@lru_cache(maxsize=16)  # VOC's images come in few sizes
def _structure(h: int, w: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The sparsity pattern of a h x w grid: offset order, CSR rows and columns (int32),
    and which of the (n, 69) row-major entries are on the grid."""
    n = h * w
    linear = [dy * w + dx for dy, dx in OFFSETS]
    offsets = torch.tensor([0, *linear, *(-o for o in linear)], device=device)
    order = torch.argsort(offsets)
    ones = torch.ones(len(OFFSETS), h - MARGIN, w - 2 * MARGIN, device=device)
    on_grid = (_rows(ones, (h, w))[order] > 0).T  # (n, 69)
    cols = torch.arange(n, device=device, dtype=torch.int32)[:, None] + offsets[order].int()
    crow = torch.zeros(n + 1, device=device, dtype=torch.int32)
    crow[1:] = torch.cumsum(on_grid.sum(dim=1), 0)
    return order, crow, cols[on_grid], on_grid.reshape(-1).nonzero().squeeze(1)


def propagate(scores: torch.Tensor, t: Transition, steps: int,
              tolerance: float = 0.0) -> torch.Tensor:
    """(C, h, w) scores -> scores @ T^steps, as (C, h, w): ``steps`` sparse products, or
    (``tolerance`` > 0) the Chebyshev polynomial within ``tolerance`` (module docstring)."""
    c = scores.shape[0]
    v = scores.reshape(c, -1).T
    v = F.pad(v, (0, -c % 8)).contiguous()  # whole vector lanes: faster products
    coeffs = chebyshev_coefficients(steps, tolerance) if tolerance > 0 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if coeffs is None or len(coeffs) - 1 >= steps:
            for _ in range(steps):
                v = t.matrix @ v
        else:
            v = _chebyshev(t.matrix, v, coeffs)
    return v[:, :c].T.reshape(c, *t.size)


def _chebyshev(matrix: torch.Tensor, v: torch.Tensor, coeffs: tuple[float, ...]) -> torch.Tensor:
    """sum_k coeffs[k] T_k(matrix) v by T_{k+1} = 2 M T_k - T_{k-1} (one fused addmm)."""
    if len(coeffs) == 1:
        return coeffs[0] * v
    prev, cur = v, matrix @ v
    out = coeffs[0] * prev + coeffs[1] * cur
    for ck in coeffs[2:]:
        prev, cur = cur, torch.addmm(prev, matrix, cur, beta=-1, alpha=2)
        if ck:
            out.add_(cur, alpha=ck)
    return out


def chebyshev_degree(steps: int, tolerance: float) -> int:
    """The smallest degree d whose cut of x^steps errs by at most ``tolerance`` on [-1, 1]."""
    return len(chebyshev_coefficients(steps, tolerance)) - 1


@cache
def chebyshev_coefficients(steps: int, tolerance: float) -> tuple[float, ...]:
    """c_0..c_d of x^n = sum_k c_k T_k(x) cut at the smallest d with tail P(|S_n| > d) <=
    ``tolerance``: c_k = P(|S_n| = k) (S_n a symmetric +-1 walk of n = ``steps`` steps)."""
    n = steps
    # P(|S_n| = k) = 2^(1-n) C(n, (n-k)/2) for k > 0 (2^-n for k = 0), k of n's parity
    log_half = -n * math.log(2.0)
    prob = [0.0] * (n + 1)
    for k in range(n % 2, n + 1, 2):
        j = (n - k) // 2
        log_c = math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + log_half
        prob[k] = math.exp(log_c) * (1 if k == 0 else 2)
    tails = [0.0] * (n + 2)  # tails[d] = P(|S_n| >= d), summed from the small end
    for k in range(n, -1, -1):
        tails[k] = tails[k + 1] + prob[k]
    degree = next(d for d in range(n + 1) if tails[d + 1] <= tolerance)
    return tuple(prob[:degree + 1])


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
    h, w = scores.shape[1:]
    trans = dense_transition(aff, (h, w), beta)
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
                       steps: int, background: torch.Tensor,
                       tolerance: float = 0.0) -> torch.Tensor:
    """Compact labels (H, W) (0 = background, k = the k-th map) after the random walk.

    ``maps`` (K, H, W) are at the padded image size (a multiple of ``stride``); they are
    average-pooled to the affinity grid, propagated, upsampled (bilinear,
    align_corners=False) back and arg-maxed; ties go to the background.
    """
    scores = torch.cat([background, maps])
    grid = F.avg_pool2d(scores[None], stride, stride)[0]
    h, w = grid.shape[1:]
    moved = propagate(grid, transition(aff, (h, w), beta), steps, tolerance)
    up = F.interpolate(moved[None], size=maps.shape[1:], mode="bilinear", align_corners=False)
    return up[0].argmax(dim=0)
