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
    is one big tie), x gets it up to the cap (ties included) and the cap above it.
    ``_ReluSuppress`` computes the ReLU, the gate's GAP and the suppression, and their
    gradients, in as few passes over the activation as stock kernels allow
    (``benchmarks/drs_overhead.py``; tests compare it with the reference above).

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
        return _ReluSuppress.apply(x, self.delta, None if self.fc is None else self.fc.weight)

    def extra_repr(self) -> str:
        return "learnable" if self.learnable else f"delta={self.delta}"


# `cap - z` above this counts as z <= cap: the smallest normal float32, so a tie (0) passes
# even where denormals are flushed to zero
_TIE = -torch.finfo(torch.float32).tiny


class _ReluSuppress(torch.autograd.Function):
    """y = min(ReLU(z), g * GMP(ReLU(z))) for z of shape (B, C, H, W), with g = ``delta`` or,
    given the gate's ``weight`` (C x C), g = sigmoid(weight @ GAP(ReLU(z))) per image.

    Every pass over the activation is a memory-bound kernel on CPU, and a fresh output
    costs page faults besides, so: the peak comes from z (the max commutes with the ReLU),
    the forward writes one tensor (and updates it once more with the gate, whose GAP needs
    ReLU(z)), and the backward writes one, which it masks and updates in place (the ReLU's
    own backward kernel does both masks: ``where`` with a bool mask took about twice as
    long).
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, delta: float, weight: torch.Tensor | None
                ) -> torch.Tensor:
        flat, dim = _spatial(z)
        peak, where = flat.max(dim=dim)  # (B, C): the peak and its one element
        peak = peak.clamp(min=0)
        gate: float | torch.Tensor
        saved: tuple[torch.Tensor, ...] = ()
        if weight is None:
            gate = delta
            cap = (gate * peak)[:, :, None, None]
            y = torch.clamp(z, z.new_zeros(()), cap)
        else:
            y = F.relu(z)
            gap = y.mean(dim=(2, 3))
            gate = torch.sigmoid(gap @ weight.t())  # (B, C)
            cap = (gate * peak)[:, :, None, None]
            torch.minimum(y, cap, out=y)
            saved = (gate, gap, weight)
        ctx.save_for_backward(z, cap, where, peak, *saved)
        ctx.delta = delta
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        z, cap, where, peak, *gated = ctx.saved_tensors
        # up to the cap (ties included) to z: written into the one fresh tensor, which the
        # rest updates in place
        below = torch.sub(cap, z)
        grad_z = torch.ops.aten.threshold_backward.grad_input(grad, below, _TIE,
                                                              grad_input=below)
        above = grad.sum(dim=(2, 3)) - grad_z.sum(dim=(2, 3))  # (B, C): to the cap
        grad_weight = None
        if gated:
            gate, gap, weight = gated
            grad_logit = above * peak * gate * (1 - gate)  # through the sigmoid
            # under autocast the forward ran in bf16/fp16 (backward runs outside it): the
            # gate's weight keeps its own dtype
            grad_weight = (grad_logit.t() @ gap.to(grad_logit.dtype)).to(weight.dtype)
            grad_gap = grad_logit @ weight.to(grad_logit.dtype)  # (B, C), through the mean
            grad_z.add_((grad_gap / (z.shape[2] * z.shape[3]))[:, :, None, None])
            gate_scale = gate
        else:
            gate_scale = ctx.delta
        torch.ops.aten.threshold_backward.grad_input(grad_z, z, 0.0, grad_input=grad_z)  # ReLU
        if not _spatial_viewable(grad_z):
            grad_z = grad_z.contiguous()
        flat, dim = _spatial(grad_z)  # a view: the scatter lands in grad_z
        flat.scatter_add_(dim, where.unsqueeze(dim), (gate_scale * above).unsqueeze(dim))
        return grad_z, None, grad_weight


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
