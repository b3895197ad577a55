from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss.artifacts import load_maps, load_marginals, save_maps, save_marginals
from wsss.ops.cam import (
    background_sweep_predictions,
    multi_scale_maps,
    multi_scale_maps_per_image,
    resize_maps,
)


def _fixed_net(maps: torch.Tensor):
    """A 'network' whose raw class maps are ``maps`` resized to a quarter of the input."""

    def net(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2] // 4, x.shape[3] // 4
        return torch.nn.functional.interpolate(maps, size=(h, w), mode="nearest")

    return net


def test_normalised_to_one_and_masked_by_label() -> None:
    raw = torch.rand(1, 3, 4, 4) * 5 - 1
    labels = torch.tensor([[1.0, 0.0, 1.0]])
    out = multi_scale_maps(_fixed_net(raw), torch.zeros(1, 3, 16, 16), labels, scales=(1.0,))
    assert out.shape == (1, 3, 16, 16) and (out >= 0).all()
    torch.testing.assert_close(out.amax(dim=(2, 3))[0, [0, 2]], torch.ones(2), atol=1e-4,
                               rtol=0)
    assert (out[0, 1] == 0).all()


def test_max_fusion_vs_sum_fusion_on_constructed_scales() -> None:
    calls = []

    def net(x: torch.Tensor) -> torch.Tensor:  # scale-dependent: left half at s=1, right at s=2
        calls.append(x.shape[-1])
        m = torch.zeros(1, 1, 4, 4)
        if x.shape[-1] == 8:
            m[..., :2] = 2.0
        else:
            m[..., 2:] = 1.0
        return m

    img, lab = torch.zeros(1, 3, 8, 8), torch.ones(1, 1)
    mx = multi_scale_maps(net, img, lab, scales=(1.0, 2.0), fusion="max", align_corners=True)
    sm = multi_scale_maps(net, img, lab, scales=(1.0, 2.0), fusion="sum", align_corners=True)
    assert calls == [8, 16, 8, 16]
    # max of per-scale-normalised maps: both halves reach 1 ; sum then normalise: 2 vs 1 -> 1, 0.5
    assert mx[0, 0, 4, 0] > 0.99 and mx[0, 0, 4, 7] > 0.99
    assert sm[0, 0, 4, 0] > 0.99 and abs(float(sm[0, 0, 4, 7]) - 0.5) < 0.01


def test_flip_passes_are_flipped_back() -> None:
    def net(x: torch.Tensor) -> torch.Tensor:  # responds to the bright left column only
        return (x[:, :1] > 0).float()

    img = torch.zeros(1, 3, 4, 4)
    img[..., 0] = 1.0
    out = multi_scale_maps(net, img, torch.ones(1, 1), flip=True, fusion="sum")
    assert out[0, 0, :, 0].min() > 0.99 and out[0, 0, :, 1:].max() < 1e-3


def test_storage_round_trip(tmp_path: Path) -> None:
    maps = np.array([[[0.0, 0.5], [0.999, 1.0]]], dtype=np.float32)
    save_maps(tmp_path / "a.wmap", maps, [2], "uint8")
    loaded = load_maps(tmp_path / "a.wmap", 4)
    assert loaded.shape == (4, 2, 2) and not loaded[[0, 1, 3]].any()
    np.testing.assert_array_equal(loaded[2] * 255, [[0, 127], [254, 255]])  # floor(x * 255)
    save_maps(tmp_path / "b.wmap", maps * 3 - 1, [0], "float16")
    np.testing.assert_allclose(load_maps(tmp_path / "b.wmap", 1)[0], maps[0] * 3 - 1, atol=2e-3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wmap", "b.wmap"]  # no temp left


def test_marginals_round_trip_with_their_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    la, ha = rng.random((3, 4, 5)), rng.random((3, 4, 5))
    save_marginals(tmp_path / "m.wmap", [4, 7], la, ha)
    classes, la2, ha2 = load_marginals(tmp_path / "m.wmap")
    assert classes.tolist() == [4, 7]
    np.testing.assert_array_equal(la2 * 255, np.floor(la * 255))
    np.testing.assert_array_equal(ha2 * 255, np.floor(ha * 255))


@pytest.mark.parametrize("damage", ["truncate", "flip", "foreign"])
def test_a_damaged_map_file_is_named(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "x.wmap"
    save_maps(path, np.random.default_rng(0).random((2, 8, 8)), [1, 3])
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:-5]
    elif damage == "flip":
        blob[-8] ^= 0xFF
    else:
        blob[:4] = b"PK\x03\x04"  # e.g. an old .npz renamed
    path.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="x.wmap: damaged map file"):
        load_maps(path, 4)


def test_background_sweep_ties_go_to_background() -> None:
    maps = np.array([[[0.3, 0.1]], [[0.2, 0.1]]], dtype=np.float32)
    preds = background_sweep_predictions(maps, (0.1, 0.25, 0.3))
    np.testing.assert_array_equal(preds[:, 0], [[1, 0], [1, 0], [0, 0]])


def test_sse_head_upsamples_before_the_relu() -> None:
    raw = torch.tensor([[[[-3.0, 1.0], [1.0, -3.0]]]])  # mixed signs: the order matters
    net, img, lab = _fixed_net(raw), torch.zeros(1, 3, 8, 8), torch.ones(1, 1)
    psa = multi_scale_maps(net, img, lab, fusion="sum", align_corners=False, normalize=False)
    sse = multi_scale_maps(net, img, lab, fusion="sum", align_corners=False, normalize=False,
                           head_upsample=True)
    expect = torch.relu(torch.nn.functional.interpolate(raw, size=(8, 8), mode="bilinear",
                                                        align_corners=False))
    torch.testing.assert_close(sse, expect)
    assert (psa - sse).abs().max() > 0.1  # ReLU at stride then upsampling keeps more mass
    bicubic = multi_scale_maps(net, torch.rand(1, 3, 8, 8), lab, scales=(0.5, 1.0),
                               input_resize="bicubic", fusion="sum")
    assert bicubic.shape == (1, 1, 8, 8)


def test_per_scale_upsampling_to_each_original_size() -> None:
    """DRS's refined maps: every scale's output goes straight to the image's original size,
    then max; image i of a batch equals a batch of one with that ``out_size``, and differs
    from fusing at the input size and resizing afterwards (max and bilinear do not commute)."""
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 3, 3, 3, generator=g)

    def net(x: torch.Tensor) -> torch.Tensor:  # stride 4, signed (refined maps are raw)
        return F.conv2d(F.avg_pool2d(x, 4), weight, padding=1)

    images, labels = torch.rand(2, 3, 16, 16, generator=g), torch.tensor([[1., 0, 1], [0, 1, 1]])
    sizes = [(21, 33), (9, 12)]
    kw = dict(scales=(0.75, 1.0, 1.25), fusion="max", relu=False, normalize=False)
    per_image = multi_scale_maps_per_image(net, images, labels, sizes, **kw)
    for i, size in enumerate(sizes):
        alone = multi_scale_maps(net, images[i:i + 1], labels[i:i + 1], out_size=size, **kw)[0]
        assert per_image[i].shape == (3, *size)
        torch.testing.assert_close(per_image[i], alone)
        assert per_image[i][labels[i] == 0].abs().max() == 0  # masked by the label
    fused_then_resized = resize_maps(multi_scale_maps(net, images[:1], labels[:1], **kw)[0],
                                     sizes[0], True)
    assert (fused_then_resized - per_image[0]).abs().max() > 1e-3
