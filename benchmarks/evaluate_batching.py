"""What batched prediction (``evaluate/batch_size``) buys the `evaluate` stage: the whole
stage (prediction, dense CRF in its process pool, PNG writes, scoring) on a benchmark's val
split, one image at a time against consecutive same-size images together.

    python benchmarks/evaluate_batching.py [--profile quick] [--batch 16] [--rounds 3]

The segmenter is the profile's, randomly initialised (its compute does not depend on its
weights); both settings run in turn in each round, so a load change hits both alike, and a
figure is the median round. The ratio is one-at-a-time over batched (> 1: batching is
faster). ``tests/wsss/stages/test_segment.py`` checks that both score the same.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import load

from wsss import config, engine
from wsss.artifacts import SEGMENTER, segmenter_from_config
from wsss.data.splits import ensure_data, open_layout
from wsss.stages import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    base = {"profile": args.profile, "evaluate/overlays": 0}
    cfg = config.resolve(base)
    ensure_data(cfg)
    classes = open_layout(cfg).num_classes
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        seg = Path(tmp, "segment")
        seg.mkdir()
        engine.finish(segmenter_from_config(cfg, classes), seg / SEGMENTER, num_classes=classes)
        times: dict[int, list[float]] = {1: [], args.batch: []}
        for r in range(args.rounds):
            for batch in times:
                run_cfg = config.resolve({**base, "evaluate/batch_size": batch})
                start = time.perf_counter()
                evaluate.run(run_cfg, {"segment": seg}, Path(tmp, f"out-{r}-{batch}"))
                times[batch].append(time.perf_counter() - start)
    one, many = (statistics.median(t) for t in times.values())
    print(f"evaluate stage, {args.profile} val split, median of {args.rounds} rounds "
          f"({load()}):")
    print(f"  one image at a time: {one:6.2f} s")
    print(f"  batch {args.batch:<3}           : {many:6.2f} s   ratio {one / many:.2f}x")


if __name__ == "__main__":
    main()
