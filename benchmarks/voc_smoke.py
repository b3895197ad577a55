"""The VOC-size rehearsal: every stage of a method at VOC's real sizes on CPU.

    python benchmarks/voc_smoke.py [--method drs|ssenet] [--images 4] [--keep DIR]

Builds miniature official downloads with 500 x 375 images (wsss.testing.MiniVoc: a VOCdevkit
tar, an SBD tgz, a saliency zip), prepares them with `wsss data prepare voc`, then runs
`wsss run profile=voc-smoke method=M data/root=OUT` in this process: the `voc` profile's
networks, input and crop sizes, scales, CRF and random-walk settings, random initial weights,
``data/limit`` images per split and one or two steps per training stage. It proves that the
shapes, the memory and every stage work at real size, nothing about accuracy. Prints each
stage's time and peak memory (this process and its children: DataLoader workers, CRF pools).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from common import load


class PeakMemory:
    """The largest resident memory of this process and its children, sampled every 0.2 s
    since the last ``take``."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.wait(0.2):
            try:
                rss = me.memory_info().rss + sum(c.memory_info().rss for c in
                                                 me.children(recursive=True))
            except psutil.Error:
                continue
            self.peak = max(self.peak, rss)

    def take(self) -> float:
        """GiB at the peak since the last call."""
        peak, self.peak = self.peak, 0
        return peak / 2**30

    def stop(self) -> None:
        self._stop.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="drs", choices=["drs", "ssenet"])
    parser.add_argument("--images", type=int, default=4, help="data/limit")
    parser.add_argument("--keep", help="write the downloads and the prepared set here")
    parser.add_argument("overrides", nargs="*", help="extra key=value")
    args = parser.parse_args()

    from wsss import config
    from wsss.cache import StageCache
    from wsss.data.prepare import prepare_voc
    from wsss.pipeline import run_pipeline
    from wsss.testing import MiniVoc

    work = Path(args.keep or tempfile.mkdtemp(prefix="wsss-voc-smoke-"))
    downloads = MiniVoc(size=(500, 375)).write(work / "downloads")
    root = work / "VOC2012"
    prepare_voc(root, downloads["voc"], downloads["sbd"], downloads["saliency"],
                say=lambda line: None)
    cfg = config.resolve({"method": args.method, "profile": "voc-smoke",
                          "data/root": str(root), "data/limit": args.images,
                          **config.parse_overrides(args.overrides)})
    print(f"voc-smoke, {args.method}: {args.images} images per split, 500 x 375; "
          f"{load()}", flush=True)
    memory, rows = PeakMemory(), []
    started = last = time.perf_counter()

    def on_stage(entry) -> None:
        nonlocal last
        now = time.perf_counter()
        rows.append((entry.stage, now - last, memory.take()))
        last = now
        print(f"  {entry.stage:<14}{now - rows[-1][1] - started:7.1f} -> {now - started:7.1f} s"
              f"  ({rows[-1][1]:6.1f} s, peak {rows[-1][2]:5.2f} GiB)", flush=True)

    run_pipeline(cfg, StageCache(work / "cache"), on_stage=on_stage)
    memory.stop()
    total = time.perf_counter() - started
    print("\n| stage | seconds | peak memory (GiB) |\n|---|---|---|")
    for stage, seconds, gib in rows:
        print(f"| {stage} | {seconds:.1f} | {gib:.2f} |")
    print(f"| all | {total:.1f} | {max(g for _, _, g in rows):.2f} |")
    print(f"{load()}; files in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
