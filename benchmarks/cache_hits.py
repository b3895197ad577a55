"""What a cache hit of a large entry costs, hashed every time against vouched for by this
node's marker (wsss/cache.py: a marker of each file's size, ``mtime_ns`` and inode once the
entry has been hashed here; later hits re-stat the files and hash only what changed).

    python benchmarks/cache_hits.py [--mb 1024] [--files 2000] [--rounds 3]

Writes one entry of ``--files`` files, ``--mb`` MB in all (about a VOC `cams` entry: 10,582
maps of 1-3 classes at 375 x 500), waits until its files are older than the marker's
racy-write margin, then times, per round: ``StageCache.verify`` (what every hit did before:
read and hash every file), a first ``get`` on a fresh marker folder (hash + marker) and a
second ``get`` (stat only). The files are in the page cache after the first read, so the
"before" time here is hashing alone; on NFS each hit also read the bytes over the network.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import load

from wsss.cache import RACY_NS, VERIFIED, StageCache


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="wsss-cache-hits-"))
    try:
        cache = StageCache(root)
        per_file = args.mb * 2**20 // args.files
        rng = np.random.default_rng(0)

        def write(folder: Path) -> dict[str, float]:
            for i in range(args.files):
                (folder / f"{i:05d}.wmap").write_bytes(rng.bytes(per_file))
            return {"n": float(args.files)}

        entry = cache.compute("cams", "k", write)
        time.sleep(RACY_NS / 1e9 + 0.5)  # older than the marker's margin, as a real entry is
        print(f"one entry: {args.files} files, {args.mb} MB; {load()}", flush=True)
        hashed, first, again = [], [], []
        for _ in range(args.rounds):
            hashed.append(_timed(lambda: cache.verify(entry.path)))
            shutil.rmtree(root / VERIFIED, ignore_errors=True)
            first.append(_timed(lambda: cache.get("cams", "k")))
            again.append(_timed(lambda: cache.get("cams", "k")))
        before, after = statistics.median(hashed), statistics.median(again)
        print(f"hash every file (every hit before):   {before:8.3f} s")
        print(f"first hit on this node (hash + marker): {statistics.median(first):8.3f} s")
        print(f"later hits (stat against the marker):  {after:8.3f} s  ({before / after:.0f}x)")
        print(load())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
