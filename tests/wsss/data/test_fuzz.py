"""A fuzz corpus of one-defect datasets and bad configs, as a new user would make them.

Each case goes through the real command line (`wsss run`): it must exit non-zero with one
line on stderr that names the file or key, and no traceback, before any stage trains.
Benign variants (grayscale and CMYK JPEGs, CRLF lists, a gray saliency map saved as RGB, an
id listed twice with the same labels) must pass `wsss data check` and run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.cli import main

TRAIN, VAL = "2026_000007", "2027_000004"  # in train_aug (and train) / in val
LISTS = "ImageSets/Segmentation"


def _img(root: Path, folder: str, name: str = VAL, ext: str = "png") -> Path:
    return root / folder / f"{name}.{ext}"


def _edit_png(path: Path, fn: Callable[[np.ndarray], np.ndarray], mode: str = "L") -> None:
    Image.fromarray(fn(np.array(Image.open(path)))).convert(mode).save(path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _replace_line(path: Path, name: str, new: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(new if ln.split()[:1] == [name.encode()] else ln for ln in lines))


def _sixteen_bit(path: Path) -> None:
    arr = np.array(Image.open(path).convert("L")).astype(np.uint16) * 257
    Image.fromarray(arr).save(path)  # mode I;16


def _evil_npy(root: Path) -> Path:
    class RunsCode:
        def __reduce__(self):
            return (Path.touch, (root / "ran",))

    crafted = np.empty((), dtype=object)
    crafted[()] = {VAL: RunsCode()}
    np.save(root / "cls_labels.npy", crafted, allow_pickle=True)
    return root / "cls_labels.npy"


def _npy_edit(root: Path, fn: Callable[[dict], None]) -> Path:
    from wsss.data.voc import load_cls_labels

    labels = load_cls_labels(root / "cls_labels.npy")
    fn(labels)
    np.save(root / "cls_labels.npy", labels)
    return root / "cls_labels.npy"


def _big_jpeg(path: Path) -> None:
    Image.new("L", (7100, 7100)).save(path, quality=10)  # 50.4 megapixels


# (name, defect(root) -> the text stderr must name, extra overrides)
DATASET_DEFECTS: list[tuple[str, Callable[[Path], str], tuple[str, ...]]] = [
    ("no JPEGImages", lambda r: shutil.rmtree(r / "JPEGImages") or str(r / "JPEGImages"), ()),
    ("no SegmentationClassAug", lambda r: shutil.rmtree(r / "SegmentationClassAug")
     or str(r / "SegmentationClassAug"), ()),
    ("no saliency_map", lambda r: shutil.rmtree(r / "saliency_map") or str(r / "saliency_map"),
     ()),
    ("no ImageSets", lambda r: shutil.rmtree(r / "ImageSets") or "train_aug", ()),
    ("no train_aug list", lambda r: [(r / LISTS / f).unlink() for f in
                                     ("train_aug.txt", "train_aug_cls.txt")] and "train_aug", ()),
    ("no val list", lambda r: [(r / LISTS / f).unlink() for f in ("val.txt", "val_cls.txt")]
     and "val.txt", ()),
    ("empty train_aug", lambda r: _write(r / LISTS / "train_aug_cls.txt", b"")
     or f"{r / LISTS / 'train_aug_cls.txt'}: no images listed", ()),
    ("empty val", lambda r: _write(r / LISTS / "val_cls.txt", b"\n\n")
     or f"{r / LISTS / 'val_cls.txt'}: no images listed", ()),
    ("BOM", lambda r: _write(r / LISTS / "val_cls.txt", b"\xef\xbb\xbf"
                             + (r / LISTS / "val_cls.txt").read_bytes())
     or f"{r / LISTS / 'val_cls.txt'}:1", ()),
    ("not UTF-8", lambda r: _replace_line(r / LISTS / "val_cls.txt", VAL, b"2027_\xff 1 \n")
     or f"{r / LISTS / 'val_cls.txt'}:5: not UTF-8", ()),
    ("malformed line", lambda r: _replace_line(r / LISTS / "val_cls.txt", VAL,
                                               f"{VAL} one \n".encode())
     or f"{r / LISTS / 'val_cls.txt'}:5", ()),
    ("conflicting duplicate", lambda r: _write(r / LISTS / "val_cls.txt", (
        r / LISTS / "val_cls.txt").read_bytes() + f"{VAL} 7 \n".encode())
     or f"{VAL} is listed again with other labels", ()),
    ("label-less line", lambda r: _replace_line(r / LISTS / "val_cls.txt", VAL,
                                                f"{VAL} \n".encode()) or f"{VAL}", ()),
    ("class id 99", lambda r: _replace_line(r / LISTS / "val_cls.txt", VAL,
                                            f"{VAL} 99 \n".encode()) or "class id 99", ()),
    ("class id -1", lambda r: _replace_line(r / LISTS / "val_cls.txt", VAL,
                                            f"{VAL} -1 \n".encode()) or "class id -1", ()),
    ("image deleted", lambda r: _img(r, "JPEGImages", ext="jpg").unlink()
     or f"{_img(r, 'JPEGImages', ext='jpg')}: listed image not found", ()),
    ("image truncated", lambda r: _truncate(_img(r, "JPEGImages", ext="jpg"))
     or f"{_img(r, 'JPEGImages', ext='jpg')}: corrupt image", ()),
    ("image empty", lambda r: _write(_img(r, "JPEGImages", TRAIN, "jpg"), b"")
     or f"{_img(r, 'JPEGImages', TRAIN, 'jpg')}: corrupt image", ()),
    ("image is text", lambda r: _write(_img(r, "JPEGImages", TRAIN, "jpg"), b"not a jpeg\n")
     or f"{_img(r, 'JPEGImages', TRAIN, 'jpg')}: corrupt image", ()),
    ("image 50 megapixels", lambda r: _big_jpeg(_img(r, "JPEGImages", ext="jpg"))
     or f"{_img(r, 'JPEGImages', ext='jpg')}: 7100x7100 is over the 50-megapixel", ()),
    ("train mask deleted", lambda r: _img(r, "SegmentationClassAug", TRAIN).unlink()
     or f"{_img(r, 'SegmentationClassAug', TRAIN)}: mask not found", ()),
    ("val mask deleted", lambda r: _img(r, "SegmentationClassAug").unlink()
     or f"{_img(r, 'SegmentationClassAug')}: mask not found", ()),
    ("mask truncated", lambda r: _truncate(_img(r, "SegmentationClassAug"))
     or f"{_img(r, 'SegmentationClassAug')}: corrupt mask", ()),
    ("mask wrong size", lambda r: Image.new("L", (32, 64)).save(_img(r, "SegmentationClassAug"))
     or f"{_img(r, 'SegmentationClassAug')}: mask is 32x64", ()),
    ("mask class 42", lambda r: _edit_png(_img(r, "SegmentationClassAug"),
                                          lambda m: np.where(m == 0, 42, m).astype(np.uint8))
     or f"{_img(r, 'SegmentationClassAug')}: class id 42", ()),
    ("mask 16-bit", lambda r: _sixteen_bit(_img(r, "SegmentationClassAug"))
     or f"{_img(r, 'SegmentationClassAug')}: mask must be an 8-bit", ()),
    ("mask RGB", lambda r: _edit_png(_img(r, "SegmentationClassAug"), lambda m: m, "RGB")
     or f"{_img(r, 'SegmentationClassAug')}: mask must be an 8-bit", ()),
    ("VOC mask deleted", lambda r: _img(r, "SegmentationClass").unlink()
     or f"{_img(r, 'SegmentationClass')}: mask not found", ()),
    ("VOC mask class 77", lambda r: _edit_png(_img(r, "SegmentationClass"),
                                              lambda m: np.where(m == 0, 77, m).astype(np.uint8),
                                              "P")
     or f"{_img(r, 'SegmentationClass')}: class id 77", ()),
    ("saliency deleted", lambda r: _img(r, "saliency_map", TRAIN).unlink()
     or f"{_img(r, 'saliency_map', TRAIN)}: saliency map not found", ()),
    ("saliency truncated", lambda r: _truncate(_img(r, "saliency_map"))
     or f"{_img(r, 'saliency_map')}: corrupt saliency", ()),
    ("saliency wrong size", lambda r: Image.new("L", (64, 20)).save(_img(r, "saliency_map"))
     or f"{_img(r, 'saliency_map')}: saliency is 64x20", ()),
    ("saliency 16-bit", lambda r: _sixteen_bit(_img(r, "saliency_map"))
     or f"{_img(r, 'saliency_map')}: saliency map must be 8-bit", ()),
    ("saliency colour", lambda r: _edit_png(
        _img(r, "saliency_map"), lambda s: np.stack([s, s // 2, s], -1).astype(np.uint8), "RGB")
     or f"{_img(r, 'saliency_map')}: saliency map is colour", ()),
    ("metadata corrupt", lambda r: _write(r / "wsss_dataset.json", b"{not json")
     or str(r / "wsss_dataset.json"), ()),
    ("crafted cls_labels.npy", lambda r: str(_evil_npy(r)), ("data/labels=npy",)),
    ("no cls_labels.npy", lambda r: (r / "cls_labels.npy").unlink() or str(r / "cls_labels.npy"),
     ("data/labels=npy",)),
    ("cls_labels.npy lacks an image", lambda r: str(_npy_edit(r, lambda d: d.pop(VAL)))
     + f": no labels for {VAL}", ("data/labels=npy",)),
    ("cls_labels.npy wrong length", lambda r: str(_npy_edit(
        r, lambda d: d.update({VAL: np.ones(5, np.float32)}))) + f": {VAL} has 5 labels",
     ("data/labels=npy",)),
    ("cls_labels.npy all zero", lambda r: _npy_edit(
        r, lambda d: d.update({VAL: np.zeros(8, np.float32)})) and f"{VAL}",
     ("data/labels=npy",)),
    ("SSENet scoring masks missing", lambda r: shutil.rmtree(r / "SegmentationClass")
     or str(r / "SegmentationClass"), ("scoring/gt_dir=SegmentationClass",)),
    ("saliency folder misnamed", lambda r: str(r / "saliency"), ("data/saliency_dir=saliency",)),
    ("psa list line, image gone", lambda r: _write(r / LISTS / "val_cls.txt",
                                                   f"/JPEGImages/{VAL}.jpg x.png\n".encode())
     or "val_cls.txt", ()),
]

# (overrides or a YAML file's text, the text stderr must name)
CONFIG_DEFECTS: list[tuple[tuple[str, ...], str]] = [
    (("foo=1",), "'foo'"), (("classifier/lrr=1",), "classifier/lrr"),
    (("data2/root=x",), "data2/root"), (("pseudo_labels/alpha=1.5",), "pseudo_labels/alpha"),
    (("pseudo_labels/alpha=-0.5",), "pseudo_labels/alpha"), (("pseudo_labels/beta=2",),
                                                             "pseudo_labels/beta"),
    (("pseudo_labels/conflict_conf=1.2",), "pseudo_labels/conflict_conf"),
    (("pseudo_labels/conflict_count=-1",), "pseudo_labels/conflict_count"),
    (("pretrain/epochs=0",), "pretrain/epochs"), (("pretrain/lr=0",), "pretrain/lr"),
    (("pretrain/batch_size=0",), "pretrain/batch_size"), (("classifier/lr=-1",), "classifier/lr"),
    (("classifier/epochs=0",), "classifier/epochs"),
    (("classifier/batch_size=0",), "classifier/batch_size"),
    (("classifier/crop=0",), "classifier/crop"), (("classifier/drs_delta=0",), "drs_delta"),
    (("classifier/drs_delta=1.5",), "drs_delta"), (("classifier/drs=maybe",), "classifier/drs"),
    (("classifier/drs_layers=[layer9]",), "drs_layers"),
    (("classifier/ser_rate=1.5",), "ser_rate"),
    (("classifier/scale_range=[500, 400]",), "scale_range"),
    (("classifier/arch=vgg99",), "classifier/arch"),
    (("classifier/momentum=-0.1",), "classifier/momentum"),
    (("classifier/decay_epochs=[0]",), "classifier/decay_epochs"),
    (("cams/scales=[]",), "cams/scales"), (("cams/scales=[0.5, -1]",), "cams/scales"),
    (("cams/input_size=-1",), "cams/input_size"), (("cams/bg_score=1.5",), "cams/bg_score"),
    (("cams/fusion=mean",), "cams/fusion"), (("refine/epochs=0",), "refine/epochs"),
    (("refine/lr=0",), "refine/lr"), (("crf_labels/la_power=0",), "crf_labels/la_power"),
    (("affinity/epochs=0",), "affinity/epochs"), (("affinity/crop=0",), "affinity/crop"),
    (("random_walk/steps=-1",), "random_walk/steps"), (("random_walk/beta=0",), "random_walk/beta"),
    (("random_walk/bg_score=2",), "random_walk/bg_score"),
    (("segment/iterations=0",), "segment/iterations"),
    (("segment/checkpoint_every=0",), "segment/checkpoint_every"),
    (("segment/batch_size=0",), "segment/batch_size"), (("segment/arch=unet",), "segment/arch"),
    (("segment/scale_range=[1.5, 0.5]",), "segment/scale_range"),
    (("evaluate/workers=-2",), "evaluate/workers"), (("data/workers=-2",), "data/workers"),
    (("device=tpu9",), "device"), (("method=seam",), "method"), (("preset=fast",), "preset"),
    (("profile=huge",), "profile"), (("seed=abc",), "seed"),
    (("classifier/select=oracle",), "classifier/select"),
    (("yaml:seed: 1\nseed: 2\n",), ":2: key 'seed' is given twice"),
    (("yaml:data: [1,\n",), "YAML error"), (("yaml:- a\n- b\n",), "must be a mapping"),
    (("yaml:\x00\x01binary",), "binary"), (("yaml-dir",), "is a folder"),
    (("yaml-missing",), "config file not found"),
]


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_the_corpus_is_large_enough() -> None:
    assert len(DATASET_DEFECTS) >= 40 and len(CONFIG_DEFECTS) >= 40


@pytest.mark.parametrize("case", DATASET_DEFECTS, ids=[c[0] for c in DATASET_DEFECTS])
def test_a_dataset_defect_is_one_clear_error(case, tiny_copy: Path, tmp_path: Path,
                                             capsys) -> None:
    _, defect, extra = case
    named = defect(tiny_copy)
    code, err = _run(["run", "--cache", str(tmp_path / "cache"), "profile=tiny",
                      f"data/root={tiny_copy}", "data/workers=0", *extra], capsys)
    assert code != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and named in err, err
    assert not (tmp_path / "cache" / "pretrain").exists()  # failed before any training
    assert not (tiny_copy / "ran").exists()  # nothing from the dataset was executed


@pytest.mark.parametrize("case", CONFIG_DEFECTS, ids=[c[0][0][:30] for c in CONFIG_DEFECTS])
def test_a_bad_config_is_one_clear_error(case, tiny_root: Path, tmp_path: Path,
                                         capsys) -> None:
    args, named = case
    overrides = list(args)
    if args[0].startswith("yaml"):
        path = tmp_path / "c.yaml"
        if args[0] == "yaml-dir":
            path = tmp_path
        elif args[0] != "yaml-missing":
            path.write_bytes(args[0].removeprefix("yaml:").encode())
        overrides = ["--config", str(path)]
    code, err = _run(["run", "--cache", str(tmp_path / "cache"), "profile=tiny",
                      f"data/root={tiny_root}", *overrides], capsys)
    assert code != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and named in err, err


def _benign(root: Path) -> None:
    img = Image.open(_img(root, "JPEGImages", TRAIN, "jpg"))
    img.convert("L").save(_img(root, "JPEGImages", TRAIN, "jpg"))  # grayscale JPEG
    img = Image.open(_img(root, "JPEGImages", VAL, "jpg"))
    img.convert("CMYK").save(_img(root, "JPEGImages", VAL, "jpg"))  # CMYK JPEG
    for lst in (root / LISTS).glob("*.txt"):  # Windows line ends
        lst.write_bytes(lst.read_bytes().replace(b"\n", b"\r\n"))
    sal = _img(root, "saliency_map", TRAIN)
    Image.open(sal).convert("RGB").save(sal)  # gray, saved with three equal channels
    val = root / LISTS / "val_cls.txt"
    val.write_bytes(val.read_bytes() + val.read_bytes().splitlines(keepends=True)[0])


def test_benign_variants_pass_the_check_and_run(tiny_copy: Path, tmp_path: Path,
                                                capsys) -> None:
    _benign(tiny_copy)
    assert main(["data", "check", str(tiny_copy), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "problems: 0" in out and "1 id(s) listed more than once" in out
    code, err = _run(["run", "--cache", str(tmp_path / "cache"), "--until", "pretrain",
                      "profile=tiny", f"data/root={tiny_copy}", "data/workers=0"], capsys)
    assert code == 0, err
