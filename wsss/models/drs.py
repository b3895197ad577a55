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

    Args:
        channels: Number of input channels C.
        delta: Fixed suppression ratio in (0, 1]. Unused when ``learnable``.
        learnable: Predict ``G`` from the features instead of using ``delta``.
    """

    def __init__(self, channels: int, delta: float = 1.0, *, learnable: bool = False) -> None:
        super().__init__()
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"delta must be in (0, 1], got {delta}")
        self.delta = delta
        self.fc = nn.Linear(channels, channels, bias=False) if learnable else None
        if self.fc is not None:
            nn.init.normal_(self.fc.weight, 0.0, 0.01)

    @property
    def learnable(self) -> bool:
        return self.fc is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        peak = x.amax(dim=(2, 3), keepdim=True)  # (B, C, 1, 1), GMP
        if self.fc is None:
            return torch.minimum(x, self.delta * peak)
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3))))  # (B, C), from GAP
        return torch.minimum(x, gate[:, :, None, None] * peak)

    def extra_repr(self) -> str:
        return "learnable" if self.learnable else f"delta={self.delta}"
