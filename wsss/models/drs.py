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
        b, c = x.shape[:2]
        peak, where = x.reshape(b, c, -1).max(dim=2)  # (B, C): the peak and its one element
        cap = (g * peak)[:, :, None, None]
        ctx.g = g if not torch.is_tensor(g) else None
        ctx.save_for_backward(x, cap, where, peak, g if torch.is_tensor(g) else peak)
        return torch.minimum(x, cap)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, cap, where, peak, g = ctx.saved_tensors
        g = ctx.g if ctx.g is not None else g
        b, c = x.shape[:2]
        grad_x = grad.masked_fill(x > cap, 0)  # below the cap (ties included): to x
        above = grad.sum(dim=(2, 3)) - grad_x.sum(dim=(2, 3))  # (B, C): to the cap
        grad_x.reshape(b, c, -1).scatter_add_(2, where[:, :, None], (g * above)[:, :, None])
        grad_g = above * peak if ctx.g is None and ctx.needs_input_grad[1] else None
        return grad_x, grad_g
