"""SSENet Table 1 in miniature on the synthetic `quick` benchmark, on CPU.

    python benchmarks/sse_quick_sweep.py [--seeds 0 1] [--rates none 0.6 0.5 0.3 0.2]
                                         [key=value ...]

One shared pre-training (cached; the same one the DRS sweep uses), then the baseline
(``classifier/ser_rate=null``) and each SER rate r fine-tuned from it, followed by multi-scale
+ flip CAMs, the la/ha CRF, AffinityNet and the random walk. Prints, per rate, the classifier's
val exact-match accuracy, the CAM-only mIoU at background 0.2 (Eq. 3) and after the random
walk, with m_FN / m_FP, scored as SSENet does (``mean`` over all classes, SegmentationClass,
on the train subset). Ground truth only scores; it never chooses anything.
"""

from __future__ import annotations

import argparse

from sweep_table import print_table, run_row

from wsss import config
from wsss.cache import StageCache
from wsss.data.synthetic import generate

COLUMNS = (("classifier/val/acc", "cls acc"), ("classifier/ser_loss", "SER loss"), ("cams/miou",
                                                                                    "CAM mIoU"),
           ("cams/m_fn", "CAM m_FN"), ("cams/m_fp", "CAM m_FP"), ("crf_labels/precision",
                                                                  "la/ha prec"),
           ("affinity/pair_accuracy", "pair acc"), ("random_walk/miou", "CAM+rw mIoU"),
           ("random_walk/m_fn", "rw m_FN"), ("random_walk/m_fp", "rw m_FP"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/synth-quick")
    parser.add_argument("--cache", default=".wsss/cache")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rates", nargs="+", default=["none", "0.6", "0.5", "0.3", "0.2"])
    parser.add_argument("overrides", nargs="*", help="extra key=value for every run")
    args = parser.parse_args()
    generate(args.root, "quick")
    cache = StageCache(args.cache)
    rows: dict[str, list[dict[str, float]]] = {}
    for rate in args.rates:
        name = "baseline" if rate == "none" else f"r = {rate}"
        for seed in args.seeds:
            overrides = {"method": "ssenet", "profile": "quick", "data/root": args.root,
                         "seed": seed, "segment/enabled": False,
                         "classifier/ser_rate": None if rate == "none" else float(rate),
                         **config.parse_overrides(args.overrides)}
            rows.setdefault(name, []).append(run_row(name, overrides, cache, COLUMNS))
    print_table(f"synthetic quick, SSENet pipeline, seeds {args.seeds}", "rate", rows, COLUMNS)

if __name__ == "__main__":
    main()
