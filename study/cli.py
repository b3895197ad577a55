"""The `wsss` console script.

Subcommands import what they need when they run, so `wsss data ...` never pays for Ray.

    wsss data synth OUT [--preset tiny|quick|full] [--seed S] [--workers N] [--force]
    wsss data check ROOT [--split SPLIT ...] [--workers N]
    wsss config show [--config FILE] [key=value ...]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _data_synth(args: argparse.Namespace) -> int:
    from wsss.data.synthetic import generate

    meta = generate(args.out, args.preset, seed=args.seed, workers=args.workers, force=args.force)
    verb = "kept (same parameters)" if meta.get("reused") else "wrote"
    counts = ", ".join(f"{k} {v}" for k, v in meta["splits"].items())
    print(f"{verb} {args.out}: synthetic preset '{meta['preset']}', seed {meta['seed']}, "
          f"{len(meta['classes']) - 1} classes, {meta['params']['size']} px; {counts}"
          f" ({meta['seconds']:.1f} s)")
    return 0


def _data_check(args: argparse.Namespace) -> int:
    from wsss.data.check import check_dataset, format_report
    from wsss.data.voc import DataError, VocLayout

    try:
        layout = VocLayout.open(args.root, list_dir=args.list_dir or "",
                                cls_labels=args.cls_labels or "")
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = check_dataset(layout, args.split, workers=args.workers)
    print(format_report(report))
    return 0 if report.ok else 1


def _config_show(args: argparse.Namespace) -> int:
    from wsss import config

    cfg = config.resolve(config.parse_overrides(args.overrides), yaml_path=args.config)
    print(config.dump_yaml(cfg), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsss", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="make and validate datasets").add_subparsers(
        dest="data_command", required=True)
    synth = data.add_parser("synth", help="write the procedural benchmark in the VOC layout")
    synth.add_argument("out", help="output folder (written atomically)")
    synth.add_argument("--preset", choices=["tiny", "quick", "full"], default="quick")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--workers", type=int, default=None, help="processes (default: cores)")
    synth.add_argument("--force", action="store_true", help="replace an existing dataset")
    synth.set_defaults(func=_data_synth)

    check = data.add_parser("check", help="validate a VOC-layout dataset; exit 1 on problems")
    check.add_argument("root", help="the VOC2012 folder (JPEGImages, SegmentationClass, ...)")
    check.add_argument("--split", action="append",
                       help="split list to check (repeatable; default: every list found)")
    check.add_argument("--list-dir", help="folder of split lists (default ImageSets/Segmentation)")
    check.add_argument("--cls-labels", help="psa cls_labels.npy (default ROOT/cls_labels.npy)")
    check.add_argument("--workers", type=int, default=2)
    check.set_defaults(func=_data_check)

    cfg = sub.add_parser("config", help="inspect configurations").add_subparsers(
        dest="config_command", required=True)
    show = cfg.add_parser("show", help="print the resolved config (defaults, preset, file, keys)")
    show.add_argument("--config", help="YAML file (nested sections or 'stage/field' keys)")
    show.add_argument("overrides", nargs="*", help="key=value, e.g. data/root=/data/VOC2012")
    show.set_defaults(func=_config_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from wsss.config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
