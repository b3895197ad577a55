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
import time

import numpy as np

from wsss import config
from wsss.cache import StageCache
from wsss.data.synthetic import generate
from wsss.pipeline import run_pipeline

CONTROLLERS = {
    "baseline": {"classifier/drs": "none"},
    "delta 0.90": {"classifier/drs": "constant", "classifier/drs_delta": 0.9},
    "delta 0.70": {"classifier/drs": "constant", "classifier/drs_delta": 0.7},
    "delta 0.55": {"classifier/drs": "constant", "classifier/drs_delta": 0.55},
    "delta 0.40": {"classifier/drs": "constant", "classifier/drs_delta": 0.4},
    "learnable": {"classifier/drs": "learnable"},
}
COLUMNS = (("cls/val/acc", "cls acc"), ("cam/miou", "CAM mIoU"), ("pseudo/miou_miss", "PL miss"),
           ("pseudo/miou_ignore", "PL ignore"), ("pseudo/coverage", "coverage"))
SEG_COLUMNS = (("seg/miou", "seg mIoU"), ("seg/miou_crf", "seg + CRF"))
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
            start = time.perf_counter()
            entries = run_pipeline(config.resolve(overrides), cache)
            metrics = {k: v for e in entries.values() for k, v in e.metrics.items()}
            computed = sum(not e.hit for e in entries.values())
            shown = ", ".join(f"{label} {metrics[k]:.3f}" for k, label in (*COLUMNS, *SEG_COLUMNS)
                              if k in metrics)
            print(f"{name:<11} seed {seed}: {time.perf_counter() - start:6.1f} s, "
                  f"{computed} stage(s) computed; {shown}", flush=True)
            rows.setdefault(name, []).append(metrics)
    columns = (*COLUMNS, *SEG_COLUMNS) if args.segment else COLUMNS
    print(f"\nsynthetic quick, seeds {args.seeds}" + (" (DRS†)" if args.refine else ""))
    print(f"| labels | {' | '.join(label for _, label in columns)} |")
    print("|---" * (len(columns) + 1) + "|")
    for name, results in rows.items():
        cells = []
        for key, _ in columns:
            values = np.array([r.get(key, np.nan) for r in results])
            cell = "-" if np.isnan(values).all() else f"{values.mean():.3f}"
            cells.append(cell + (f" ± {values.std():.3f}" if len(results) > 1 and cell != "-"
                                 else ""))
        print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
