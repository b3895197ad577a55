"""`wsss study run|resume|ls|show`: what a person types to launch and follow studies."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

from study import runner  # runner.launch looked up at call time (tests stand in for it)
from study.spec import Home, StudySpec
from wsss.methods import METHODS, PLUGINS


def _init_ray(home: Home) -> None:
    """Ray for the study: inside a Ray Job (`ray job submit`), the cluster and the job's own
    runtime environment (its working directory and ``env_vars``: every trial and stage task
    inherits them, and a second runtime environment from this driver would conflict with
    it); elsewhere with ``RAY_ADDRESS``, that cluster; else a local Ray of our own. Trials
    need none of this process's variables: what they write is named in their context."""
    import ray

    if ray.is_initialized():
        return
    if os.environ.get(JOB_CONFIG):  # a Ray Job's driver
        ray.init(address="auto", log_to_driver=True)
        return
    env = {"RAY_CHDIR_TO_TRIAL_DIR": "0"}
    # the trials get the user's OMP_WAIT_POLICY (docs/performance.md) and the methods kept
    # outside this repository (wsss.methods.PLUGINS)
    env.update({k: os.environ[k] for k in ("OMP_WAIT_POLICY", PLUGINS) if os.environ.get(k)})
    if os.environ.get("RAY_ADDRESS"):  # a cluster this machine belongs to
        ray.init(address="auto", runtime_env={"env_vars": env})
    else:
        # "local": always a Ray of our own, never a stray one left on the machine
        ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False,
                 log_to_driver=True, runtime_env={"env_vars": env})


JOB_CONFIG = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray for a submitted job's entrypoint


def _ensure_data(overrides: dict[str, Any]) -> None:
    """Generate a synthetic benchmark on first use; check the data before any trial starts."""
    from wsss import config
    from wsss.cache import StageCache
    from wsss.data.splits import ensure_data, open_layout
    from wsss.pipeline import check_data, check_weights

    cfg = config.resolve(overrides)
    if ensure_data(cfg):
        print(f"generated the synthetic '{cfg.profile}' benchmark in {cfg.data.root}")
    check_data(cfg, StageCache(Home.default().cache))
    check_weights(cfg, open_layout(cfg).num_classes)  # a wrong file fails now, not in a trial


def trial_overrides(method: str, profile: str, preset: str,
                    user: dict[str, Any]) -> dict[str, Any]:
    """Every trial's flat config keys: the method, profile and preset, the user's keys, and
    the data root made absolute (trials run in other working directories)."""
    from wsss import config

    overrides = {"method": method, "profile": profile, "preset": preset, **user}
    root = overrides.get("data/root") or config.resolve(overrides).data.root
    overrides["data/root"] = os.path.abspath(os.path.expanduser(root))
    return overrides


def spec_from_args(args: argparse.Namespace) -> StudySpec:
    """The study `wsss study run` (and `study plan`) makes of its arguments, checked."""
    from search_spaces import method_of
    from wsss import config

    # a space or grid runs its method's pipeline and objective unless told otherwise
    method = method_of(args.grid or args.space)
    overrides = trial_overrides(method.name, args.profile, args.preset,
                                config.parse_overrides(args.overrides))
    objective = args.objective or method.objective
    until = args.until or (method.grid_until if args.grid else "")
    _check_until(config.resolve(overrides), objective, until)  # fail now, not in a trial
    name = args.name or f"{args.grid or args.space}-{time.strftime('%Y%m%d-%H%M%S')}"
    return StudySpec(name=name, space=args.space, grid=args.grid or "", samples=args.samples,
                     objective=objective, until=until, overrides=overrides,
                     asha=args.asha, rungs=_split(args.rungs), sampler=args.sampler,
                     budget=args.budget, seed=args.seed,
                     created=time.strftime("%Y-%m-%dT%H:%M:%S"), **resource_fields(args))


def study_run(args: argparse.Namespace) -> int:
    home = Home.default()
    spec = spec_from_args(args)
    if home.spec_path(spec.name).exists():
        print(f"error: study {spec.name!r} exists; `wsss study resume {spec.name}`",
              file=sys.stderr)
        return 2
    _ensure_data(spec.overrides)
    _init_ray(home)
    spec, res = sized(spec)
    home.save(spec)
    return _finish(runner.launch(spec, home, res=res), spec, home)


