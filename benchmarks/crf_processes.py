"""Dense CRF over a split in one process against two (or --processes N), as `evaluate` and
`crf_labels` run it (``wsss.ops.crf.map_processes``: pool start-up included, results in
order, at most 4 x N images in flight).

    python benchmarks/crf_processes.py [--profile quick] [--split val] [--images 500]
                                       [--processes 2] [--rounds 3] [--recipe largefov]

Scores are smooth seeded random class maps (21 classes) at each image's size: the CRF's cost
does not depend on what they say. Alternated rounds, median, ratio from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from common import load


def _scores(name: str, size: tuple[int, int], classes: int) -> np.ndarray:
    """Seeded smooth scores: a coarse random grid upsampled (nearest), then normalised."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # the same in every process
    h, w = size
    coarse = rng.random((classes, max(1, h // 8), max(1, w // 8))).astype(np.float32)
    up = coarse.repeat(8, axis=1).repeat(8, axis=2)[:, :h, :w]
    up = np.pad(up, ((0, 0), (0, h - up.shape[1]), (0, w - up.shape[2])), mode="edge")
    return up / up.sum(axis=0, keepdims=True)


def _job(args: tuple[Path, str, int]) -> int:
    from wsss.data.voc import load_image
    from wsss.ops.crf import RECIPES, dense_crf

    path, recipe, classes = args
    image = load_image(path)
    q = dense_crf(image, _scores(path.stem, image.shape[:2], classes), RECIPES[recipe])
    return int(q.argmax(axis=0).sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--split", default="val")
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--recipe", default="largefov", choices=["largefov", "aspp", "psa"])
    args = parser.parse_args()

    from wsss import config
    from wsss.data.splits import open_layout, records
    from wsss.ops.crf import map_processes

    cfg = config.resolve({"profile": args.profile})
    layout = open_layout(cfg)
    recs = records(cfg, layout, args.split)[: args.images]
    classes = layout.num_classes + 1
    items = [(layout.image_path(r.name), args.recipe, classes) for r in recs]
    times: dict[int, list[float]] = {1: [], args.processes: []}
    answers: dict[int, list[int]] = {}
    for _ in range(args.rounds):
        for workers in times:
            start = time.perf_counter()
            answers[workers] = list(map_processes(_job, items, workers=workers))
            times[workers].append(time.perf_counter() - start)
    assert answers[1] == answers[args.processes], "the pool changed the results"
    one, many = statistics.median(times[1]), statistics.median(times[args.processes])
    print(f"dense CRF ({args.recipe}, {cfg.data.root} {args.split}, {len(items)} images; median "
          f"of {args.rounds} alternated rounds; {load()}): 1 process {one:.2f} s, "
          f"{args.processes} processes {many:.2f} s, {one / many:.2f}x; same results")
    return 0


if __name__ == "__main__":
    sys.exit(main())
