"""`data check` on the tiny benchmark: clean passes; each corruption fails naming its file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.cli import main
from wsss.data import check
from wsss.data.check import check_dataset
from wsss.data.voc import VocLayout

VAL = "2027_000004"
TRAIN = "2026_000007"


def _check(root: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["data", "check", str(root), "--workers", "1", *extra])
    return code, capsys.readouterr().out


def test_clean_dataset_passes(tiny_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _check(tiny_root, capsys)
    assert code == 0, out
    assert "problems: 0" in out and "train_aug" in out and "crimson" in out


def test_corrupt_image_fails_naming_it(tiny_copy: Path, capsys) -> None:
    path = tiny_copy / "JPEGImages" / f"{VAL}.jpg"
    path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
    code, out = _check(tiny_copy, capsys)
    assert code == 1 and f"{path}: corrupt image" in out


def test_deleted_mask_fails_naming_it(tiny_copy: Path, capsys) -> None:
    path = tiny_copy / "SegmentationClassAug" / f"{TRAIN}.png"
    path.unlink()
    code, out = _check(tiny_copy, capsys)
    assert code == 1 and f"{path}: mask not found" in out


def test_class_id_42_fails_naming_the_mask(tiny_copy: Path, capsys) -> None:
    path = tiny_copy / "SegmentationClassAug" / f"{VAL}.png"
    mask = np.array(Image.open(path))
    mask[10, 10] = 42
    Image.fromarray(mask, "L").save(path)
    code, out = _check(tiny_copy, capsys, "--split", "val")
    assert code == 1 and f"{path}: class id 42 outside 0..8 and 255" in out


def test_mask_of_wrong_size_fails(tiny_copy: Path, capsys) -> None:
    path = tiny_copy / "SegmentationClass" / f"{VAL}.png"
    Image.fromarray(np.zeros((32, 64), np.uint8), "P").save(path)
    code, out = _check(tiny_copy, capsys)
    assert code == 1 and f"{path}: mask is 64x32, image is 64x64" in out


def test_listed_id_without_image_fails(tiny_copy: Path, capsys) -> None:
    lst = tiny_copy / "ImageSets" / "Segmentation" / "val_cls.txt"
    lst.write_text(lst.read_text() + "2027_999999 1 \n")
    code, out = _check(tiny_copy, capsys)
    assert code == 1 and "2027_999999.jpg: listed image not found" in out


def test_image_without_labels_fails(tiny_copy: Path, capsys) -> None:
    lst = tiny_copy / "ImageSets" / "Segmentation" / "train_cls.txt"
    lines = lst.read_text().splitlines()
    name = lines[0].split()[0]
    lst.write_text("\n".join([f"{name} ", *lines[1:]]) + "\n")
    code, out = _check(tiny_copy, capsys, "--split", "train")
    assert code == 1 and f"{name}.jpg: image has no labels" in out


def test_label_id_outside_range_fails(tiny_copy: Path, capsys) -> None:
    lst = tiny_copy / "ImageSets" / "Segmentation" / "val_cls.txt"
    lines = lst.read_text().splitlines()
    lst.write_text("\n".join([lines[0] + "8 ", *lines[1:]]) + "\n")
    code, out = _check(tiny_copy, capsys, "--split", "val")
    assert code == 1 and "val_cls.txt" in out and "class id 8 outside 0..7" in out


def test_npy_labels_are_checked_when_the_list_has_none(tiny_copy: Path) -> None:
    report = check_dataset(VocLayout.open(tiny_copy), ["trainval"], workers=1)
    assert report.ok and report.splits["trainval"].label_source == "npy"
    vectors = np.load(tiny_copy / "cls_labels.npy", allow_pickle=True).item()
    vectors["2027_000001"] = np.zeros(8, np.float32)
    np.save(tiny_copy / "cls_labels.npy", vectors, allow_pickle=True)
    report = check_dataset(VocLayout.open(tiny_copy), ["trainval"], workers=1)
    assert any("2027_000001.jpg: image has no labels" in p for p in report.problems)


def test_check_runs_over_processes(tiny_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "PARALLEL_MIN", 0)
    serial = check_dataset(VocLayout.open(tiny_root), workers=1)
    parallel = check_dataset(VocLayout.open(tiny_root), workers=2)
    assert parallel.problems == serial.problems == []
    np.testing.assert_array_equal(parallel.pixels_per_class, serial.pixels_per_class)


def test_missing_root_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code = main(["data", "check", str(tmp_path / "nowhere")])
    assert code == 2 and "dataset folder not found" in capsys.readouterr().err


def test_a_missing_folder_is_a_problem_for_the_pipelines_that_read_it(tiny_copy: Path,
                                                                      capsys) -> None:
    import shutil

    shutil.rmtree(tiny_copy / "saliency_map")
    code, out = _check(tiny_copy, capsys)  # the DRS pipeline reads saliency
    assert code == 1 and f"{tiny_copy / 'saliency_map'}: folder not found" in out
    code, out = _check(tiny_copy, capsys, "method=ssenet", "profile=tiny")  # SSENet does not
    assert code == 0, out


def test_a_configured_weights_file_is_read_before_any_trial(tiny_root: Path, tmp_path: Path,
                                                             capsys) -> None:
    """`wsss data check` with a config opens its weights files: a missing tensor and a wrong
    shape each get one line naming the file and the tensor (no 500 MB file needed: the first
    problem is reported)."""
    import torch

    from study.cli import main

    missing, wrong = tmp_path / "missing.pth", tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, missing)
    torch.save({"features.0.weight": torch.zeros(1, 3, 3, 3)}, wrong)
    base = ["data", "check", str(tiny_root), "profile=voc", "pretrain/source=file"]
    assert main([*base, f"pretrain/weights_file={missing}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {missing}: no tensor features.0.bias (25 of the 26 "
                   "classifier/arch=vgg16_d1's trunk needs are missing)")
    assert main([*base, f"pretrain/weights_file={wrong}"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {wrong}: tensor features.0.weight is 1 x 3 x 3 x 3, classifier/arch=vgg16_d1's"
        " trunk needs 64 x 3 x 3 x 3")
    segment = ["data", "check", str(tiny_root), "profile=quick", "segment/init=file",
               f"segment/weights_file={wrong}"]
    assert main(segment) == 2
    assert "segment/arch=largefov_narrow" in capsys.readouterr().err