def sized(spec: StudySpec) -> tuple[StudySpec, Any]:
    """The spec with its GPU choice settled on the connected Ray cluster (saved so a resume
    keeps it), and how it runs there; prints the study's first line saying so. A resource
    flag that cannot apply is an error naming it."""
    from study.resources import cluster_capacity, describe
    from study.spec import AUTO

    cap = cluster_capacity()
    res = spec.resources(cap)
    print(f"study {spec.name}: {describe(res, cap, auto=spec.gpus_per_stage == AUTO)}",
          flush=True)
    return dataclasses.replace(spec, gpus_per_stage=res.gpus_per_stage), res


def add_resource_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that size a study to its cluster (`study run`, `reproduce`, `study plan`)."""
    parser.add_argument("--concurrency", type=int, default=0,
                        help="trials at once (default: with GPUs, as many as the GPUs allow; "
                        "without, a grid runs one single-CPU trial per CPU and a search one "
                        "trial with every CPU)")
    parser.add_argument("--gpus-per-stage", type=float, default=AUTO_FLAG,
                        help="GPUs of each network stage (default: 1 where the Ray cluster has "
                        "or can start GPUs; 0: the CPU only)")
    parser.add_argument("--cpus-per-stage", type=float, default=0,
                        help="with GPUs: CPUs of each stage task (default: its GPU node's CPUs "
                        "per GPU, one kept for the trials)")
    parser.add_argument("--cpus-per-trial", type=float, default=0,
                        help="without GPUs: CPUs of each trial (default: the Ray cluster's "
                        "CPUs shared by the trials at once)")


AUTO_FLAG = -1.0  # study.spec.AUTO: argparse shows it as the default


def resource_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {"concurrency": args.concurrency, "gpus_per_stage": args.gpus_per_stage,
            "cpus_per_stage": args.cpus_per_stage, "cpus_per_trial": args.cpus_per_trial}


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
                          f"{objective.replace(f'/{REPORT}/', '/')} (data/select_split) instead, "
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
    spec, res = sized(spec)
    return _finish(runner.launch(spec, home, resume=True, res=res), spec, home)


def _finish(summary: dict[str, Any], spec: StudySpec, home: Home) -> int:
    print(f"\nstudy {spec.name}: {summary['status']} ({summary['trials']}/{spec.num_samples} "
          f"trials, {summary['errors']} errors) in {summary['seconds']:.0f} s; "
          f"{summary['spent']:.0f} stage-seconds computed (cache hits count 0)")
    if summary["resources"].uses_gpus:
        busy = summary["gpu_busy"]
        print(f"GPU time: {summary['gpu_hours']:.3f} GPU-hours held by network stages; busy "
              + ("share not measured (no CUDA or no NVML)" if busy is None else
                 f"{100 * busy:.0f} % of it"))
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
    from analysis.runs import StudyNotFound, load_trials, mixed_commits
    from analysis.tables import builders

    home = Home.default()
    names = list(builders()) if args.table == "all" else [args.table]
    if any(n not in builders() for n in names):
        print(f"error: unknown table {args.table!r}; known: all, {', '.join(builders())}",
              file=sys.stderr)
        return 2
    try:
        tables = report.build(args.study, names, args.metric, tracking_uri=home.tracking_uri)
        mixed = mixed_commits(load_trials(args.study))
    except StudyNotFound as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if mixed:
        print(mixed, file=sys.stderr)
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
    runs = mlflow.search_runs(experiment_names=[spec.name])
    trials = runs[runs["tags.kind"] == "trial"] if len(runs) else runs
    print(f"study {spec.name}: {spec.status}, {len(trials)} trial runs in MLflow "
          f"({home.tracking_uri})")
    study = runs[runs["tags.kind"] == "study"] if len(runs) else runs
    if len(study):  # what produced it: code and library versions (study.provenance)
        tags = {c.removeprefix("tags."): v for c, v in study.iloc[0].items()
                if c.startswith("tags.wsss.") and isinstance(v, str)}
        print("  produced by: " + ", ".join(f"{k.removeprefix('wsss.')} {v}"
                                            for k, v in sorted(tags.items())))
    metric = f"metrics.{spec.objective}"
    cols = [c for c in trials.columns if c.startswith("params.choice/")
            or c in ("params.classifier/drs", "params.classifier/drs_delta")]
    for _, row in trials.iterrows():
        shown = ", ".join(f"{c.removeprefix('params.')}={row[c]}" for c in cols)
        code = row.get("tags.wsss.git_commit")
        print(f"  {row['tags.mlflow.runName']}: {shown}  {spec.objective}="
              f"{row.get(metric, float('nan'))}"
              + (f"  (commit {code[:12]})" if isinstance(code, str) else ""))
    return 0


def _study_arguments(run: argparse.ArgumentParser) -> None:
    """What `study run` and `study plan` take (method facts from ``wsss.methods``)."""
    grids = ", ".join(g for m in METHODS.values() for g in m.grids)
    objectives = " or ".join(f"{m.objective} ({m.title})" for m in METHODS.values())
    run.add_argument("space", nargs="?", default="drs", help="search space (search_spaces)")
    run.add_argument("--grid", help=f"a paper table's grid instead: {grids}")
    run.add_argument("--samples", type=int, default=8, help="trials (a grid runs every point)")
    run.add_argument("--objective", help=f"default: {objectives}; also cams/miou, "
                     "evaluate/miou, evaluate/miou_crf")
    run.add_argument("--until", help="the last stage every trial runs (default: a grid runs "
                     "to the stage of the paper's numbers, evaluate for DRS; otherwise the "
                     "objective's)")
    run.add_argument("--profile", default="quick", help="dataset scale: quick, tiny, full, voc")
    run.add_argument("--preset", default="reference", help="reference (authors' code) or paper")
    run.add_argument("--name", help="study name (default: space or grid + time)")
    run.add_argument("--asha", action="store_true",
                     help="stop weak trials at the rung stages (successive halving)")
    run.add_argument("--rungs", help="comma-separated rung stages for --asha (default: the "
                     "method's, the stages whose metric predicts the final mIoU)")
    run.add_argument("--sampler", default="", choices=["", "grid", "tpe", "random"],
                     help="default: grid with --grid, tpe with a space; tpe or random on a "
                     "grid samples its points (--samples of them)")
    run.add_argument("--budget", type=float, default=0.0,
                     help="stage-seconds after which no new trial starts (cache hits are free)")
    add_resource_flags(run)
    run.add_argument("--seed", type=int, default=0, help="the search's seed")
    run.add_argument("overrides", nargs="*", help="key=value for every trial")


def study_plan(args: argparse.Namespace) -> int:
    """Predict, run nothing: the study on ``--gpus`` GPUs of ``--gpu-type`` (study.costs)."""
    from study.costs import CPU, plan_study, render
    from study.spec import Capacity

    spec = spec_from_args(args)
    if args.gpus > 0:
        if not args.gpu_type:
            raise ValueError("--gpus needs --gpu-type (a device of study/throughput.json)")
        node_cpus = args.cpus or 4.0 * args.gpus_per_node  # a g5.xlarge's 4 CPUs per GPU
        nodes = args.gpus / args.gpus_per_node
        cap = Capacity(cpus=node_cpus * nodes, gpus=args.gpus, node_cpus=node_cpus,
                       node_gpus=args.gpus_per_node)
    else:
        if args.gpu_type:
            raise ValueError("--gpu-type needs --gpus")
        cap = Capacity(cpus=args.cpus or float(os.cpu_count() or 1))
    device = args.gpu_type or CPU
    print(render(plan_study(spec, cap, device), spec, device, args.gpus))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    study = sub.add_parser("study", help="hyper-parameter studies (Ray Tune + Optuna + MLflow)")
    cmds = study.add_subparsers(dest="study_command", required=True)
    run = cmds.add_parser("run", help="launch a study")
    _study_arguments(run)
    run.set_defaults(func=study_run)
    plan = cmds.add_parser("plan", help="a study's predicted wall time and GPU-hours, "
                           "before it runs (nothing runs)")
    _study_arguments(plan)
    plan.add_argument("--gpus", type=float, default=0,
                      help="GPUs of the cluster it would run on (0: CPUs only)")
    plan.add_argument("--gpu-type", default="", help="their type, a device of "
                      "study/throughput.json (A10G, A100, V100, H100, ...)")
    plan.add_argument("--cpus", type=float, default=0,
                      help="CPUs (default: this machine's; with GPUs: per GPU node, with "
                      "--gpus-per-node)")
    plan.add_argument("--gpus-per-node", type=float, default=1,
                      help="GPUs per node (with --gpus; default 1, as a g5.xlarge)")
    plan.set_defaults(func=study_plan)
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
