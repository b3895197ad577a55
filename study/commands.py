"""`wsss study run|resume|ls|show`: what a person types to launch and follow studies."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from study.runner import launch
from study.spec import Home, StudySpec


def _init_ray(home: Home) -> None:
    import ray

    if ray.is_initialized():
        return
    env = {"MLFLOW_TRACKING_URI": home.tracking_uri, "WSSS_HOME": str(home.root),
           "RAY_CHDIR_TO_TRIAL_DIR": "0"}
    if os.environ.get("OMP_WAIT_POLICY"):  # docs/performance.md: the trials get the user's
        env["OMP_WAIT_POLICY"] = os.environ["OMP_WAIT_POLICY"]
    if os.environ.get("RAY_ADDRESS"):  # a cluster: `ray job submit` sets it
        ray.init(address="auto", runtime_env={"env_vars": env})
    else:
        # "local": always a Ray of our own, never a stray one left on the machine
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 log_to_driver=True, runtime_env={"env_vars": env})


def _ensure_data(overrides: dict[str, Any]) -> None:
    """Generate a synthetic benchmark on first use; check the data before any trial starts."""
    from wsss import config
    from wsss.cache import StageCache
    from wsss.data.splits import ensure_data
    from wsss.pipeline import check_data

    cfg = config.resolve(overrides)
    if ensure_data(cfg):
        print(f"generated the synthetic '{cfg.profile}' benchmark in {cfg.data.root}")
    check_data(cfg, StageCache(Home.default().cache))


def trial_overrides(method: str, profile: str, preset: str,
                    user: dict[str, Any]) -> dict[str, Any]:
    """Every trial's flat config keys: the method, profile and preset, the user's keys, and
    the data root made absolute (trials run in other working directories)."""
    from wsss import config

    overrides = {"method": method, "profile": profile, "preset": preset, **user}
    root = overrides.get("data/root") or config.resolve(overrides).data.root
    overrides["data/root"] = os.path.abspath(os.path.expanduser(root))
    return overrides


def study_run(args: argparse.Namespace) -> int:
    from search_spaces import method_of
    from wsss import config

    home = Home.default()
    # a space or grid runs its method's pipeline and objective unless told otherwise
    method = method_of(args.grid or args.space)
    overrides = trial_overrides(method.name, args.profile, args.preset,
                                config.parse_overrides(args.overrides))
    args.objective = args.objective or method.objective
    until = args.until or (method.grid_until if args.grid else "")
    _check_until(config.resolve(overrides), args.objective, until)  # fail now, not in a trial
    name = args.name or f"{args.grid or args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
    if home.spec_path(name).exists():
        print(f"error: study {name!r} exists; `wsss study resume {name}`", file=sys.stderr)
        return 2
    spec = StudySpec(name=name, space=args.space, grid=args.grid or "", samples=args.samples,
                     objective=args.objective, until=until, overrides=overrides,
                     concurrency=args.concurrency, asha=args.asha,
                     rungs=_split(args.rungs), sampler=args.sampler, budget=args.budget,
                     cpus_per_trial=args.cpus_per_trial, gpus_per_stage=args.gpus_per_stage,
                     seed=args.seed, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    _ensure_data(overrides)
    home.save(spec)
    _init_ray(home)
    return _finish(launch(spec, home), spec, home)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _check_until(cfg: Any, objective: str, until: str) -> None:
    """``until`` must be a stage of the trials' pipeline, at or after the objective's; the
    objective may not read the held-out reporting split unless the run is marked oracle."""
    from wsss.config import ConfigError
    from wsss.pipeline import plan, stage_of_metric
    from wsss.stages.evaluate import REPORT

    if f"/{REPORT}/" in objective and not cfg.oracle:
        raise ConfigError(f"the objective {objective} is scored on the held-out reporting split "
                          f"data/report_split={cfg.data.report_split!r}: select on "
                          f"{objective.replace(f'/{REPORT}/', '/')} (data/val_split) instead, "
                          "or set oracle=true to record the run as peeking")
    names = [n for n, _ in plan(cfg)]
    needed = stage_of_metric(objective).name
    if until and until not in names:
        raise ConfigError(f"--until {until!r} is not a stage of this pipeline: "
                         f"{', '.join(names)}")
    if until and needed in names and names.index(until) < names.index(needed):
        raise ConfigError(f"the objective {objective} is measured by stage {needed!r}, "
                         f"after --until {until!r}")


def study_resume(args: argparse.Namespace) -> int:
    home = Home.default()
    spec = home.load(args.name)
    _ensure_data(spec.overrides)
    _init_ray(home)
    return _finish(launch(spec, home, resume=True), spec, home)


def _finish(summary: dict[str, Any], spec: StudySpec, home: Home) -> int:
    print(f"\nstudy {spec.name}: {summary['status']} ({summary['trials']}/{spec.num_samples} "
          f"trials, {summary['errors']} errors) in {summary['seconds']:.0f} s; "
          f"{summary['spent']:.0f} stage-seconds computed (cache hits count 0)")
    if summary["status"] == "budget":
        print(f"stopped launching trials: the budget of {spec.budget:.0f} stage-seconds was "
              "reached (running trials finished)")
    print(trial_table(summary["results"].get_dataframe(), spec))
    _print_tables(spec.name, home)
    print("\nbrowse: wsss ui  (MLflow UI and optuna-dashboard on 127.0.0.1)")
    return 0 if summary["status"] in ("complete", "budget") else 1


def _print_tables(name: str, home: Home) -> None:
    """The paper tables this study fills, printed and written under WSSS_HOME/tables/."""
    from analysis import render, report
    from analysis.runs import StudyNotFound

    try:
        tables = [t for t in report.build(name, tracking_uri=home.tracking_uri) if t.filled]
    except StudyNotFound as err:
        print(f"(no tables: {err})")
        return
    out = report.write(name, tables, home.root / "tables" / name)
    for t in tables:
        print("\n" + render.markdown(t))
    print(f"\ntables, figures and report: {out.parent} (also on the study's MLflow run)")


def tables_command(args: argparse.Namespace) -> int:
    from analysis import render, report
    from analysis.runs import StudyNotFound
    from analysis.tables import builders

    home = Home.default()
    names = list(builders()) if args.table == "all" else [args.table]
    if any(n not in builders() for n in names):
        print(f"error: unknown table {args.table!r}; known: all, {', '.join(builders())}",
              file=sys.stderr)
        return 2
    try:
        tables = report.build(args.study, names, args.metric, tracking_uri=home.tracking_uri)
    except StudyNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for t in tables:
        print(render.FORMATS[args.format](t) + "\n")
    if args.out:
        out = report.write(args.study, tables, Path(args.out))
        print(f"wrote {out.parent}")
    return 0


def trial_table(df, spec: StudySpec) -> str:
    """Plain Markdown: one row per trial, its choices, the objective (best first) and the
    stage it ended at; a trial stopped at a rung has no objective (its rung score is shown
    apart, never ranked with final values)."""
    if df is None or not len(df):
        return "(no trials)"
    choices = [c for c in df.columns if c.startswith("config/")]
    objective = df[spec.objective] if spec.objective in df else float("nan")
    df = df.assign(_objective=objective).sort_values(["_objective", "score"],
                                                      ascending=False, na_position="last")
    head = [c.removeprefix("config/") for c in choices] + [spec.objective, "last stage",
                                                            "its score"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for _, row in df.iterrows():
        value = row["_objective"]
        cells = [_cell(row[c]) for c in choices] + [
            "–" if value != value else f"{value:.4f}",
            str(row.get("stage_name", row.get("stage"))), f"{row['score']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "–" if value != value else f"{value:.6g}"  # 0.35, not 0.35000000000000003
    return str(value)


def study_ls(args: argparse.Namespace) -> int:
    home = Home.default()
    specs = sorted((home.root / "studies").glob("*.json"))
    if not specs:
        print(f"no studies under {home.root}")
        return 0
    print(f"{'name':<36}{'status':<12}{'trials':>7}  space / grid, objective")
    for path in specs:
        s = home.load(path.stem)
        what = s.grid or (f"points of {s.space}" if s.points else s.space)
        print(f"{s.name:<36}{s.status:<12}{s.num_samples:>7}  {what}, {s.objective}")
    return 0


def study_show(args: argparse.Namespace) -> int:
    import mlflow

    home = Home.default()
    spec = home.load(args.name)
    mlflow.set_tracking_uri(home.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[spec.name], filter_string="tags.kind = 'trial'")
    print(f"study {spec.name}: {spec.status}, {len(runs)} trial runs in MLflow "
          f"({home.tracking_uri})")
    metric = f"metrics.{spec.objective}"
    cols = [c for c in runs.columns if c.startswith("params.choice/")
            or c in ("params.classifier/drs", "params.classifier/drs_delta")]
    for _, row in runs.iterrows():
        shown = ", ".join(f"{c.removeprefix('params.')}={row[c]}" for c in cols)
        print(f"  {row['tags.mlflow.runName']}: {shown}  {spec.objective}="
              f"{row.get(metric, float('nan'))}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help="hyper-parameter studies (Ray Tune + Optuna + MLflow)")
    cmds = study.add_subparsers(dest="study_command", required=True)
    run = cmds.add_parser("run", help="launch a study")
    run.add_argument("space", nargs="?", default="drs", help="search space (search_spaces)")
    run.add_argument("--grid", help="a paper table's grid instead (drs1, drs2, drs3, sse1, sse2, "
                     "sse2-synthetic)")
    run.add_argument("--samples", type=int, default=8, help="trials (a grid runs every point)")
    run.add_argument("--objective", help="default: pseudo/miou (DRS) or rw/miou (SSENet); "
                     "also cam/miou, seg/miou, seg/miou_crf")
    run.add_argument("--until", help="the last stage every trial runs (default: a grid runs "
                     "to the stage of the paper's numbers, evaluate for DRS; otherwise the "
                     "objective's)")
    run.add_argument("--profile", default="quick", help="dataset scale: quick, tiny, full, voc")
    run.add_argument("--preset", default="reference", help="reference (authors' code) or paper")
    run.add_argument("--name", help="study name (default: space or grid + time)")
    run.add_argument("--concurrency", type=int, default=0,
                     help="trials at once (default: a grid on a machine without GPUs runs one "
                     "single-CPU trial per CPU, anything else one trial with every CPU)")
    run.add_argument("--asha", action="store_true",
                     help="stop weak trials at the rung stages (successive halving)")
    run.add_argument("--rungs", help="comma-separated rung stages for --asha (default: the "
                     "method's, the stages whose metric predicts the final mIoU)")
    run.add_argument("--sampler", default="", choices=["", "grid", "tpe", "random"],
                     help="default: grid with --grid, tpe with a space; tpe or random on a "
                     "grid samples its points (--samples of them)")
    run.add_argument("--budget", type=float, default=0.0,
                     help="stage-seconds after which no new trial starts (cache hits are free)")
    run.add_argument("--cpus-per-trial", type=float, default=0,
                     help="default: the Ray cluster's CPUs shared by the trials at once")
    run.add_argument("--gpus-per-stage", type=float, default=0.0,
                     help="> 0: training stages run as Ray tasks with this GPU share")
    run.add_argument("--seed", type=int, default=0, help="the search's seed")
    run.add_argument("overrides", nargs="*", help="key=value for every trial")
    run.set_defaults(func=study_run)
    resume = cmds.add_parser("resume", help="finish an interrupted study")
    resume.add_argument("name")
    resume.set_defaults(func=study_resume)
    ls = cmds.add_parser("ls", help="list studies")
    ls.set_defaults(func=study_ls)
    show = cmds.add_parser("show", help="a study's trials as MLflow holds them")
    show.add_argument("name")
    show.set_defaults(func=study_show)

    tables = sub.add_parser("tables", help="rebuild the papers' tables from a study's MLflow runs")
    tables.add_argument("study")
    tables.add_argument("--table", default="all",
                        help="a table key (drs1, drs2, drs3, thresholds, sse1, sse2, rw) or all")
    tables.add_argument("--format", default="md", choices=["md", "tex", "csv"])
    tables.add_argument("--metric", help="what fills our cells (default: the study's objective)")
    tables.add_argument("--out", help="also write md/tex/csv/png + report.md here")
    tables.set_defaults(func=tables_command)
