from __future__ import annotations

import torch

from wsss.stages.refine import argmax_mask


def test_target_keeps_the_argmax_channel_and_ties() -> None:
    maps = torch.tensor([[[[0.2, 0.5, 0.0]], [[0.7, 0.5, 0.0]]]])  # (1, 2, 1, 3)
    target = argmax_mask(maps)
    expected = torch.tensor([[[[0.0, 0.5, 0.0]], [[0.7, 0.5, 0.0]]]])  # ties kept, zeros stay
    torch.testing.assert_close(target, expected)


def test_refined_maps_are_upsampled_once_straight_to_the_original_size() -> None:
    """DRS's ``vgg_refine.py`` upsamples the raw output once, to the size it is given; the
    chain through the input size first (this project before) moves some pixels' labels."""
    import torch.nn.functional as F

    from wsss.models.refine import build_refiner
    from wsss.ops.cam import multi_scale_maps_per_image

    torch.manual_seed(0)
    model = build_refiner("narrow", 3).eval()
    images, labels = torch.randn(2, 3, 64, 64), torch.ones(2, 3)
    sizes = [(75, 50), (41, 97)]

    def up(y: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(y, size=size, mode="bilinear", align_corners=True)

    with torch.no_grad():
        maps = multi_scale_maps_per_image(model.head, images, labels, sizes, scales=(1.0, 0.5),
                                          relu=False, normalize=False)
        half = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
        for i, size in enumerate(sizes):
            one_step = torch.maximum(up(model.head(images[i:i + 1]), size),
                                     up(model.head(half[i:i + 1]), size))[0]
            torch.testing.assert_close(maps[i], one_step)
            two_step = torch.maximum(up(model(images[i:i + 1]), size),
                                     up(model(half[i:i + 1]), size))[0]
            assert not torch.allclose(two_step, one_step, atol=1e-6)
        # training: the same single step, to the input's size
        torch.testing.assert_close(model(images), up(model.head(images), (64, 64)))
        torch.testing.assert_close(model(images, size=(75, 50)), up(model.head(images), (75, 50)))
