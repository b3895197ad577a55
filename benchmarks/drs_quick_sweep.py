"""DRS Table 1 in miniature on the synthetic `quick` benchmark, on CPU.

    python benchmarks/drs_quick_sweep.py [--seeds 0 1] [--refine] [--segment]
                                         [--controllers baseline "delta 0.55"] [key=value ...]

One shared pre-training (cached), then baseline / delta 0.9, 0.7, 0.55, 0.4 / learnable, each
fine-tuned from it, followed by localization maps and pseudo labels. Prints, per controller,
the classifier's val exact-match accuracy, the best-threshold CAM mIoU and the pseudo-label
mIoU with ignored pixels counted as misses (``miss``, the coverage-aware number) and left
out (``ignore``). ``--segment`` also trains the narrow DeepLab-LargeFOV on each set of pseudo
labels and on the ground-truth masks (the upper bound) and adds val mIoU without / with CRF.
Ground truth is only used to score, never to choose anything.
"""

from __future__ import annotations

import argparse

from sweep_table import print_table, run_row

from wsss import config
from wsss.cache import StageCache
from wsss.data.synthetic import generate

CONTROLLERS = {
    "baseline": {"classifier/drs": "none"},
    "delta 0.90": {"classifier/drs": "constant", "classifier/drs_delta": 0.9},
    "delta 0.70": {"classifier/drs": "constant", "classifier/drs_delta": 0.7},
    "delta 0.55": {"classifier/drs": "constant", "classifier/drs_delta": 0.55},
    "delta 0.40": {"classifier/drs": "constant", "classifier/drs_delta": 0.4},
    "learnable": {"classifier/drs": "learnable"},
}
COLUMNS = (("classifier/val/acc", "cls acc"), ("cams/miou", "CAM mIoU"),
           ("pseudo_labels/miou_miss", "PL miss"),
           ("pseudo_labels/miou_ignore", "PL ignore"), ("pseudo_labels/coverage", "coverage"))
SEG_COLUMNS = (("evaluate/miou", "seg mIoU"), ("evaluate/miou_crf", "seg + CRF"))
UPPER_BOUND = "GT masks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="data/synth-quick")
    parser.add_argument("--cache", default=".wsss/cache")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--refine", action="store_true", help="DRS†: labels from refined maps")
    parser.add_argument("--segment", action="store_true", help="train and score DeepLab too")
    parser.add_argument("--controllers", nargs="+", choices=list(CONTROLLERS),
                        default=list(CONTROLLERS))
    parser.add_argument("overrides", nargs="*", help="extra key=value for every run")
    args = parser.parse_args()
    generate(args.root, "quick")
    cache = StageCache(args.cache)
    runs = {name: CONTROLLERS[name] for name in args.controllers}
    if args.segment:
        runs[UPPER_BOUND] = {"segment/labels": "gt"}
    rows: dict[str, list[dict[str, float]]] = {}
    for name, controller in runs.items():
        for seed in args.seeds:
            overrides = {"profile": "quick", "data/root": args.root, "seed": seed,
                         "refine/enabled": args.refine, "segment/enabled": args.segment,
                         **controller, **config.parse_overrides(args.overrides)}
            rows.setdefault(name, []).append(
                run_row(name, overrides, cache, (*COLUMNS, *SEG_COLUMNS)))
    columns = (*COLUMNS, *SEG_COLUMNS) if args.segment else COLUMNS
    print_table(f"synthetic quick, seeds {args.seeds}" + (" (DRS†)" if args.refine else ""),
                "labels", rows, columns)

if __name__ == "__main__":
    main()
