"""AffinityNet (docs/method.md, "AffinityNet", psa ``network/resnet38_aff.py``) and its pair loss.

Ahn & Kwak, "Learning Pixel-level Semantic Affinity with Image-level Supervision for Weakly
Supervised Semantic Segmentation", CVPR 2018, arXiv:1803.10464 (AffinityNet and its
class-balanced pair loss).

Three 1x1 heads (no bias, ELU) read the backbone's three feature levels, their concatenation
goes through one more 1x1 conv + ELU: the affinity features f. The affinity of a pair is
``exp(-mean_c |f_i - f_j|)`` over the 34 radius-5 offsets (``wsss.ops.pairs``).

Pair labels come from the la/ha confident-region map (0 background, k > 0 a class, 255
unknown)::

    bg  = from == to == 0            fg = from == to != 0, both known
    neg = from != to, both known
    loss = bg_loss / 4 + fg_loss / 4 + neg_loss / 2
    bg_loss = sum(-log(a + 1e-5) * bg) / (sum(bg) + 1e-5)     (fg likewise)
    neg_loss = sum(-log(1 + 1e-5 - a) * neg) / (sum(neg) + 1e-5)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from wsss.models.classifier import Classifier
from wsss.ops.pairs import pair_affinities, pair_values

EPS = 1e-5
IGNORE = 255


class AffinityNet(nn.Module):
    """``backbone.levels(x)`` -> heads of ``dims`` channels -> f (sum(dims) channels)."""

    def __init__(self, backbone: Classifier, dims: Sequence[int] = (64, 128, 256)) -> None:
        super().__init__()
        self.backbone = backbone
        self.output_stride = backbone.output_stride
        heads = [nn.Conv2d(c, d, 1, bias=False)
                 for c, d in zip(backbone.level_channels, dims, strict=True)]
        self.heads = nn.ModuleList(heads)
        self.f9 = nn.Conv2d(sum(dims), sum(dims), 1, bias=False)
        for head in heads:
            nn.init.kaiming_normal_(head.weight)
        nn.init.xavier_uniform_(self.f9.weight, gain=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        levels = self.backbone.levels(x)
        f = torch.cat([F.elu(head(t)) for head, t in zip(self.heads, levels, strict=True)], 1)
        return F.elu(self.f9(f))

    def affinities(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 34, h-4, w-8) pair affinities at the output stride."""
        return pair_affinities(self(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Backbone weights x1, biases x2; the new heads x10 (psa's groups)."""
        groups: dict[str, list[nn.Parameter]] = {"backbone_w": [], "backbone_b": [],
                                                 "new_w": [], "new_b": []}
        for name, p in self.named_parameters():
            if not p.requires_grad or name.startswith(("backbone.classifier",
                                                       "backbone.fc8")):
                continue  # frozen, or the classifier's head, which AffinityNet never uses
            kind = "b" if name.endswith("bias") else "w"
            groups[f"{'backbone' if name.startswith('backbone') else 'new'}_{kind}"].append(p)
        return groups


def pair_labels(label: torch.Tensor) -> dict[str, torch.Tensor]:
    """(B, h, w) int labels -> float masks (B, 34, h-4, w-8): ``bg``, ``fg``, ``neg``."""
    src, dst = pair_values(label)
    known = (src != IGNORE) & (dst != IGNORE)
    same = src == dst
    return {"bg": (same & (src == 0)).float(), "fg": (same & (src != 0) & known).float(),
            "neg": (~same & known).float()}


def affinity_loss(aff: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor,
                                                                    dict[str, torch.Tensor]]:
    """The weighted bg / fg / neg loss of predicted affinities against pair labels."""
    masks = pair_labels(label)
    parts = {
        "bg": (-torch.log(aff + EPS) * masks["bg"]).sum() / (masks["bg"].sum() + EPS),
        "fg": (-torch.log(aff + EPS) * masks["fg"]).sum() / (masks["fg"].sum() + EPS),
        "neg": (-torch.log(1 + EPS - aff) * masks["neg"]).sum() / (masks["neg"].sum() + EPS),
    }
    return parts["bg"] / 4 + parts["fg"] / 4 + parts["neg"] / 2, parts
