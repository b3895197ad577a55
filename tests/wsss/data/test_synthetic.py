from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.data import synthetic
from wsss.data.synthetic import PRESETS, generate
from wsss.data.voc import VocLayout, load_records


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_writes_the_voc_layout(tiny_root: Path) -> None:
    p = PRESETS["tiny"]
    lists = tiny_root / "ImageSets" / "Segmentation"
    for name in ("train_aug", "train", "val", "test", "trainval", "train_aug_cls", "train_cls",
                 "val_cls", "test_cls"):
        assert (lists / f"{name}.txt").exists(), name
    images = p.n_train + 2 * p.n_val  # test: as many as val
    assert len(list((tiny_root / "JPEGImages").glob("*.jpg"))) == images
    assert len(list((tiny_root / "SegmentationClassAug").glob("*.png"))) == images
    # VOC's own masks exist for train (the subset), val and the held-out test
    assert len(list((tiny_root / "SegmentationClass").glob("*.png"))) == \
        p.n_train_subset + 2 * p.n_val
    meta = json.loads((tiny_root / "wsss_dataset.json").read_text())
    assert len(meta["classes"]) == p.classes + 1 and meta["classes"][0] == "background"
    assert "seconds" not in meta  # the file must not depend on timing (same seed, same bytes)


def test_file_formats(tiny_root: Path) -> None:
    name = "2026_000003"
    with Image.open(tiny_root / "SegmentationClass" / f"{name}.png") as voc:
        assert voc.mode == "P"
        voc_mask = np.asarray(voc)
    with Image.open(tiny_root / "SegmentationClassAug" / f"{name}.png") as aug:
        assert aug.mode == "L"
        aug_mask = np.asarray(aug)
    with Image.open(tiny_root / "saliency_map" / f"{name}.png") as sal:
        assert sal.mode == "L"
    with Image.open(tiny_root / "JPEGImages" / f"{name}.jpg") as img:
        assert img.format == "JPEG" and img.size == (64, 64)
    assert 255 in voc_mask and 255 not in aug_mask  # VOC draws 255 outlines, SBD does not
    same = voc_mask != 255
    np.testing.assert_array_equal(voc_mask[same], aug_mask[same])


