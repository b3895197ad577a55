from __future__ import annotations

import torch

from wsss.stages.refine import argmax_mask


def test_target_keeps_the_argmax_channel_and_ties() -> None:
    maps = torch.tensor([[[[0.2, 0.5, 0.0]], [[0.7, 0.5, 0.0]]]])  # (1, 2, 1, 3)
    target = argmax_mask(maps)
    expected = torch.tensor([[[[0.0, 0.5, 0.0]], [[0.7, 0.5, 0.0]]]])  # ties kept, zeros stay
    torch.testing.assert_close(target, expected)
