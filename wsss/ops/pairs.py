"""AffinityNet's pixel pairs (docs/method.md, "AffinityNet", psa ``tool/pyutils.py``).

Pairs join a "from" pixel to the 34 "to" pixels of a radius-5 half-neighbourhood: ``(0, 1..4)``
and, for dy = 1..4, every dx in [-4, 4] with dx^2 + dy^2 < 25. The "from" pixels are those
whose whole half-neighbourhood lies inside the map: rows ``[0, h - 4)`` and columns
``[4, w - 4)``. Each pair tensor here is laid out (..., 34, h - 4, w - 8) over that region.
"""

from __future__ import annotations

import torch

RADIUS = 5


def pair_offsets(radius: int = RADIUS) -> tuple[tuple[int, int], ...]:
    """(dy, dx) of the half-neighbourhood, in psa's order."""
    out = [(0, dx) for dx in range(1, radius)]
    out += [(dy, dx) for dy in range(1, radius) for dx in range(-radius + 1, radius)
            if dx * dx + dy * dy < radius * radius]
    return tuple(out)


OFFSETS = pair_offsets()
MARGIN = RADIUS - 1  # 4: rows below / columns either side that hold no "from" pixel


def pair_values(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., h, w) -> ("from" values (..., 1, h-4, w-8), "to" values (..., 34, h-4, w-8))."""
    h, w = x.shape[-2:]
    if h <= MARGIN or w <= 2 * MARGIN:
        raise ValueError(f"a {h}x{w} map has no pixel pairs (needs > {MARGIN} rows, "
                         f"> {2 * MARGIN} columns)")
    hf, wf = h - MARGIN, w - 2 * MARGIN
    src = x[..., :hf, MARGIN:MARGIN + wf].unsqueeze(-3)
    dst = torch.stack([x[..., dy:dy + hf, MARGIN + dx:MARGIN + dx + wf] for dy, dx in OFFSETS],
                      dim=-3)
    return src, dst


def pair_affinities(features: torch.Tensor) -> torch.Tensor:
    """(B, D, h, w) -> (B, 34, h-4, w-8): a_ij = exp(-mean_c |f_i - f_j|)."""
    src, dst = pair_values(features)  # (B, D, 1 | 34, hf, wf)
    return torch.exp(-(src - dst).abs().mean(dim=1))
