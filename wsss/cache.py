"""Content-addressed stage cache: one folder per (stage, key), published atomically.

``key = sha256(stage, its config fields, upstream keys, dataset fingerprint, code version)``.
A stage runs in ``<root>/<stage>/<key>.partial/`` (where it keeps resumable checkpoints),
then the folder is renamed to ``<root>/<stage>/<key>/``: a half-written entry is never
served. A lock file per entry (``fcntl.flock``, which also works on NFS) makes the work
single-flight across processes: a second caller waits, then finds the published entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wsss.runtime import write_json

MANIFEST = "manifest.json"
METRICS = "metrics.json"


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
        path = self.path(stage, key)
        if not (path / MANIFEST).exists():
            return None
        metrics = json.loads((path / METRICS).read_text())
        return CacheEntry(stage, key, path, metrics, hit=True, seconds=0.0)

    @contextmanager
    def _lock(self, stage: str, key: str) -> Iterator[None]:
        lock = self.root / stage / f"{key}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with open(lock, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)  # blocks while another process computes it
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def get_or_compute(self, stage: str, key: str,
                       compute: Callable[[Path], Mapping[str, float]],
                       manifest: Mapping[str, Any] | None = None) -> CacheEntry:
        """The published entry, computing it first (once, across processes) if needed."""
        entry = self.get(stage, key)
        if entry is not None:
            return entry
        with self._lock(stage, key):
            entry = self.get(stage, key)  # published while we waited
            if entry is not None:
                return entry
            partial = self.path(stage, key).with_name(f"{key}.partial")
            partial.mkdir(parents=True, exist_ok=True)  # kept on failure: resumable
            start = time.perf_counter()
            metrics = {k: float(v) for k, v in compute(partial).items()}
            seconds = time.perf_counter() - start
            write_json(metrics, partial / METRICS)
            write_json({"stage": stage, "key": key, "seconds": round(seconds, 2),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **(manifest or {})},
                       partial / MANIFEST)
            os.replace(partial, self.path(stage, key))
            return CacheEntry(stage, key, self.path(stage, key), metrics, False, seconds)

    # --- housekeeping (`wsss cache ls|du|gc`) ---------------------------------------------
    def entries(self) -> list[dict[str, Any]]:
        """Published entries with their manifest and size on disk."""
        out = []
        for manifest in sorted(self.root.glob(f"*/*/{MANIFEST}")):
            info = json.loads(manifest.read_text())
            info["bytes"] = _size(manifest.parent)
            info["path"] = str(manifest.parent)
            out.append(info)
        return out

    def gc(self, *, stages: tuple[str, ...] = (), partial: bool = True) -> list[Path]:
        """Remove abandoned ``.partial`` folders nobody is computing (their lock is free), and,
        if ``stages`` are named, every published entry of those stages. Returns what went."""
        removed = []
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
        for stage in stages:
            for entry in sorted((self.root / stage).glob(f"*/{MANIFEST}")):
                shutil.rmtree(entry.parent)
                removed.append(entry.parent)
        return removed


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
