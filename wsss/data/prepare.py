"""`wsss data prepare voc OUT --voc PATH --sbd PATH [--saliency PATH]`: the layout `data/root`
expects, built from the official downloads (docs/datasets.md).

* ``JPEGImages/`` and ``SegmentationClass/`` (VOC's palette PNGs, 255 on boundaries) from
  VOC 2012 trainval; ``SegmentationClassAug/`` as index PNGs: VOC's own mask where an image
  has one (VOC's val masks are never replaced), else SBD's ``GTcls.Segmentation``;
  ``saliency_map/`` from DRS's PoolNet maps when given.
* ``ImageSets/Segmentation/``: VOC's ``train``, ``val``, ``trainval``; ``train_aug`` = VOC
  train | SBD train | SBD val - VOC val; the DRS-format ``{split}_cls.txt`` lists (0-based
  ids) and psa's ``cls_labels.npy``, both from the XML annotations as psa reads them (every
  ``<object>``).

Each archive is read once, member by member (``wsss.data.archives``); masks are decoded and
written by a process pool. OUT is built in a sibling folder and renamed into place when the
result passed its checks: it exists complete or not at all; a second run on a complete OUT
with the same inputs says so and does nothing. Counts that differ from the official ones
(VOC train 1,464, val 1,449, train_aug 10,582; SBD train 8,498, val 2,857) are warnings
naming the difference; anything wrong with the inputs is a ``DataError`` naming the archive
and member.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from wsss.data.archives import Source
from wsss.data.layout import IGNORE, VOC_CLASSES
from wsss.data.voc import DataError

OFFICIAL = {"voc train": 1464, "voc val": 1449, "sbd train": 8498, "sbd val": 2857,
            "train_aug": 10582}
MARKER = "wsss_prepared.json"
VERSION = 1


def _xml_labels(data: bytes, where: str) -> list[int]:
    """0-based class ids of every ``<object>`` of a VOC annotation (psa's reading)."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # a dataset file defines no entities
        raise DataError(f"{where}: XML with a DOCTYPE or ENTITY declaration, refused")
    try:
        names = [o.findtext("name", "").strip() for o in ET.fromstring(data).iter("object")]
    except ET.ParseError as err:
        raise DataError(f"{where}: not valid XML ({err})") from None
    unknown = [n for n in names if n not in VOC_CLASSES[1:]]
    if unknown:
        raise DataError(f"{where}: unknown class {unknown[0]!r}")
    return sorted({VOC_CLASSES.index(n) - 1 for n in names})


def _names(data: bytes) -> list[str]:
    return [line.split()[0] for line in data.decode().splitlines() if line.strip()]


def _mat_mask(args: tuple[str, bytes, str]) -> tuple[str, str | None]:
    """Decode SBD's ``GTcls.Segmentation`` and write it as an index PNG (in a worker)."""
    from scipy.io import loadmat

    name, data, out = args
    try:
        mat = loadmat(io.BytesIO(data), struct_as_record=False, squeeze_me=True)
    except Exception as err:  # noqa: BLE001 - scipy raises many kinds on a bad file
        return name, f"is not a MATLAB file ({err})"
    if "GTcls" not in mat or not hasattr(mat["GTcls"], "Segmentation"):
        return name, "has no GTcls.Segmentation"
    mask = np.asarray(mat["GTcls"].Segmentation)
    if mask.ndim != 2 or mask.max(initial=0) > 20:
        return name, f"has a GTcls.Segmentation that is not a class map in 0..20 (max " \
                     f"{mask.max()})"
    Image.fromarray(mask.astype(np.uint8), "L").save(Path(out) / f"{name}.png")
    return name, None


def _voc_mask(args: tuple[str, bytes, str]) -> tuple[str, str | None]:
    """VOC's palette PNG as it is, and its indices (255 kept) as the Aug mask."""
    name, data, out = args
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except OSError as err:
        return name, f"is not a readable PNG ({err})"
    if image.mode != "P":
        return name, f"is a {image.mode} PNG, VOC's masks are palettised"
    mask = np.asarray(image)
    if not np.isin(mask, [*range(21), IGNORE]).all():
        bad = sorted(set(np.unique(mask).tolist()) - {*range(21), IGNORE})
        return name, f"has class ids outside 0..20 and 255: {bad}"
    (Path(out) / "SegmentationClass" / f"{name}.png").write_bytes(data)
    Image.fromarray(mask, "L").save(Path(out) / "SegmentationClassAug" / f"{name}.png")
    return name, None


class _Pool:
    """Decode-and-write jobs in processes (in order, at most ``4 x workers`` in flight)."""

    def __init__(self, workers: int) -> None:
        self.pool = ProcessPoolExecutor(workers) if workers > 1 else None
        self.pending: list = []
        self.limit = 4 * max(1, workers)

    def submit(self, fn: Callable, args: tuple, on_done: Callable) -> None:
        if self.pool is None:
            on_done(*fn(args))
            return
        self.pending.append((self.pool.submit(fn, args), on_done))
        if len(self.pending) >= self.limit:
            self.drain(self.limit // 2)

    def drain(self, keep: int = 0) -> None:
        while len(self.pending) > keep:
            future, on_done = self.pending.pop(0)
            on_done(*future.result())

    def close(self) -> None:
        self.drain()
        if self.pool is not None:
            self.pool.shutdown()


def prepare_voc(out: str | Path, voc: str | Path, sbd: str | Path,
                saliency: str | Path | None = None, *, workers: int | None = None,
                verify: bool = True, say: Callable[[str], None] = print) -> dict:
    """Build OUT (see the module); returns its summary (counts, warnings)."""
    out = Path(out).expanduser().resolve()
    sources = {"voc": Source(voc, "VOC2012", "voc"), "sbd": Source(sbd, "dataset", "sbd"),
               **({"saliency": Source(saliency, "", "saliency")} if saliency else {})}
    inputs = {k: _describe(s.path) for k, s in sources.items()}
    done = _read_marker(out)
    if done is not None and done.get("inputs") == inputs and done.get("version") == VERSION:
        say(f"{out}: already prepared from these downloads ({done['counts']['train_aug']} "
            "train_aug images): nothing to do")
        return done
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: exists and is not a set prepared from these downloads; "
                        "remove it or choose another folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        summary = _build(tmp, sources, workers or os.cpu_count() or 1, verify, say)
        summary.update({"inputs": inputs, "version": VERSION})
        (tmp / MARKER).write_text(json.dumps(summary, indent=2) + "\n")
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary


def _build(tmp: Path, sources: dict[str, Source], workers: int, verify: bool,
           say: Callable[[str], None]) -> dict:
    for sub in ("JPEGImages", "SegmentationClass", "SegmentationClassAug",
                "ImageSets/Segmentation"):
        (tmp / sub).mkdir(parents=True)
    pool, problems = _Pool(workers), []

    def noted(kind: str, folder: str, ext: str) -> Callable[[str, str | None], None]:
        def on_done(name: str, problem: str | None) -> None:
            if problem:
                problems.append(f"{sources[kind].path}: {folder}{name}{ext} {problem}")
        return on_done

    voc_lists, labels, voc_masks = {}, {}, set()
    images: set[str] = set()
    progress = _Progress(say)
    for rel, data in sources["voc"].members(("JPEGImages/", "SegmentationClass/",
                                             "Annotations/", "ImageSets/Segmentation/")):
        name = Path(rel).stem
        if rel.startswith("JPEGImages/") and rel.endswith(".jpg"):
            (tmp / "JPEGImages" / f"{name}.jpg").write_bytes(data)
            images.add(name)
        elif rel.startswith("SegmentationClass/") and rel.endswith(".png"):
            voc_masks.add(name)
            pool.submit(_voc_mask, (name, data, str(tmp)),
                        noted("voc", "SegmentationClass/", ".png"))
        elif rel.startswith("Annotations/") and rel.endswith(".xml"):
            labels[name] = _xml_labels(data, f"{sources['voc'].path}: {rel}")
        elif rel in ("ImageSets/Segmentation/train.txt", "ImageSets/Segmentation/val.txt",
                     "ImageSets/Segmentation/trainval.txt"):
            voc_lists[Path(rel).stem] = _names(data)
        progress.tick("VOC")
    pool.drain()
    sbd_lists, sbd_images = {}, {}
    for rel, data in sources["sbd"].members(("cls/", "img/", "train.txt", "val.txt")):
        name = Path(rel).stem
        if rel.startswith("cls/") and rel.endswith(".mat") and name not in voc_masks:
            pool.submit(_mat_mask, (name, data, str(tmp / "SegmentationClassAug")),
                        noted("sbd", "cls/", ".mat"))
        elif rel.startswith("img/") and rel.endswith(".jpg") and name not in images:
            sbd_images[name] = data  # only for a re-packed VOC archive that lacks it
        elif rel in ("train.txt", "val.txt"):
            sbd_lists[Path(rel).stem] = _names(data)
        progress.tick("SBD")
    pool.close()
    progress.end()
    if problems:
        raise DataError(problems[0] + (f" (and {len(problems) - 1} more)" if
                                       len(problems) > 1 else ""))
    for name, data in sbd_images.items():
        (tmp / "JPEGImages" / f"{name}.jpg").write_bytes(data)
        images.add(name)
    if "saliency" in sources:
        (tmp / "saliency_map").mkdir()
        for rel, data in sources["saliency"].members(("",)):
            if rel.endswith(".png"):
                (tmp / "saliency_map" / rel).write_bytes(data)
    for kind, lists in (("voc", voc_lists), ("sbd", sbd_lists)):
        missing = [s for s in ("train", "val") if s not in lists]
        if missing:
            raise DataError(f"{sources[kind].path}: no {missing[0]}.txt list in the archive")
    val = set(voc_lists["val"])
    splits = {"train": voc_lists["train"], "val": voc_lists["val"],
              "trainval": voc_lists.get("trainval", voc_lists["train"] + voc_lists["val"]),
              "train_aug": sorted((set(voc_lists["train"]) | set(sbd_lists["train"])
                                   | set(sbd_lists["val"])) - val)}
    counts = {"voc train": len(voc_lists["train"]), "voc val": len(val),
              "sbd train": len(sbd_lists["train"]), "sbd val": len(sbd_lists["val"]),
              "train_aug": len(splits["train_aug"])}
    warnings = [f"warning: {k} has {n} images, the official archives give {OFFICIAL[k]} "
                f"({n - OFFICIAL[k]:+d}): a re-packed download?"
                for k, n in counts.items() if n != OFFICIAL[k]]
    warnings += [w for s in sources.values() if (w := s.check_md5(verify))]
    for line in warnings:
        say(line)
    _write_lists(tmp, splits, labels, images, sources["voc"].path)
    _check(tmp, splits, sources)
    return {"counts": counts, "warnings": warnings, "splits": {k: len(v) for k, v in
                                                                 splits.items()}}


def _write_lists(tmp: Path, splits: dict[str, list[str]], labels: dict[str, list[int]],
                 images: set[str], voc: Path) -> None:
    lists = tmp / "ImageSets" / "Segmentation"
    for split, names in splits.items():
        missing = [n for n in names if n not in images]
        if missing:
            raise DataError(f"{voc}: the {split} list names {missing[0]}, which has no image "
                            f"in JPEGImages/ ({len(missing)} such)")
        unlabelled = [n for n in names if not labels.get(n)]
        if unlabelled:
            raise DataError(f"{voc}: Annotations/{unlabelled[0]}.xml is missing or names no "
                            f"object ({len(unlabelled)} images of {split})")
        (lists / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
        if split != "trainval":  # DRS format: name, 0-based ids, trailing space
            (lists / f"{split}_cls.txt").write_text("".join(
                n + " " + "".join(f"{c} " for c in labels[n]) + "\n" for n in names))
    vectors = {}
    for name in sorted(set(splits["train_aug"]) | set(splits["val"])):
        vec = np.zeros(len(VOC_CLASSES) - 1, np.float32)
        vec[labels[name]] = 1.0
        vectors[name] = vec
    # psa's format: a pickled dict (ours to write)
    np.save(tmp / "cls_labels.npy", np.asarray(vectors, dtype=object))


def _check(tmp: Path, splits: dict[str, list[str]], sources: dict[str, Source]) -> None:
    """Every list name has its masks, each the size of its image."""
    for split, folder in (("train_aug", "SegmentationClassAug"), ("val", "SegmentationClass"),
                          ("val", "SegmentationClassAug")):
        for name in splits[split]:
            mask = tmp / folder / f"{name}.png"
            if not mask.exists():
                where = "SegmentationClass/" if folder == "SegmentationClass" else "cls/"
                kind = "voc" if folder == "SegmentationClass" else "sbd"
                raise DataError(f"{sources[kind].path}: no {where}{name} mask for the "
                                f"{split} image {name}")
            with Image.open(mask) as m, Image.open(tmp / "JPEGImages" / f"{name}.jpg") as im:
                if m.size != im.size:
                    raise DataError(f"{mask.name} ({folder}): {m.size[0]} x {m.size[1]}, its "
                                    f"image {im.size[0]} x {im.size[1]}")


class _Progress:
    def __init__(self, say: Callable[[str], None], every: float = 10.0) -> None:
        self.say, self.every, self.n, self.last = say, every, 0, time.monotonic()

    def tick(self, what: str) -> None:
        self.n += 1
        if time.monotonic() - self.last > self.every:
            self.last = time.monotonic()
            self.say(f"  {what}: {self.n} files read")

    def end(self) -> None:
        self.say(f"  {self.n} files read")


def _describe(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_marker(out: Path) -> dict | None:
    try:
        return json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return None


def main(out: str, voc: str, sbd: str, saliency: str | None, workers: int | None,
         verify: bool) -> int:
    summary = prepare_voc(out, voc, sbd, saliency, workers=workers, verify=verify,
                          say=lambda line: print(line, file=sys.stderr, flush=True))
    splits = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
    print(f"{out}: {splits}; check it with `wsss data check {out}`")
    return 0


