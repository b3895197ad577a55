"""Content-addressed stage cache: one folder per (stage, key), published atomically.

``key = sha256(stage, its config fields, upstream keys, dataset fingerprint, code version)``.
A stage runs in ``<root>/<stage>/<key>.partial/`` (where it keeps resumable checkpoints),
then the folder is renamed to ``<root>/<stage>/<key>/``: a half-written entry is never
served. A lock file per entry (``fcntl.flock``, which also works on NFS) makes the work
single-flight across processes: a second caller waits, then finds the published entry.

The manifest records the size and SHA-256 of every file of the entry. An entry is verified
before it is served; a bad one (a changed, missing or unreadable file) is never served: it
is moved aside to ``<key>.bad-<time>/``, a warning names it, and the stage is computed
again. ``wsss cache verify`` checks every entry. Files are written group-readable so a lab
can share one cache.

Hashing every file on every hit would read a VOC map entry (about 1 GB) over NFS for each
trial that uses it, so once this node has hashed an entry it keeps a marker
(``<root>/.verified/<host>/<stage>/<key>.json``: each file's size, ``mtime_ns`` and inode); a
later hit re-stats the files and hashes again only if one differs, or if it was modified
within ``RACY_NS`` of the marker (a rewrite in the same clock tick keeps its ``mtime``, as
git's "racily clean" index entries). ``wsss cache verify`` always hashes everything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss.runtime import read_metrics, write_json

MANIFEST = "manifest.json"
METRICS = "metrics.json"
VERIFIED = ".verified"  # per-node markers of hashed entries, under the cache root
RACY_NS = 2_000_000_000  # a file modified this close to its marker is hashed again
log = logging.getLogger(__name__)


class CacheError(ValueError):
    """A cache entry that cannot be trusted; the message names the entry and the file."""


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def checksums(folder: Path) -> dict[str, list]:
    """{relative path: [bytes, sha256]} of every file below ``folder`` but the manifest."""
    return {str(p.relative_to(folder)): [p.stat().st_size, file_digest(p)]
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def stage_key(stage: str, fields: Mapping[str, Any], upstream: Mapping[str, str],
              fingerprint: str, version: str) -> str:
    """Stable 20-hex-digit key; tuples and lists hash alike (YAML round trips)."""
    payload = json.dumps({"stage": stage, "fields": dict(sorted(fields.items())),
                          "upstream": dict(sorted(upstream.items())),
                          "data": fingerprint, "version": version},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class CacheEntry:
    stage: str
    key: str
    path: Path
    metrics: dict[str, float]
    hit: bool  # True: another run had produced it; nothing was computed now
    seconds: float  # compute time when produced (0 for a hit)


class StageCache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def get(self, stage: str, key: str) -> CacheEntry | None:
        """The published entry, verified; None if absent. A bad entry is moved aside (with a
        warning naming it) and None returned, so the caller computes it again."""
        path = self.path(stage, key)
        if not (path / MANIFEST).exists():
            return None
        try:
            if not self._still_verified(path, stage, key):
                self.verify(path)
                self._mark_verified(path, stage, key)
            metrics = read_metrics(path / METRICS)
        except (CacheError, OSError, ValueError) as err:
            bad = path.with_name(f"{key}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            try:
                os.replace(path, bad)
            except OSError:  # another process moved it first
                pass
            log.warning("cache entry %s is bad (%s): moved to %s; computing it again",
                        path, err, bad.name)
            return None
        return CacheEntry(stage, key, path, metrics, hit=True, seconds=0.0)

    def _marker(self, stage: str, key: str) -> Path:
        return self.root / VERIFIED / socket.gethostname() / stage / f"{key}.json"

    def _mark_verified(self, path: Path, stage: str, key: str) -> None:
        """Remember each file's stat as this node hashed it (best effort: a read-only cache
        is still served, hashed on every hit)."""
        files = json.loads((path / MANIFEST).read_text())["files"]
        stats = {name: _stat(path / name) for name in files}
        try:
            write_json({"at_ns": time.time_ns(), "files": stats}, self._marker(stage, key))
        except OSError:
            pass

    def _still_verified(self, path: Path, stage: str, key: str) -> bool:
        """This node hashed the entry and no file's size, ``mtime_ns`` or inode changed
        since (a file modified within ``RACY_NS`` of the marker is not vouched for)."""
        try:
            marker = json.loads(self._marker(stage, key).read_text())
            files = json.loads((path / MANIFEST).read_text())["files"]
        except (OSError, ValueError, KeyError):
            return False
        known, at = marker.get("files", {}), marker.get("at_ns", 0)
        if set(known) != set(files):
            return False
        for name in files:
            try:
                now = _stat(path / name)
            except OSError:
                return False
            if now != known[name] or now[1] > at - RACY_NS:
                return False
        return True

    def verify(self, path: Path) -> None:
        """Raise ``CacheError`` naming the first file of the entry that does not match its
        manifest (or a manifest without checksums)."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as err:
            raise CacheError(f"{path / MANIFEST}: unreadable manifest ({err})") from None
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise CacheError(f"{path / MANIFEST}: no checksums (written by an older version)")
        for name, (size, digest) in files.items():
            file = path / name
            if not file.is_file():
                raise CacheError(f"{file}: missing")
            if file.stat().st_size != size or file_digest(file) != digest:
                raise CacheError(f"{file}: contents changed since it was written")

    @contextmanager
    def claimed(self, stage: str, key: str) -> Iterator[None]:
        """Hold the entry's lock: blocks while another process computes it. A study's trial
        takes it before asking for the stage's resources, so it waits holding no GPU, and
        keeps it while its stage task computes (``compute``)."""
        lock = self.root / stage / f"{key}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # blocks while another process computes it
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def compute(self, stage: str, key: str, compute: Callable[[Path], Mapping[str, float]],
                manifest: Mapping[str, Any] | None = None) -> CacheEntry:
        """Compute and publish the entry; the caller holds its lock (``claimed``)."""
        partial = self.path(stage, key).with_name(f"{key}.partial")
        partial.mkdir(parents=True, exist_ok=True)  # kept on failure: resumable
        start = time.perf_counter()
        metrics = {k: float(v) for k, v in compute(partial).items()}
        seconds = time.perf_counter() - start
        write_json(metrics, partial / METRICS)
        metrics = read_metrics(partial / METRICS)  # as any later reader sees them
        write_json({"stage": stage, "key": key, "seconds": round(seconds, 2),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **(manifest or {}),
                    "files": checksums(partial)}, partial / MANIFEST)
        os.replace(partial, self.path(stage, key))
        return CacheEntry(stage, key, self.path(stage, key), metrics, False, seconds)

    def get_or_compute(self, stage: str, key: str,
                       compute: Callable[[Path], Mapping[str, float]],
                       manifest: Mapping[str, Any] | None = None) -> CacheEntry:
        """The published entry, computing it first (once, across processes) if needed."""
        entry = self.get(stage, key)
        if entry is not None:
            return entry
        with self.claimed(stage, key):
            return self.get(stage, key) or self.compute(stage, key, compute, manifest)

    # --- housekeeping (`wsss cache ls|du|gc|verify`) --------------------------------------
    def verify_all(self, stages: tuple[str, ...] = ()) -> list[tuple[Path, str]]:
        """(entry, problem) for every published entry (of ``stages``) that fails to verify."""
        bad = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            entry = manifest.parent
            if ".bad-" in entry.name or (stages and entry.parent.name not in stages):
                continue
            try:
                self.verify(entry)
                read_metrics(entry / METRICS)
            except (CacheError, OSError, ValueError) as err:
                bad.append((entry, str(err)))
        return bad

    def entries(self) -> list[dict[str, Any]]:
        """Published entries with their manifest and size on disk."""
        out = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            if ".bad-" in manifest.parent.name:
                continue
            info = json.loads(manifest.read_text())
            info.pop("files", None)
            info["bytes"] = _size(manifest.parent)
            info["path"] = str(manifest.parent)
            out.append(info)
        return out

    def gc(self, *, stages: tuple[str, ...] = (), partial: bool = True,
           current: Mapping[str, str] | None = None) -> list[Path]:
        """Remove abandoned ``.partial`` folders nobody is computing (their lock is free), and,
        if ``stages`` are named, every published entry of those stages; given ``current``
        ({stage: code version}), also every entry no key can reach again: of a stage not in
        it (a renamed one) or made by another version of its code. Returns what went."""
        removed = []
        versions = dict(current or {})
        for entry in sorted(self.root.glob(f"*/*/{MANIFEST}")) if current else []:
            stage = entry.parent.parent.name
            try:
                version = json.loads(entry.read_text()).get("version")
            except ValueError:
                continue  # unreadable: `wsss cache verify` reports it
            if stage not in versions or version not in (None, versions[stage]):
                shutil.rmtree(entry.parent)
                removed.append(entry.parent)
        for folder in sorted(self.root.glob("*/*.partial")) if partial else []:
            key = folder.name.removesuffix(".partial")
            with open(folder.parent / f"{key}.lock", "a") as fh:
                try:  # a live computation holds the lock: leave it alone
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                shutil.rmtree(folder)
                fcntl.flock(fh, fcntl.LOCK_UN)
            removed.append(folder)
        for folder in sorted(self.root.glob("*/*.bad-*")):  # set aside by a failed verify
            shutil.rmtree(folder)
            removed.append(folder)
        for stage in stages:
            for entry in sorted((self.root / stage).glob(f"*/{MANIFEST}")):
                shutil.rmtree(entry.parent)
                removed.append(entry.parent)
        return removed


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
