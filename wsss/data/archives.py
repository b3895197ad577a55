"""Reading the official downloads member by member, straight from the archive (a .tar, .tgz /
.tar.gz or .zip) or from the folder it was extracted to: no temporary extracted copy.

A member's name is given relative to the dataset's own root inside the archive
(``VOCdevkit/VOC2012/``, ``benchmark_RELEASE/dataset/``), whatever the archive adds above
it. A truncated or corrupt archive is a ``DataError`` naming the archive and the member
being read. The official archives' MD5 is computed in the same single read.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from wsss.data.voc import DataError

# as torchvision's dataset classes record them (VOCSegmentation, SBDataset)
OFFICIAL_MD5 = {"VOCtrainval_11-May-2012.tar": "6cd6e144f989b92b3379bac3b3de84fd",
                "benchmark.tgz": "82b4d87ceb2ed10f6038a1cba92111cb"}
ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError,
                  ValueError)


class _Hashing(io.RawIOBase):
    """A file read through: feeds every byte read into an MD5."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh, self.md5 = fh, hashlib.md5()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.fh.read(len(buffer))
        self.md5.update(data)
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> str:
        """Read what the archive reader left (padding, a trailer) and return the MD5."""
        while self.fh.read(1 << 20):
            pass
        return self.md5.hexdigest()


class Source:
    """One download: ``root`` is the dataset's folder name inside it (e.g. ``VOC2012``)."""

    def __init__(self, path: str | Path, root: str, label: str) -> None:
        self.path = Path(path).expanduser()
        self.root, self.label = root, label
        if not self.path.exists():
            raise DataError(f"{self.path}: not found (--{label})")
        self.md5: str | None = None  # set after ``members`` when the file has an official name

    def members(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
        """(name under the dataset root, bytes) of the files whose name starts with one of
        ``wanted`` (e.g. ``JPEGImages/``), in archive order."""
        if self.path.is_dir():
            yield from self._folder(wanted)
        elif zipfile.is_zipfile(self.path):
            yield from self._zip(wanted)
        else:
            yield from self._tar(wanted)

    def _relative(self, name: str) -> str | None:
        """``name`` below the dataset root (the last ``<root>/`` in it), or None."""
        name = name.replace("\\", "/")
        marker = f"{self.root}/" if self.root else ""
        if marker and marker in name:
            return name.rsplit(marker, 1)[1]
        return None if marker else name.rsplit("/", 1)[-1] if "/" in name else name

    def _folder(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
        base = self.path
        for candidate in (self.path / self.root, *self.path.glob(f"*/{self.root}"),
                          *self.path.glob(f"*/*/{self.root}")):
            if self.root and candidate.is_dir():
                base = candidate
                break
        for folder, _, files in os.walk(base):
            for file in sorted(files):
                rel = str((Path(folder) / file).relative_to(base)).replace(os.sep, "/") \
                    if self.root else file
                if rel.startswith(wanted):
                    yield rel, (Path(folder) / file).read_bytes()

    def _zip(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
        name = ""
        try:
            with zipfile.ZipFile(self.path) as archive:
                for info in archive.infolist():
                    name = info.filename
                    rel = self._relative(name)
                    if not info.is_dir() and rel is not None and rel.startswith(wanted):
                        yield rel, archive.read(info)
        except ARCHIVE_ERRORS as err:
            raise DataError(f"{self.path}: truncated or corrupt archive (at member "
                            f"{name or 'the first'}: {err})") from None

    def _tar(self, wanted: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
        name = ""
        official = self.path.name in OFFICIAL_MD5
        try:
            with open(self.path, "rb") as raw:
                reader = _Hashing(raw) if official else raw
                fh = io.BufferedReader(reader, 1 << 20) if official else raw
                with tarfile.open(fileobj=fh, mode="r|*") as archive:  # one sequential pass
                    for member in archive:
                        name = member.name
                        rel = self._relative(name)
                        if member.isfile() and rel is not None and rel.startswith(wanted):
                            data = archive.extractfile(member)
                            yield rel, data.read() if data else b""
                if isinstance(reader, _Hashing):
                    self.md5 = reader.drain()
        except ARCHIVE_ERRORS as err:
            raise DataError(f"{self.path}: truncated or corrupt archive (at member "
                            f"{name or 'the first'}: {err})") from None

    def check_md5(self, verify: bool) -> str:
        """'' when the file is not an official download (or was not read whole), else a
        line saying it matched; a mismatch is an error unless ``verify`` is False."""
        expected = OFFICIAL_MD5.get(self.path.name)
        if expected is None or self.md5 is None:
            return ""
        if self.md5 == expected:
            return f"{self.path.name}: MD5 {self.md5} as published"
        message = (f"{self.path}: MD5 {self.md5}, the official {self.path.name} has "
                   f"{expected} (a damaged or different download)")
        if verify:
            raise DataError(message + "; --no-verify uses it anyway")
        return "warning: " + message
