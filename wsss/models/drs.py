"""Discriminative Region Suppression (DRS)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class DRS(nn.Module):
    """Discriminative Region Suppression.

    Kim, Han & Kim, "Discriminative Region Suppression for Weakly-Supervised Semantic
    Segmentation", AAAI 2021, https://arxiv.org/abs/2103.07246.

    Replacing a ReLU, each channel of ``x = ReLU(input)`` is capped at a fraction of its own
    spatial peak (paper Eqs. 1-3)::

        x_hat = min(x, G * GMP(x))

    ``G`` is the constant ``delta`` (non-learnable controller) or, if ``learnable``, is
    predicted per image and channel as ``G = sigmoid(W @ GAP(x))`` with ``W`` a bias-free
    C x C linear map initialised from N(0, 0.01), so training starts near G = 0.5
    (DRS ``models/vgg.py``). Both the max and the suppression act on the ReLU'd input; the
    module is active at inference too, so CAMs come from the suppressed network.

    Gradients are those of the authors' ``min(x, G * AdaptiveMaxPool2d(x))``: the peak's
    gradient goes to one element (``amax`` would split it over ties, and an all-zero channel
    is one big tie), x gets it below the cap and the cap above it. ``_Suppress`` computes
    them in one pass over the tensor (``benchmarks/drs_overhead.py``; a test checks them).

    Args:
        channels: Number of input channels C.
        delta: Fixed suppression ratio in (0, 1]. Unused when ``learnable``.
        learnable: Predict ``G`` from the features instead of using ``delta``.
        inplace: Apply the ReLU in place, as the ``nn.ReLU(inplace=True)`` it replaces.
    """

    def __init__(self, channels: int, delta: float = 1.0, *, learnable: bool = False,
                 inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"delta must be in (0, 1], got {delta}")
        self.delta = delta
        self.inplace = inplace
        self.fc = nn.Linear(channels, channels, bias=False) if learnable else None
        if self.fc is not None:
            nn.init.normal_(self.fc.weight, 0.0, 0.01)

    @property
    def learnable(self) -> bool:
        return self.fc is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x, inplace=self.inplace)
        if self.fc is None:
            return _Suppress.apply(x, self.delta)
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3))))  # (B, C), from GAP
        return _Suppress.apply(x, gate)

    def extra_repr(self) -> str:
        return "learnable" if self.learnable else f"delta={self.delta}"


class _Suppress(torch.autograd.Function):
    """min(x, g * GMP(x)) for x >= 0 of shape (B, C, H, W), g a float or a (B, C) tensor."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, g: torch.Tensor | float) -> torch.Tensor:
        flat, dim = _spatial(x)
        peak, where = flat.max(dim=dim)  # (B, C): the peak and its one element
        cap = (g * peak)[:, :, None, None]
        ctx.g = g if not torch.is_tensor(g) else None
        ctx.save_for_backward(x, cap, where, peak, g if torch.is_tensor(g) else peak)
        return torch.minimum(x, cap)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, cap, where, peak, g = ctx.saved_tensors
        g = ctx.g if ctx.g is not None else g
        # below the cap (ties included): to x; in grad's own layout (a mixed-layout ReLU
        # backward is several times slower on CPU)
        grad_x = torch.where(x > cap, 0.0, grad)
        if not _spatial_viewable(grad_x):
            grad_x = grad_x.contiguous()
        above = grad.sum(dim=(2, 3)) - grad_x.sum(dim=(2, 3))  # (B, C): to the cap
        flat, dim = _spatial(grad_x)  # a view: the scatter lands in grad_x
        flat.scatter_add_(dim, where.unsqueeze(dim), (g * above).unsqueeze(dim))
        grad_g = above * peak if ctx.g is None and ctx.needs_input_grad[1] else None
        return grad_x, grad_g


def _spatial(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """A view of (B, C, H, W) ``t`` with H x W flattened, and that axis: (B, C, HW) for the
    default layout, (B, HW, C) for channels-last, so neither layout is copied."""
    b, c = t.shape[:2]
    if t.is_contiguous():
        return t.view(b, c, -1), 2
    if t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).view(b, -1, c), 1
    return t.contiguous().view(b, c, -1), 2  # a copy (forward only: see backward)


def _spatial_viewable(t: torch.Tensor) -> bool:
    return t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)