def test_both_label_formats_agree_with_the_masks(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    for split in ("train_aug", "val", "test"):
        from_list = load_records(layout, split, "list")
        assert from_list == load_records(layout, split, "npy")
        assert from_list == load_records(layout, split, "masks")
        assert all(r.labels for r in from_list)


def test_same_seed_same_bytes_any_worker_count(tmp_path: Path) -> None:
    params = dataclasses.replace(PRESETS["tiny"], n_train=230, n_val=10)  # enough for a pool
    a = generate(tmp_path / "a", seed=3, params=params, workers=1)
    b = generate(tmp_path / "b", seed=3, params=params, workers=2)
    generate(tmp_path / "c", seed=4, params=params, workers=2)
    assert a["splits"] == b["splits"]
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


def test_existing_dataset_is_kept_or_refused(tiny_copy: Path) -> None:
    before = _tree_digest(tiny_copy)
    assert generate(tiny_copy, "tiny", seed=0)["reused"] is True
    assert _tree_digest(tiny_copy) == before
    with pytest.raises(FileExistsError, match="different dataset"):
        generate(tiny_copy, "tiny", seed=1)
    assert _tree_digest(tiny_copy) == before


def test_test_split_is_held_out_on_its_own_seed_stream(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    val = [r.name for r in load_records(layout, "val", "list")]
    test = [r.name for r in load_records(layout, "test", "list")]
    assert len(test) == len(val) and not set(test) & set(val)
    trainval = (tiny_root / "ImageSets" / "Segmentation" / "trainval.txt").read_text().split()
    assert not set(test) & set(trainval)  # never in a list a stage trains or selects on
    # index i of val and of test are different draws, not copies
    for a, b in zip(val[:4], test[:4], strict=True):
        assert (tiny_root / "JPEGImages" / f"{a}.jpg").read_bytes() != \
            (tiny_root / "JPEGImages" / f"{b}.jpg").read_bytes()


def test_an_older_format_is_regenerated_with_the_same_images(tiny_copy: Path) -> None:
    """A version-1 folder (before `test`) is upgraded in place: train and val bytes unchanged."""
    def digest(split: str) -> str:
        names = (tiny_copy / "ImageSets" / "Segmentation" / f"{split}.txt").read_text().split()
        h = hashlib.sha256()
        for n in names:
            for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClassAug", "png"),
                                ("saliency_map", "png")):
                h.update((tiny_copy / folder / f"{n}.{ext}").read_bytes())
        return h.hexdigest()

    before = {s: digest(s) for s in ("train_aug", "val")}
    meta_path = tiny_copy / "wsss_dataset.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = 1
    del meta["params"]["n_test"]
    meta_path.write_text(json.dumps(meta))
    (tiny_copy / "ImageSets" / "Segmentation" / "test.txt").unlink()
    out = generate(tiny_copy, "tiny", seed=0)
    assert not out.get("reused") and out["version"] == synthetic.FORMAT_VERSION
    assert {s: digest(s) for s in before} == before
    assert (tiny_copy / "ImageSets" / "Segmentation" / "test.txt").exists()
    meta["version"], meta["seed"] = 1, 5  # another seed's older folder: not ours to rewrite
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(FileExistsError, match="different dataset"):
        generate(tiny_copy, "tiny", seed=0)


def test_failed_generation_leaves_nothing_behind(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:  # every image is written, then the lists fail
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_write_lists", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(tmp_path / "out", "tiny", workers=1)
    assert list(tmp_path.iterdir()) == []


def test_saliency_is_informative_but_imperfect(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    fg_sal, bg_sal = [], []
    for rec in load_records(layout, "train_aug"):
        mask = np.asarray(Image.open(layout.mask_path(rec.name)))
        sal = np.asarray(Image.open(layout.saliency_path(rec.name))) / 255.0
        fg_sal.append(sal[mask > 0])
        bg_sal.append(sal[mask == 0])
    fg, bg = np.concatenate(fg_sal), np.concatenate(bg_sal)
    assert fg.mean() > 0.6 and bg.mean() < 0.15
    assert (fg < 0.2).mean() > 0.005  # holes: some object pixels look like background
    assert (bg > 0.2).mean() > 0.005  # false blobs: some background looks salient


def test_objects_vary_in_scale_and_heads_are_small(tiny_root: Path) -> None:
    layout = VocLayout.open(tiny_root)
    areas = []
    for rec in load_records(layout, "train_aug"):
        mask = np.asarray(Image.open(layout.mask_path(rec.name)))
        areas += [int((mask == c + 1).sum()) for c in rec.labels]
    areas = np.array(areas) / 64**2
    assert areas.max() / areas.min() > 6  # both small and large objects


def test_class_head_colour_is_the_discriminative_cue(tiny_root: Path) -> None:
    """Each class's head hue is distinct: the saturated pixels of an object name its class."""
    layout = VocLayout.open(tiny_root)
    hue_by_class: dict[int, list[float]] = {}
    for rec in load_records(layout, "train_aug"):
        if len(rec.labels) != 1:
            continue
        img = Image.open(layout.image_path(rec.name)).convert("HSV")
        hsv = np.asarray(img).reshape(-1, 3)
        mask = np.asarray(Image.open(layout.mask_path(rec.name))).reshape(-1)
        sat = hsv[(mask > 0) & (hsv[:, 1] > 200) & (hsv[:, 2] > 200)]
        if len(sat):
            hue_by_class.setdefault(rec.labels[0], []).append(float(np.median(sat[:, 0])))
    medians = {c: np.median(h) for c, h in hue_by_class.items()}
    assert len(medians) >= 4
    values = sorted(medians.values())
    assert min(np.diff(values)) > 10  # hue units of 0-255: well separated
