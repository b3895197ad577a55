"""The `wsss` console script.

Subcommands import what they need when they run, so `wsss data ...` never pays for Ray.

    wsss data synth OUT [--preset tiny|quick|full] [--seed S] [--workers N] [--force]
    wsss data prepare voc OUT --voc TAR --sbd TGZ [--saliency ZIP] [--no-verify]
    wsss data check ROOT [--split SPLIT ...] [--workers N] [key=value ...]
    wsss config show [--config FILE] [key=value ...]
    wsss run [--config FILE] [--cache DIR] [--until STAGE] [key=value ...]
    wsss viz overlay STAGE_DIR [--n 6] [--split SPLIT] [--out PNG]
    wsss study run [SPACE] [--grid drs1] [--samples N] [--objective pseudo_labels/miou]
                   [--profile quick]
    wsss study plan [the arguments of study run] [--gpus N --gpu-type T]
    wsss study resume NAME | wsss study ls | wsss study show NAME
    wsss tables STUDY [--table drs1|drs2|drs3|sse1|sse2|thresholds|rw|all] [--format md|tex|csv]
    wsss reproduce [--paper drs|ssenet|all] [--profile quick] [--seeds 0 1 2] [key=value ...]
    wsss export STUDY OUT [--trial NAME|best] [--stage STAGE] [--register NAME]
    wsss ui [--host 127.0.0.1] [--mlflow-port 5000] [--optuna-port 8081]
    wsss cache ls|du|verify|gc [--cache DIR] [--stage STAGE] [--stale]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _data_synth(args: argparse.Namespace) -> int:
    from wsss.data.synthetic import generate

    meta = generate(args.out, args.preset, seed=args.seed, workers=args.workers, force=args.force)
    verb = "kept (same parameters)" if meta.get("reused") else "wrote"
    counts = ", ".join(f"{k} {v}" for k, v in meta["splits"].items())
    print(f"{verb} {args.out}: synthetic preset '{meta['preset']}', seed {meta['seed']}, "
          f"{len(meta['classes']) - 1} classes, {meta['params']['size']} px; {counts}"
          f" ({meta['seconds']:.1f} s)")
    return 0


def _data_prepare(args: argparse.Namespace) -> int:
    from wsss.data.prepare import main as prepare

    return prepare(args.out, args.voc, args.sbd, args.saliency, args.workers,
                   verify=not args.no_verify)


def _data_check(args: argparse.Namespace) -> int:
    """Every list found (or ``--split``), plus what the configured stages read: the folders
    and splits of ``key=value`` / ``--config`` (default: the DRS pipeline)."""
    from wsss import config
    from wsss.data.check import check_dataset, format_report, requirements
    from wsss.data.voc import VocLayout
    from wsss.pipeline import check_weights, plan

    overrides = {"data/root": args.root, **config.parse_overrides(args.overrides)}
    if args.list_dir:
        overrides["data/list_dir"] = args.list_dir
    if args.cls_labels:
        overrides["data/cls_labels"] = args.cls_labels
    cfg = config.resolve(overrides, yaml_path=args.config)
    d = cfg.data
    layout = VocLayout.open(d.root, list_dir=d.list_dir, cls_labels=d.cls_labels,
                            saliency_dir=d.saliency_dir)
    required = requirements(cfg, [name for name, _ in plan(cfg)])
    splits = list(dict.fromkeys([*(args.split or layout.splits()), *required]))
    report = check_dataset(layout, splits, workers=args.workers, required=required,
                           labels=d.labels if args.overrides or args.config else None)
    print(format_report(report))
    for line in check_weights(cfg, layout.num_classes):  # a configured weights file, read
        print(line)
    return 0 if report.ok else 1


def _config_show(args: argparse.Namespace) -> int:
    from wsss import config

    cfg = config.resolve(config.parse_overrides(args.overrides), yaml_path=args.config)
    print(config.dump_yaml(cfg), end="")
    return 0


def _run(args: argparse.Namespace) -> int:
    from wsss import config
    from wsss.cache import StageCache
    from wsss.data.splits import ensure_data
    from wsss.pipeline import run_pipeline
    from wsss.progress import Printer

    cfg = config.resolve(config.parse_overrides(args.overrides), yaml_path=args.config)
    if ensure_data(cfg):
        print(f"generated the synthetic '{cfg.profile}' benchmark in {cfg.data.root}")

    printer = Printer()  # steps or images done, redrawn on a terminal, plain lines elsewhere

    def on_stage(entry) -> None:
        printer.end()
        how = "cached" if entry.hit else f"computed in {entry.seconds:.1f} s"
        shown = {k: round(v, 4) for k, v in entry.metrics.items() if "/iou_" not in k}
        print(f"[{entry.stage}] {how} -> {entry.path}\n    {shown}", flush=True)

    def report(stage: str, metrics) -> None:
        if args.verbose:
            printer.end()
            print(f"  {stage}: {dict((k, round(v, 4)) for k, v in metrics.items())}", flush=True)

    run_pipeline(cfg, StageCache(_cache_root(args)), until=args.until, report=report,
                 on_stage=on_stage, progress=printer.for_stage)
    return 0


def _cache_root(args: argparse.Namespace) -> Path:
    from study.spec import Home

    return Path(args.cache) if args.cache else Home.default().cache


def _viz_overlay(args: argparse.Namespace) -> int:
    from wsss import config
    from wsss.data.splits import open_layout, records
    from wsss.viz import write_overlay

    stage_dir = Path(args.stage_dir)
    if not (stage_dir / "config.yaml").exists():
        print(f"error: {stage_dir}: not a stage output (no config.yaml)", file=sys.stderr)
        return 2
    cfg = config.resolve(yaml_path=stage_dir / "config.yaml")
    layout = open_layout(cfg)
    names = [r.name for r in records(cfg, layout, args.split or cfg.data.score_split)[: args.n]]
    out = write_overlay(stage_dir, layout, names, Path(args.out or stage_dir / "overlay.png"),
                        gt_dir=cfg.scoring.gt_dir, scale=args.scale)
    print(f"wrote {out}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from wsss.cache import StageCache

    cache = StageCache(_cache_root(args))
    if args.cache_command == "verify":
        bad = cache.verify_all(tuple(args.stage or ()))
        for entry, problem in bad:
            print(f"bad: {entry}: {problem}")
        checked = len([e for e in cache.entries() if not args.stage or e["stage"] in args.stage])
        print(f"{checked} entries checked, {len(bad)} bad in {cache.root}")
        return 1 if bad else 0
    if args.cache_command == "gc":
        current = None
        if args.stale:
            from wsss.pipeline import STAGES

            current = {name: stage.version for name, stage in STAGES.items()}
        removed = cache.gc(stages=tuple(args.stage or ()), current=current)
        print(f"removed {len(removed)} folder(s) from {cache.root}")
        return 0
    entries = cache.entries()
    if args.cache_command == "ls":
        for e in entries:
            print(f"{e['stage']:<14}{e['key']}  {e['bytes'] / 1e6:8.1f} MB  {e['seconds']:8.1f} s"
                  f"  {e['created']}")
    totals: dict[str, list[float]] = {}
    for e in entries:
        totals.setdefault(e["stage"], [0, 0])
        totals[e["stage"]][0] += 1
        totals[e["stage"]][1] += e["bytes"]
    if args.cache_command == "du":
        for stage, (n, size) in sorted(totals.items()):
            print(f"{stage:<14}{int(n):>5} entries  {size / 1e6:10.1f} MB")
    print(f"{len(entries)} entries, {sum(t[1] for t in totals.values()) / 1e6:.1f} MB "
          f"in {cache.root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wsss", description=__doc__.split("\n\n")[0])
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error instead of its one line")
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

    prepare = data.add_parser("prepare", help="build a dataset from official downloads")
    prepare.add_argument("dataset", choices=["voc"], help="voc: PASCAL VOC 2012 + SBD")
    prepare.add_argument("out", help="the folder to write (appears complete or not at all)")
    prepare.add_argument("--voc", required=True,
                         help="VOCtrainval_11-May-2012.tar, or the folder it was extracted to")
    prepare.add_argument("--sbd", required=True,
                         help="SBD's benchmark.tgz, or the folder it was extracted to")
    prepare.add_argument("--saliency", help="DRS's saliency maps (a zip of PNGs, or a folder)")
    prepare.add_argument("--workers", type=int, default=None,
                         help="processes decoding masks (default: one per CPU)")
    prepare.add_argument("--no-verify", action="store_true",
                         help="use an official archive whose MD5 differs from the published")
    prepare.set_defaults(func=_data_prepare)

    check = data.add_parser("check", help="validate a VOC-layout dataset; exit 1 on problems")
    check.add_argument("root", help="the VOC2012 folder (JPEGImages, SegmentationClass, ...)")
    check.add_argument("--split", action="append",
                       help="split list to check (repeatable; default: every list found)")
    check.add_argument("--list-dir", help="folder of split lists (default ImageSets/Segmentation)")
    check.add_argument("--cls-labels", help="psa cls_labels.npy (default ROOT/cls_labels.npy)")
    check.add_argument("--workers", type=int, default=2)
    check.add_argument("--config", help="YAML config whose stages decide what must exist")
    check.add_argument("overrides", nargs="*",
                       help="key=value of the pipeline to check for (e.g. method=ssenet)")
    check.set_defaults(func=_data_check)

    cfg = sub.add_parser("config", help="inspect configurations").add_subparsers(
        dest="config_command", required=True)
    show = cfg.add_parser("show", help="print the resolved config (defaults, preset, file, keys)")
    show.add_argument("--config", help="YAML file (nested sections or 'stage/field' keys)")
    show.add_argument("overrides", nargs="*", help="key=value, e.g. data/root=/data/VOC2012")
    show.set_defaults(func=_config_show)

    run = sub.add_parser("run", help="run the pipeline through the stage cache")
    run.add_argument("--config", help="YAML file (nested sections or 'stage/field' keys)")
    run.add_argument("--cache", default=None, help="stage cache root (default: "
                     "$WSSS_HOME/cache, WSSS_HOME defaulting to ./.wsss)")
    run.add_argument("--until", help="stop after this stage (e.g. cams)")
    run.add_argument("-v", "--verbose", action="store_true", help="print per-epoch metrics")
    run.add_argument("overrides", nargs="*", help="key=value, e.g. classifier/drs_delta=0.55")
    run.set_defaults(func=_run)

    viz = sub.add_parser("viz", help="pictures of stage outputs").add_subparsers(
        dest="viz_command", required=True)
    overlay = viz.add_parser("overlay", help="image | ground truth | maps | labels grid")
    overlay.add_argument("stage_dir", help="a stage output folder (holds config.yaml)")
    overlay.add_argument("--n", type=int, default=6, help="images (rows)")
    overlay.add_argument("--split", help="split to draw from (default: data/score_split)")
    overlay.add_argument("--scale", type=int, default=1, help="nearest-neighbour zoom")
    overlay.add_argument("--out", help="PNG path (default: STAGE_DIR/overlay.png)")
    overlay.set_defaults(func=_viz_overlay)

    cache = sub.add_parser("cache", help="inspect and clean the stage cache").add_subparsers(
        dest="cache_command", required=True)
    for name, text in (("ls", "every entry: stage, key, size, compute time"),
                       ("du", "size per stage"),
                       ("verify", "check every file of every entry against its manifest's "
                                  "checksums; exit 1 naming each bad entry"),
                       ("gc", "remove abandoned .partial and bad folders (and --stage "
                              "entries)")):
        cmd = cache.add_parser(name, help=text)
        cmd.add_argument("--cache", default=None, help="stage cache root (default: "
                         "$WSSS_HOME/cache)")
        if name == "gc":
            cmd.add_argument("--stage", action="append", help="also delete this stage's entries")
            cmd.add_argument("--stale", action="store_true", help="also delete the entries no "
                             "run reads again: made by an older stage version, or of a stage "
                             "since renamed (docs/usage.md, \"Names\")")
        if name == "verify":
            cmd.add_argument("--stage", action="append", help="only this stage's entries")
        cmd.set_defaults(func=_cache)

    from study.commands import add_parser as add_study
    from study.export import add_parser as add_export
    from study.reproduce import add_parser as add_reproduce
    from study.ui import add_parser as add_ui

    add_study(sub)
    add_reproduce(sub)
    add_export(sub)
    add_ui(sub)
    return parser


# Problems of the user's data, config, cache or files: one line on stderr, exit 2 (a
# traceback only with --debug). Anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, KeyError, OSError, UnicodeError)


def error_line(err: BaseException) -> str:
    """The one line that names the file, entry or key. An error raised in a DataLoader worker
    arrives re-raised with the worker's whole traceback: keep only its original message."""
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    if "Original Traceback" in text:
        last = [ln for ln in text.strip().splitlines() if ln.strip()][-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(text.split()) or type(err).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may follow options (argparse stops positionals at the first option)
    stray = [a for a in extra if a.startswith("-") or "=" not in a]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    if "=" in (getattr(args, "space", None) or ""):  # `study run key=value ...`: no SPACE
        args.overrides = [args.space, *args.overrides]
        args.space = "drs"
    try:
        return args.func(args)
    except USER_ERRORS as err:
        if args.debug:
            raise
        print(f"error: {error_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
