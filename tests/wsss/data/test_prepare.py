"""`wsss data prepare voc` on miniature archives in the official formats: a VOCdevkit tar with
XML annotations and palette PNGs, an SBD tgz with MATLAB v5 GTcls structs, a saliency zip;
with an image in both VOC train and SBD, and a VOC val image inside SBD train."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.cli import main
from wsss.data.voc import load_cls_labels
from wsss.testing import MiniVoc, write_tar

MINI = MiniVoc()
VOC_TRAIN, VOC_VAL = list(MINI.voc_train), list(MINI.voc_val)
TRAIN_AUG = MINI.train_aug  # VOC train | SBD train | SBD val - VOC val
assert TRAIN_AUG == sorted({*VOC_TRAIN, "2008_000006", "2008_000007", "2008_000008",
                            "2008_000009"})


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return MINI.write(tmp_path_factory.mktemp("downloads"))


def _prepare(out: Path, downloads: dict[str, Path], *extra: str) -> int:
    return main(["data", "prepare", "voc", str(out), "--voc", str(downloads["voc"]), "--sbd",
                 str(downloads["sbd"]), "--saliency", str(downloads["saliency"]),
                 "--workers", "2", *extra])


def test_the_prepared_set_follows_the_official_recipe_image_by_image(
        downloads: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "VOC2012"
    assert _prepare(out, downloads) == 0
    lists = out / "ImageSets" / "Segmentation"
    read = lambda split: (lists / f"{split}.txt").read_text().split()  # noqa: E731
    assert read("train") == VOC_TRAIN and read("val") == VOC_VAL
    assert read("train_aug") == TRAIN_AUG  # VOC train | SBD train | SBD val - VOC val
    for name in TRAIN_AUG + VOC_VAL:
        ids = sorted({c - 1 for c in MINI.objects(name)})
        assert (out / "JPEGImages" / f"{name}.jpg").exists()
        aug = np.asarray(Image.open(out / "SegmentationClassAug" / f"{name}.png"))
        voc = name in VOC_TRAIN + VOC_VAL  # VOC's own mask wins, 255 kept
        assert np.array_equal(aug, MINI.mask(name, 0 if voc else 7)), name
        assert (np.asarray(Image.open(out / "saliency_map" / f"{name}.png")) > 0).any()
        line = f"{name} " + "".join(f"{c} " for c in ids)
        split = "val" if name in VOC_VAL else "train_aug"
        assert line in (lists / f"{split}_cls.txt").read_text().splitlines()
    for name in VOC_TRAIN + VOC_VAL:  # VOC's palette PNGs as they were
        image = Image.open(out / "SegmentationClass" / f"{name}.png")
        assert image.mode == "P" and np.array_equal(np.asarray(image), MINI.mask(name, 0))
    labels = load_cls_labels(out / "cls_labels.npy")  # the project's restricted reader
    assert sorted(labels) == sorted(TRAIN_AUG + VOC_VAL)
    for name, vec in labels.items():
        assert sorted(np.flatnonzero(vec).tolist()) == sorted({c - 1 for c in MINI.objects(name)})
    err = capsys.readouterr().err
    assert "warning: voc train has 3 images, the official archives give 1464" in err
    assert main(["data", "check", str(out)]) == 0  # and the DRS pipeline's needs are met
    assert main(["data", "check", str(out), "method=ssenet", "data/labels=npy",
                 "pretrain/source=synthetic"]) == 0  # (no weights file to check here)
    capsys.readouterr()
    assert _prepare(out, downloads) == 0  # a second run: nothing to do, and says so
    assert "already prepared" in capsys.readouterr().err


def test_an_extracted_folder_serves_as_well_as_the_archive(downloads: dict[str, Path],
                                                            tmp_path: Path) -> None:
    folder = tmp_path / "extracted"
    with tarfile.open(downloads["voc"]) as archive:
        archive.extractall(folder, filter="data")
    out = tmp_path / "from-folder"
    assert main(["data", "prepare", "voc", str(out), "--voc", str(folder), "--sbd",
                 str(downloads["sbd"]), "--workers", "1"]) == 0
    assert (out / "ImageSets/Segmentation/train_aug.txt").read_text().split() == TRAIN_AUG


def _refused(out: Path, capsys, *args: str) -> str:
    assert main(["data", "prepare", "voc", str(out), *args]) == 2
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.partial-*"))
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_bad_downloads_get_one_line_and_leave_nothing(downloads: dict[str, Path],
                                                       tmp_path: Path, capsys) -> None:
    good = ["--sbd", str(downloads["sbd"])]
    cut = tmp_path / "cut.tar"
    cut.write_bytes(downloads["voc"].read_bytes()[:9000])  # truncated mid-member
    line = _refused(tmp_path / "a", capsys, "--voc", str(cut), *good)
    assert str(cut) in line and "truncated or corrupt archive" in line
    noise = tmp_path / "noise.tgz"
    noise.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)  # gzip magic, then garbage
    line = _refused(tmp_path / "b", capsys, "--voc", str(downloads["voc"]), "--sbd", str(noise))
    assert str(noise) in line and "corrupt" in line
    no_gtcls = write_tar(tmp_path / "sbd-bad.tgz", MINI.sbd_files(broken="2008_000006"), "w:gz")
    line = _refused(tmp_path / "c", capsys, "--voc", str(downloads["voc"]), "--sbd",
                    str(no_gtcls))
    assert str(no_gtcls) in line and "cls/2008_000006.mat has no GTcls" in line
    files = MINI.voc_files()
    del files["VOCdevkit/VOC2012/JPEGImages/2007_000002.jpg"]
    missing = write_tar(tmp_path / "voc-missing.tar", files)
    line = _refused(tmp_path / "d", capsys, "--voc", str(missing), *good)
    assert "names 2007_000002, which has no image" in line
    files = MINI.voc_files()  # a mask the wrong size for its image
    files["VOCdevkit/VOC2012/SegmentationClass/2007_000001.png"] = MiniVoc(
        voc_train=("2007_000001",), size=(5, 5)).voc_files()[
        "VOCdevkit/VOC2012/SegmentationClass/2007_000001.png"]
    wrong = write_tar(tmp_path / "voc-size.tar", files)
    line = _refused(tmp_path / "e", capsys, "--voc", str(wrong), *good)
    assert "2007_000001.png" in line and "5 x 5" in line


def test_an_official_name_is_checked_against_the_published_md5(downloads: dict[str, Path],
                                                               tmp_path: Path,
                                                               capsys) -> None:
    named = tmp_path / "VOCtrainval_11-May-2012.tar"
    named.write_bytes(downloads["voc"].read_bytes())  # not the real one: its MD5 differs
    args = ["--voc", str(named), "--sbd", str(downloads["sbd"])]
    line = _refused(tmp_path / "f", capsys, *args)
    assert "MD5" in line and "6cd6e144f989b92b3379bac3b3de84fd" in line and "--no-verify" in line
    assert main(["data", "prepare", "voc", str(tmp_path / "g"), *args, "--no-verify"]) == 0
    assert "warning" in capsys.readouterr().err
