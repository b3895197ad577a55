from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from wsss.data.datasets import ClassificationDataset, InferenceDataset, SegmentationDataset
from wsss.data.transforms import Compose, HorizontalFlip, RandomCrop, ResizeSquare
from wsss.data.voc import (
    DataError,
    VocLayout,
    dataset_fingerprint,
    load_records,
    read_split_list,
)


def test_split_list_formats(tmp_path: Path) -> None:
    path = tmp_path / "l.txt"
    path.write_text("2007_000032 0 14 \n2007_000039\n"
                    "/JPEGImages/2007_000063.jpg /SegmentationClassAug/2007_000063.png\n"
                    "2007_000068 \n\n")
    assert read_split_list(path) == [
        ("2007_000032", (0, 14)), ("2007_000039", None), ("2007_000063", None),
        ("2007_000068", ()),  # a DRS line with no ids: an image without labels
    ]
    path.write_text("2007_000032 zero\n")
    with pytest.raises(DataError, match=r"l\.txt:1"):
        read_split_list(path)
    path.write_bytes(b"2007_000032 0 \r\n2007_000039 1 \r\n2007_000032 0 \r\n")  # CRLF, twice
    assert read_split_list(path) == [("2007_000032", (0,)), ("2007_000039", (1,))]
    for data, where in ((b"\xef\xbb\xbf2007_000032 0 \n", "l.txt:1: starts with a UTF-8 byte"),
                        (b"2007_000032 0 \n2007_\xff 1 \n", "l.txt:2: not UTF-8"),
                        (b"2007_000032 0 \n2007_000032 3 \n", "l.txt:2: 2007_000032 is listed "
                                                             "again with other labels")):
        path.write_bytes(data)
        with pytest.raises(DataError, match=re.escape(where)):
            read_split_list(path)


