"""Helpers for tests (optuna/testing's pattern): not used by the method itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal


class Interrupt(Exception):
    """Raised by ``interrupt_at`` to stop a stage mid-way, as a killed worker would."""


def interrupt_at(stage: str, key: str, value: float):
    """A ``report`` callback that raises once ``stage`` reports ``key == value``."""

    def report(name: str, metrics) -> None:
        if name == stage and metrics.get(key) == value:
            raise Interrupt

    return report


class ReadRecorder:
    """A read-only stand-in for a config dataclass that records every leaf field read.

    ``cfg.classifier.arch`` adds ``classifier/arch`` to ``log``; reading a section alone
    records nothing until one of its fields is read. Used to prove that a stage reads
    nothing outside its cache key.
    """

    def __init__(self, obj: Any, log: set[str], prefix: str = "") -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_log", log)
        object.__setattr__(self, "_prefix", prefix)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        key = f"{self._prefix}{name}"
        if dataclasses.is_dataclass(value):
            return ReadRecorder(value, self._log, key + "/")
        if not callable(value):
            self._log.add(key)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("configs are frozen")


@dataclasses.dataclass(frozen=True)
class MiniVoc:
    """Miniature official downloads (what `wsss data prepare voc` reads): a VOCdevkit tar
    with XML annotations and palette PNGs, an SBD tgz with MATLAB v5 ``GTcls`` structs, and
    a saliency zip. The defaults overlap as the real ones do: an image in both VOC train
    and SBD, a VOC val image inside SBD train (never in train_aug). ``size`` (W, H): every
    image's; None gives each a small size of its own."""

    voc_train: tuple[str, ...] = ("2007_000001", "2007_000002", "2007_000003")
    voc_val: tuple[str, ...] = ("2007_000004", "2007_000005")
    detection: tuple[str, ...] = ("2008_000006", "2008_000007", "2008_000008", "2008_000009")
    sbd_train: tuple[str, ...] = ("2007_000003", "2008_000006", "2008_000007", "2007_000004")
    sbd_val: tuple[str, ...] = ("2008_000008", "2008_000009")
    size: tuple[int, int] | None = None

    @property
    def names(self) -> list[str]:
        return [*self.voc_train, *self.voc_val, *self.detection]

    @property
    def train_aug(self) -> list[str]:
        return sorted({*self.voc_train, *self.sbd_train, *self.sbd_val} - set(self.voc_val))

    def objects(self, name: str) -> list[int]:
        """The image's classes (1..20)."""
        i = self.names.index(name)
        return [1 + i % 20, 1 + (3 * i + 5) % 20]

    def image_size(self, name: str) -> tuple[int, int]:
        i = self.names.index(name)
        return self.size or (40 + 4 * i, 30 + 2 * i)

    def mask(self, name: str, seed: int) -> Any:
        """A class map of the image's objects; VOC's (seed 0) with a 255 border."""
        import numpy as np

        w, h = self.image_size(name)
        rng = np.random.default_rng(seed + int(name[-3:]))
        mask = np.zeros((h, w), np.uint8)
        for k, c in enumerate(self.objects(name)):
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            mask[y:y + h // 3, x + k:x + k + w // 3] = c
        if seed == 0:
            mask[0, :] = 255
        return mask

    def write(self, folder: Path) -> dict[str, Path]:
        """voc.tar, sbd.tgz and saliency_map.zip in ``folder``."""
        import zipfile

        import numpy as np

        folder.mkdir(parents=True, exist_ok=True)
        saliency = folder / "saliency_map.zip"
        with zipfile.ZipFile(saliency, "w") as archive:
            for n in [*self.train_aug, *self.voc_val]:
                archive.writestr(f"saliency_map/{n}.png",
                                 _png((self.mask(n, 7) > 0).astype(np.uint8) * 255, False))
        return {"voc": write_tar(folder / "voc.tar", self.voc_files()),
                "sbd": write_tar(folder / "sbd.tgz", self.sbd_files(), "w:gz"),
                "saliency": saliency}

    def voc_files(self, root: str = "VOCdevkit/VOC2012/") -> dict[str, bytes]:
        from wsss.data.layout import VOC_CLASSES

        files = {f"{root}JPEGImages/{n}.jpg": self._jpeg(n) for n in self.names}
        for n in self.names:
            objects = "".join(f"<object><name>{VOC_CLASSES[c]}</name><difficult>0</difficult>"
                              "</object>" for c in self.objects(n))
            files[f"{root}Annotations/{n}.xml"] = (
                f"<annotation><filename>{n}.jpg</filename>{objects}</annotation>".encode())
        for n in [*self.voc_train, *self.voc_val]:
            files[f"{root}SegmentationClass/{n}.png"] = _png(self.mask(n, 0), True)
        seg = f"{root}ImageSets/Segmentation/"
        files[f"{seg}train.txt"] = "".join(f"{n}\n" for n in self.voc_train).encode()
        files[f"{seg}val.txt"] = "".join(f"{n}\n" for n in self.voc_val).encode()
        return files

    def sbd_files(self, broken: str = "") -> dict[str, bytes]:
        """``broken``: an image whose .mat lacks ``GTcls``."""
        import io

        import numpy as np
        from scipy.io import savemat

        root = "benchmark_RELEASE/dataset/"
        files = {}
        for n in [*self.sbd_train, *self.sbd_val]:
            buf = io.BytesIO()
            struct = {"Segmentation": self.mask(n, 7), "Boundaries": np.zeros(1),
                      "CategoriesPresent": np.array(self.objects(n))}
            savemat(buf, {"GTcls" if n != broken else "GTinst": struct})
            files[f"{root}cls/{n}.mat"] = buf.getvalue()
            files[f"{root}img/{n}.jpg"] = self._jpeg(n)
        files[f"{root}train.txt"] = "".join(f"{n}\n" for n in self.sbd_train).encode()
        files[f"{root}val.txt"] = "".join(f"{n}\n" for n in self.sbd_val).encode()
        return files

    def _jpeg(self, name: str) -> bytes:
        """Its objects drawn in their class colours on a grey ground."""
        import io

        import numpy as np
        from PIL import Image

        from wsss.data.layout import voc_palette

        palette = np.array(voc_palette(), np.uint8).reshape(-1, 3)
        mask = self.mask(name, 7)
        image = np.where(mask[..., None] > 0, palette[mask], np.uint8(120))
        buf = io.BytesIO()
        Image.fromarray(image.astype(np.uint8)).save(buf, "JPEG", quality=95)
        return buf.getvalue()


def _png(array: Any, palette: bool) -> bytes:
    import io

    from PIL import Image

    from wsss.data.layout import voc_palette

    image = Image.fromarray(array, "P" if palette else "L")
    if palette:
        image.putpalette(voc_palette())
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def write_tar(path: Path, files: dict[str, bytes],
              mode: Literal["w", "w:gz"] = "w") -> Path:
    import io
    import tarfile

    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path
