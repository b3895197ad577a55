"""``channels_last`` (a speed key) must not change what a network computes."""

from __future__ import annotations

import copy

import pytest
import torch

from wsss.models.affinity import AffinityNet
from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.runtime import place

NETS = {
    "classifier narrow, DRS learnable": lambda: build_classifier("narrow", 5, drs="learnable"),
    "classifier narrow_os8, DRS 0.55": lambda: build_classifier("narrow_os8", 5,
                                                                drs="constant"),
    "largefov_narrow": lambda: build_segmenter("largefov_narrow", 6),
    "aspp_narrow": lambda: build_segmenter("aspp_narrow", 6),
    "affinity narrow": lambda: AffinityNet(build_classifier("narrow", 5), (8, 8, 16)),
}


def _outputs(out):
    if isinstance(out, dict):
        return [out[k] for k in sorted(out)]
    return list(out) if isinstance(out, (tuple, list)) else [out]


@pytest.mark.parametrize("name", list(NETS))
def test_same_outputs_and_gradients_in_both_layouts(name: str) -> None:
    torch.manual_seed(0)
    base = NETS[name]().train()
    x = torch.randn(2, 3, 48, 48)
    results = []
    for channels_last in (False, True):
        net = place(copy.deepcopy(base), torch.device("cpu"), channels_last)
        torch.manual_seed(1)  # dropout
        outs = _outputs(net(x))
        sum(o.float().square().mean() for o in outs).backward()
        grads = [p.grad.contiguous() for p in net.parameters() if p.grad is not None]
        results.append(([o.detach().contiguous() for o in outs], grads))
        if channels_last:
            conv = next(m for m in net.modules() if isinstance(m, torch.nn.Conv2d))
            assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(results[1], results[0], rtol=1e-3, atol=1e-4)