def test_layout_reads_class_names_and_splits(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    assert layout.num_classes == 8
    assert layout.splits() == ["test", "train", "train_aug", "trainval", "val"]
    assert layout.list_path("train_aug").name == "train_aug_cls.txt"  # DRS list preferred
    with pytest.raises(DataError, match="nope"):
        layout.list_path("nope")
    with pytest.raises(DataError, match="not found"):
        VocLayout.open(tiny_root / "missing")


def test_voc_defaults_without_metadata(tmp_path: Path) -> None:
    layout = VocLayout.open(tmp_path)
    assert layout.num_classes == 20 and layout.classes[15] == "person"


def test_classification_dataset(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    records = load_records(layout, "train_aug")
    ds = ClassificationDataset(layout, records)
    image, label = ds[0]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert label.shape == (8,) and label.sum() == len(records[0].labels)
    assert torch.equal(torch.nonzero(label).flatten(), torch.tensor(records[0].labels))
    assert -3 < float(image.mean()) < 3  # normalised, not 0-255


def test_segmentation_dataset_with_external_mask_dir(tiny_root: Path, tmp_path: Path) -> None:
    layout = VocLayout.open(tiny_root)
    records = load_records(layout, "val")
    image, mask = SegmentationDataset(layout, records)[1]
    assert image.shape == (3, 64, 64) and mask.shape == (64, 64) and mask.dtype == torch.int64
    assert set(mask.unique().tolist()) <= {0, *[c + 1 for c in records[1].labels]}
    pseudo = np.full((64, 64), 255, np.uint8)
    Image.fromarray(pseudo, "L").save(tmp_path / f"{records[1].name}.png")
    _, mask2 = SegmentationDataset(layout, records, mask_dir=tmp_path)[1]
    assert (mask2 == 255).all()  # pseudo labels from a stage folder, not the dataset


def test_inference_dataset(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    records = load_records(layout, "train")
    item = InferenceDataset(layout, records, with_mask=True, gt_dir="SegmentationClass")[2]
    assert item["name"] == records[2].name and item["size"] == (64, 64)
    assert item["saliency"].shape == (64, 64) and item["saliency"].dtype == torch.uint8
    assert item["mask"].shape == (64, 64) and 255 in item["mask"]  # VOC boundaries


def test_mask_of_wrong_size_is_named(tiny_copy: Path) -> None:
    layout = VocLayout.open(tiny_copy)
    records = load_records(layout, "val")
    path = layout.mask_path(records[0].name)
    Image.fromarray(np.zeros((10, 12), np.uint8), "L").save(path)
    with pytest.raises(DataError, match=f"{path.name}.*12x10"):
        SegmentationDataset(layout, records)[0]


def test_joint_transforms_keep_image_mask_saliency_and_maps_aligned(tiny_root: Path) -> None:
    """Paint the image with the class colour, then check every transformed pixel agrees."""
    layout = VocLayout.open(tiny_root)
    mask = np.asarray(Image.open(layout.mask_path("2026_000005")))
    colours = np.random.default_rng(0).integers(0, 256, (256, 3), dtype=np.uint8)
    colours[255] = (7, 7, 7)
    onehot = (mask[None] == np.arange(9)[:, None, None]).astype(np.float32)
    sample = {"image": colours[mask], "mask": mask, "saliency": (mask > 0).astype(np.uint8) * 200,
              "maps": onehot}
    pipeline = Compose([ResizeSquare(96), HorizontalFlip(1.0),
                        RandomCrop(112, image_fill=(7,) * 3)])
    out = pipeline(sample, np.random.default_rng(1))
    assert out["image"].shape == (112, 112, 3) and out["maps"].shape == (9, 112, 112)
    m = out["mask"]
    valid = m != 255
    assert (~valid).any() and valid.mean() > 0.5  # crop larger than image: padded with 255
    agree_img = (out["image"][valid] == colours[m[valid]]).all(axis=1).mean()
    agree_map = (out["maps"].argmax(0)[valid] == m[valid]).mean()
    agree_sal = ((out["saliency"][valid] > 100) == (m[valid] > 0)).mean()
    assert agree_img > 0.95 and agree_map > 0.95 and agree_sal > 0.95  # only edges may differ
    assert (out["saliency"][~valid] == 0).all() and (out["maps"][:, ~valid] == 0).all()


def test_augmentation_depends_on_seed_epoch_index_only(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    records = load_records(layout, "train_aug")
    aug = Compose([HorizontalFlip(0.5), RandomCrop(48)])
    ds = ClassificationDataset(layout, records, aug, seed=1)
    first = ds[3][0]
    assert torch.equal(first, ClassificationDataset(layout, records, aug, seed=1)[3][0])
    ds.set_epoch(1)
    assert not torch.equal(first, ds[3][0])


def test_fingerprint_changes_with_content(tiny_copy: Path) -> None:
    layout = VocLayout.open(tiny_copy)
    before = dataset_fingerprint(layout)
    assert dataset_fingerprint(layout) == before
    (tiny_copy / "ImageSets" / "Segmentation" / "val.txt").write_text("2027_000000\n")
    assert dataset_fingerprint(layout) != before


def test_random_resize_long_keeps_aspect_and_range() -> None:
    from wsss.data.transforms import RandomResizeLong, RandomScale

    sample = {"image": np.zeros((30, 60, 3), np.uint8), "mask": np.zeros((30, 60), np.uint8)}
    for seed in range(5):
        out = RandomResizeLong(90, 120)(sample, np.random.default_rng(seed))
        h, w = out["image"].shape[:2]
        assert 90 <= w <= 120 and abs(w / h - 2.0) < 0.05 and out["mask"].shape == (h, w)
    scaled = RandomScale(0.5, 0.5)(sample, np.random.default_rng(0))
    assert scaled["image"].shape[:2] == (15, 30)


class _RunsCode:
    """What a crafted dataset file would carry: unpickling it calls a function."""

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))

    def __init__(self, target: str) -> None:
        self.target = target


def test_a_crafted_pickle_in_cls_labels_does_not_run(tmp_path: Path) -> None:
    from wsss.data.voc import DataError, load_cls_labels

    good = tmp_path / "good.npy"
    np.save(good, {"2007_000032": np.array([1, 0, 1], np.float32)})
    assert load_cls_labels(good)["2007_000032"].tolist() == [1.0, 0.0, 1.0]
    evil, marker = tmp_path / "evil.npy", tmp_path / "ran"
    crafted = np.empty((), dtype=object)
    crafted[()] = {"2007_000032": _RunsCode(str(marker))}
    np.save(evil, crafted, allow_pickle=True)
    with pytest.raises(DataError, match="evil.npy.*refusing to load"):
        load_cls_labels(evil)
    assert not marker.exists()  # nothing ran
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(DataError, match="plain.npy"):
        load_cls_labels(tmp_path / "plain.npy")
